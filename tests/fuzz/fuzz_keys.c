/* libFuzzer target: keys files (net_keys_parse, the text that
 * net_keys_load reads) and single Z85 keys (net_key_decode).
 *
 * Every input is parsed as a keys file and decoded as one key. What the
 * parser accepts must hold what keys.h says: peer keys that decode, listed
 * once, names without whitespace; a keypair whose public half derives from
 * the secret. A key that decodes must encode back to the same 40 characters
 * (Z85 has one spelling per value, so a second one means the checks let
 * something through that zmq_z85_decode reads differently). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fuzz_text.h"
#include "net/keys.h"

static void check_keys(const net_keys *k) {
    for (int i = 0; i < k->n_peers; i++) {
        const net_peer_key *p = &k->peers[i];
        if (net_key_decode(p->key, NULL) != DT_OK || net_keys_find_peer(k, p->key) != i) abort();
        if (strlen(p->name) > NET_NAME_MAX) abort();
        for (const char *c = p->name; *c; c++)
            if ((unsigned char)*c <= ' ') abort();
    }
    if (k->has_keypair) {
        char derived[NET_KEY_Z85 + 1];
        if (zmq_curve_public(derived, k->secret_key) != 0 || strcmp(derived, k->public_key) != 0)
            abort();
    }
}

static void check_decode(const char *text) {
    uint8_t key[NET_KEY_BYTES];
    if (net_key_decode(text, key) != DT_OK) return;
    char again[NET_KEY_Z85 + 1];
    if (!zmq_z85_encode(again, key, sizeof key) || strcmp(again, text) != 0) {
        fprintf(stderr, "key '%s' decodes but encodes back as '%s'\n", text, again);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    net_keys k;
    if (net_keys_parse(text, "fuzz", &k) == DT_OK)
        check_keys(&k);
    else if (k.peers || k.n_peers || k.has_keypair)
        abort(); /* keys.h: on failure *out is empty */
    net_keys_free(&k);
    check_decode(text);
    free(text);
    return 0;
}
