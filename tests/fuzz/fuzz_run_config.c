/* libFuzzer target: the run config a peer parses from WELCOME
 * (net_run_config_parse), and what the peer derives from an accepted one.
 *
 * An accepted config must survive net_run_config_to_json and parse back to
 * the same config and the same JSON: run_config.h promises it, a peer gets
 * its config as that text, and compares configs by it to decide whether it
 * may keep its model. The helpers every
 * replica calls on it run too, so UBSan sees their arithmetic on every
 * value the parser lets through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_text.h"
#include "net/run_config.h"

static int same_model(const model_config *a, const model_config *b) {
    return a->vocab_size == b->vocab_size && a->dim == b->dim && a->n_layers == b->n_layers &&
           a->n_heads == b->n_heads && a->ffn_dim == b->ffn_dim && a->seq_len == b->seq_len &&
           a->rope_theta == b->rope_theta && a->tie_embeddings == b->tie_embeddings &&
           a->init_std == b->init_std && a->seed == b->seed;
}

/* Field by field: equal text alone would miss a value that printing moves
 * once and then keeps (a rounded number prints the same again). */
static int same_config(const net_run_config *a, const net_run_config *b) {
    const model_demo_config *x = &a->demo, *y = &b->demo;
    return same_model(&a->model, &b->model) && strcmp(a->model_name, b->model_name) == 0 &&
           strcmp(a->data, b->data) == 0 && a->steps == b->steps &&
           a->micro_batch == b->micro_batch && a->tokens_per_round == b->tokens_per_round &&
           a->even_split == b->even_split && a->seed == b->seed &&
           a->schedule.lr == b->schedule.lr && a->schedule.warmup == b->schedule.warmup &&
           a->schedule.total == b->schedule.total &&
           a->schedule.final_frac == b->schedule.final_frac && x->beta == y->beta &&
           x->chunk == y->chunk && x->topk == y->topk && x->values == y->values &&
           x->weight_decay == y->weight_decay && x->clip == y->clip && x->update == y->update &&
           x->mean_over_all == y->mean_over_all && a->optimizer == b->optimizer &&
           a->inner_steps == b->inner_steps && a->outer_lr == b->outer_lr &&
           a->round_deadline_s == b->round_deadline_s && a->join_timeout_s == b->join_timeout_s &&
           a->min_peers == b->min_peers && a->max_misses == b->max_misses &&
           a->hash_check_every == b->hash_check_every &&
           a->checkpoint_every == b->checkpoint_every && a->eval_batches == b->eval_batches &&
           a->eval_every == b->eval_every;
}

static void check_round_trip(const net_run_config *c) {
    char *a = net_run_config_to_json(c, 0);
    if (!a) abort(); /* only out of memory could explain it */
    net_run_config back;
    if (net_run_config_parse(a, &back) != DT_OK) {
        fprintf(stderr, "printed config does not parse: %s\n%s\n", dt_last_error(), a);
        abort();
    }
    char *b = net_run_config_to_json(&back, 0);
    if (!b || strcmp(a, b) != 0 || !same_config(c, &back)) {
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
