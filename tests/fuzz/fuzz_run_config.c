/* libFuzzer target: the run config a peer parses from WELCOME
 * (net_run_config_parse), and what the peer derives from an accepted one.
 *
 * An accepted config must survive net_run_config_to_json and parse back to
 * the same JSON (run_config.h promises that, and a peer compares configs by
 * that text to decide whether it may keep its model). The helpers every
 * replica calls on it run too, so UBSan sees their arithmetic on every
 * value the parser lets through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "net/run_config.h"

static void check_round_trip(const net_run_config *c) {
    char *a = net_run_config_to_json(c, 0);
    if (!a) abort(); /* only out of memory could explain it */
    net_run_config back;
    if (net_run_config_parse(a, &back) != DT_OK) {
        fprintf(stderr, "printed config does not parse: %s\n%s\n", dt_last_error(), a);
        abort();
    }
    char *b = net_run_config_to_json(&back, 0);
    if (!b || strcmp(a, b) != 0) {
        fprintf(stderr, "config changes on a round trip:\n%s\n%s\n", a, b ? b : "(null)");
        abort();
    }
    free(a);
    free(b);
}

static void derive(const net_run_config *c) {
    if (net_run_micro_batches(c) < 1) abort();
    model_sync_config sync;
    net_run_sync_config(c, &sync);
    int64_t rounds = c->steps; /* rounds 0 .. steps - 1 exist */
    int64_t probe[] = {0, rounds > 1 ? 1 : 0, rounds / 2, rounds - 1};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        if (net_run_round_steps(c, probe[i]) < 1) {
            fprintf(stderr, "round %lld of %lld has no optimizer step\n", (long long)probe[i],
                    (long long)rounds);
            abort();
        }
        float lr, decay;
        net_run_round_lr(c, probe[i], &lr, &decay);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    net_run_config c;
    if (net_run_config_parse(text, &c) == DT_OK) {
        check_round_trip(&c);
        derive(&c);
    }
    free(text);
    return 0;
}
