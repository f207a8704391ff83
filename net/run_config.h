/* The run config of a networked run: what the coordinator reads from
 * run.json and sends to every peer in WELCOME, so all replicas derive the
 * same model, tile plan, payload geometry, schedule and batches.
 *
 *   {
 *     "model": "shakespeare" | { model config fields },
 *     "data": "builtin:tinyshakespeare",
 *     "steps": 500,               rounds (with local steps, each is inner_steps
 *                                 optimizer steps)
 *     "micro_batch": 12,          sequences per micro-batch
 *     "tokens_per_round": 3072,   per optimizer step, split over the peers by
 *                                 throughput
 *     "split": "throughput",      or "even": the same share for every peer
 *     "seed": 1,                  batches: (seed, step, peer id, micro)
 *     "optimizer": { "name": "demo" | "local", "lr", "warmup", "final_lr_frac",
 *                    "weight_decay", "clip", "beta", "chunk", "topk", "values",
 *                    local only: "inner_steps", "outer_lr", "outer": "scaled" | "sign" },
 *     "round_deadline_s": 60, "min_peers": 1, "max_misses": 3,
 *     "join_timeout_s": 30,       a joiner without progress this long loses its slot
 *     "hash_check_every": 1, "checkpoint_every": 100, "eval_batches": 20,
 *     "eval_every": 0             the coordinator's val loss every N steps (0: at the end only)
 *   }
 * Every field is optional except "model" (warmup defaults to min(50, steps/10));
 * unknown fields are errors; each error names its field. */
#ifndef DISTRO_NET_RUN_CONFIG_H
#define DISTRO_NET_RUN_CONFIG_H

#include "model/trainer.h"

typedef struct net_run_config {
    model_config model;
    char model_name[64]; /* the preset, or "custom" */
    char data[512];
    int64_t steps;
    int64_t micro_batch;
    int64_t tokens_per_round;
    bool even_split; /* "split": "even": equal shares, not by throughput */
    uint64_t seed;
    model_schedule schedule; /* DeMo: per round, total = steps; local: per inner
                                step, total = steps * inner_steps */
    model_demo_config demo;
    model_optimizer optimizer; /* MODEL_OPT_DEMO or MODEL_OPT_LOCAL */
    int64_t inner_steps;       /* local: optimizer steps per round (1 for DeMo) */
    float outer_lr;            /* local: lr of the outer step */
    double round_deadline_s;
    double join_timeout_s; /* a joiner that pulls nothing this long loses its slot */
    int64_t min_peers;
    int64_t max_misses;
    int64_t hash_check_every;
    int64_t checkpoint_every;
    int64_t eval_batches;
    int64_t eval_every; /* the coordinator evaluates every N steps; 0: only at the end */
} net_run_config;

void net_run_config_default(net_run_config *c);
/* Parse JSON text over the defaults. DT_ERR_FORMAT names the field. */
dt_status net_run_config_parse(const char *text, net_run_config *out);
dt_status net_run_config_load(const char *path, net_run_config *out);
/* The complete effective config as JSON (every field, defaults filled);
 * malloc'd. Parsing it gives the same config back. */
char *net_run_config_to_json(const net_run_config *c, int pretty);

/* Micro-batches in a round: ceil(tokens_per_round / (micro_batch * seq_len)). */
int64_t net_run_micro_batches(const net_run_config *c);

/* Optimizer steps in round `round`: 1 for DeMo; inner_steps for local
 * steps, fewer in a last round that the run's steps cut short. */
int64_t net_run_round_steps(const net_run_config *c, int64_t round);

/* The optimizer every peer of the run builds (model_worker_create). */
void net_run_sync_config(const net_run_config *c, model_sync_config *out);

/* lr and decay of round `round`'s canonical update, as the coordinator
 * sends them: DeMo's scheduled lr and decoupled decay, or the local-steps
 * outer lr with no decay (the inner AdamW steps decay the weights). */
void net_run_round_lr(const net_run_config *c, int64_t round, float *lr, float *decay);

#endif
