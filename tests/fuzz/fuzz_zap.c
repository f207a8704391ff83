/* libFuzzer target: the ZAP handler's decision over a CURVE handshake's
 * request (net_zap_decide), the first thing a coordinator does with bytes
 * a stranger chose. The input is a request (see fuzz_zap_request.h); the
 * allow-list holds two fixed keys.
 *
 * The decision is checked against the rules of zap.c restated here on the
 * raw bytes: admit exactly a well-formed CURVE request whose 32-byte key is
 * listed, with that key in Z85 as the user id; record every refusal of a
 * well-formed request, naming the key only when one was offered; keep the
 * recorded address printable and NUL-terminated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fuzz_zap_request.h"
#include "net/zap.h"

static net_keys allowed;
static uint8_t allowed_raw[FUZZ_ZAP_N_ALLOWED][32];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    memset(&allowed, 0, sizeof allowed);
    for (int i = 0; i < FUZZ_ZAP_N_ALLOWED; i++) {
        char z85[NET_KEY_Z85 + 1];
        fuzz_zap_allowed_key(i, allowed_raw[i]);
        if (!zmq_z85_encode(z85, allowed_raw[i], 32) ||
            net_keys_add_peer(&allowed, z85, i ? "peer-b" : "peer-a") != DT_OK)
            abort();
    }
    return 0;
}

static int part_is(const uint8_t *p, size_t len, const char *s) {
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

static void fail(const char *why, const net_zap_decision *d) {
    fprintf(stderr, "ZAP decision wrong: %s (status %s, text %s, user id '%s', key '%s')\n", why,
            d->status ? d->status : "(null)", d->text ? d->text : "(null)", d->user_id, d->key);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *parts[FUZZ_ZAP_MAX_PARTS];
    size_t lens[FUZZ_ZAP_MAX_PARTS];
    int n = fuzz_zap_split(data, size, parts, lens);
    net_zap_decision d;
    net_zap_decide(&allowed, parts, lens, n, &d);

    int well_formed = n >= 7 && part_is(parts[0], lens[0], "1.0");
    int curve_key = well_formed && part_is(parts[5], lens[5], "CURVE") && lens[6] == 32;
    int listed = 0;
    for (int i = 0; curve_key && i < FUZZ_ZAP_N_ALLOWED; i++)
        listed |= memcmp(parts[6], allowed_raw[i], 32) == 0;
    char z85[NET_KEY_Z85 + 1] = "";
    if (curve_key && !zmq_z85_encode(z85, parts[6], 32)) abort();

    if (!d.status || !d.text) fail("no status or text", &d);
    if (listed) {
        if (strcmp(d.status, "200") != 0 || d.refused) fail("a listed key is refused", &d);
        if (strcmp(d.user_id, z85) != 0) fail("user id is not the key in Z85", &d);
    } else {
        if (strcmp(d.status, "400") != 0) fail("an unlisted request is admitted", &d);
        if (d.user_id[0]) fail("a refusal carries a user id", &d);
        if (d.refused != well_formed) fail("refusal recorded for the wrong requests", &d);
        if (strcmp(d.key, curve_key ? z85 : "") != 0) fail("wrong refused key", &d);
    }
    size_t alen = strnlen(d.address, sizeof d.address);
    if (alen == sizeof d.address) fail("address not terminated", &d);
    if (well_formed && alen != (lens[3] < sizeof d.address ? lens[3] : sizeof d.address - 1))
        fail("address length", &d);
    for (size_t i = 0; i < alen; i++)
        if (d.address[i] < ' ' || d.address[i] > '~') fail("unprintable address", &d);
    return 0;
}
