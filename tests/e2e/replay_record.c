/* replay_record: replays a coordinator's --record file in a fresh process,
 * on any device, and checks every recorded hash (issue 6: "all replica
 * hashes equal at every step, and equal to a single process that applies
 * the same payloads").
 *
 *   replay_record RUN.json RECORD.bin [--device SPEC] [--run-id HEX]
 *                 [--rewind]
 *
 * The model starts from model_init_weights (the coordinator starts from the
 * same seed), then every recorded round is applied in order with
 * model_demo_apply, using the recorded lr and decay bits; after each, the
 * parameter hash must equal the recorded hash_after (when it is nonzero).
 * The recorded lr and decay must also be what the run config's schedule
 * gives for that step, so a coordinator cannot drift from its own config.
 *
 * --rewind accepts a record that goes back to an earlier step: a coordinator
 * killed and restarted with --resume appends the rounds after its checkpoint
 * to the same file. The replay keeps the weights of every version and
 * restarts from the one the resumed coordinator continued from, so the
 * whole run, restart included, is checked bit for bit.
 *
 * The record file is read with net/record.h (the format's one definition):
 * a torn or damaged record, which its checksum or length gives away, fails
 * the replay with the reader's error naming the record and its byte offset.
 *
 * Output: a line per rewind and a final
 *   replayed R rounds on DEVICE: steps S, C hashes checked, final hash H
 * Exit 0 on success; 1 on a mismatch (the message names the step) or a
 * torn or damaged record (the reader's message names the record, its byte
 * offset and the step its header claims); 2 on bad usage; 77 when the
 * device does not exist. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/demo.h"
#include "net/record.h"
#include "net/run_config.h"
#include "net/wire.h"

static float bits_float(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static uint32_t float_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

typedef struct replay {
    model *m;
    model_demo *demo;
    const model_layout *layout;
    float **kept; /* with --rewind: weights of every version, [0..steps] */
    int64_t version;
} replay;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "replay_record: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 1;
}

/* Keeps a host copy of the weights of the current version. */
static int keep_version(replay *r, int64_t steps) {
    if (!r->kept || r->version > steps) return 0;
    size_t bytes = (size_t)r->layout->total * 4;
    if (!r->kept[r->version] && !(r->kept[r->version] = malloc(bytes)))
        return fail("out of memory keeping the weights of step %" PRId64, r->version);
    if (model_download_weights(r->m, r->kept[r->version]) != DT_OK)
        return fail("downloading the weights of step %" PRId64 ": %s", r->version, dt_last_error());
    return 0;
}

/* Applies one recorded round to the replica (rewinding first when the
 * record goes back to a version kept), and checks its hash. */
static int apply_round(replay *r, const net_run_config *cfg, const net_record_round *rd, size_t pb,
                       int rewind_ok, uint64_t *run_id, int *checked, const char *device) {
    int64_t step = rd->step;
    if (step < r->version && rewind_ok && r->kept[step]) {
        printf("replay_record: the record goes back from step %" PRId64 " to %" PRId64
               " (a coordinator resumed from its checkpoint)\n",
               r->version, step);
        if (model_upload_weights(r->m, r->kept[step]) != DT_OK)
            return fail("step %" PRId64 ": restoring weights: %s", step, dt_last_error());
        r->version = step;
    }
    if (step != r->version)
        return fail("step %" PRId64 ": out of order, the replica holds step %" PRId64 "%s", step,
                    r->version, step < r->version && !rewind_ok ? " (use --rewind)" : "");
    float lr = bits_float(rd->lr_bits), decay = bits_float(rd->decay_bits);
    float want_lr, want_decay;
    net_run_round_lr(cfg, step, &want_lr, &want_decay);
    if (rd->lr_bits != float_bits(want_lr) || rd->decay_bits != float_bits(want_decay))
        return fail("step %" PRId64 ": recorded lr %.9g and decay %.9g; the run config's "
                    "schedule gives %.9g and %.9g",
                    step, (double)lr, (double)decay, (double)want_lr, (double)want_decay);
    const uint8_t *ptrs[NET_MAX_PEERS];
    size_t lens[NET_MAX_PEERS];
    for (uint32_t i = 0; i < rd->n; i++) {
        ptrs[i] = rd->payloads + (size_t)i * pb;
        lens[i] = pb;
    }
    if (!*run_id) /* the payload header's run id */
        for (int b = 7; b >= 0; b--) *run_id = *run_id << 8 | rd->payloads[8 + b];
    if (model_demo_apply(r->demo, *run_id, step, ptrs, lens, (int)rd->n, lr, decay) != DT_OK)
        return fail("step %" PRId64 ": apply failed: %s", step, dt_last_error());
    r->version = step + 1;
    uint64_t hash = 0;
    if (model_param_hash(r->m, &hash) != DT_OK)
        return fail("step %" PRId64 ": hash: %s", step, dt_last_error());
    if (rd->hash_after) {
        (*checked)++;
        if (hash != rd->hash_after)
            return fail("step %" PRId64 ": hash %016" PRIx64 " after applying, recorded %016" PRIx64
                        " (on %s)",
                        step, hash, rd->hash_after, device);
    }
    return keep_version(r, cfg->steps);
}

int main(int argc, char **argv) {
    const char *config_path = NULL, *record_path = NULL, *device = "cpu";
    uint64_t run_id = 0;
    int rewind_ok = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--run-id") == 0 && i + 1 < argc)
            run_id = strtoull(argv[++i], NULL, 16);
        else if (strcmp(argv[i], "--rewind") == 0)
            rewind_ok = 1;
        else if (!config_path)
            config_path = argv[i];
        else if (!record_path)
            record_path = argv[i];
        else
            config_path = NULL, i = argc;
    }
    if (!config_path || !record_path) {
        fprintf(stderr, "usage: replay_record RUN.json RECORD.bin [--device SPEC] [--run-id HEX] "
                        "[--rewind]\n");
        return 2;
    }
    net_run_config cfg;
    if (net_run_config_load(config_path, &cfg) != DT_OK) return fail("%s", dt_last_error());
    net_record_reader *reader = NULL;
    if (net_record_reader_open(record_path, &reader) != DT_OK) return fail("%s", dt_last_error());

    dt_device *dev = NULL;
    if (dt_device_open(device, &dev) != DT_OK) {
        printf("replay_record: no device %s here: %s\n", device, dt_last_error());
        net_record_reader_close(reader);
        return 77;
    }
    replay r = {0};
    int rc = 0;
    dt_status st = model_create(dev, &cfg.model, 1, &r.m);
    if (st == DT_OK) st = model_init_weights(r.m);
    if (st == DT_OK) st = model_demo_create(r.m, &cfg.demo, &r.demo);
    if (st != DT_OK) rc = fail("setting up the model on %s: %s", device, dt_last_error());
    size_t pb = rc ? 0 : model_demo_payload_bytes(r.demo);
    if (!rc && net_record_reader_payload_bytes(reader) != pb)
        rc = fail("%s: payloads of %" PRIu64 " bytes, the run config makes %zu", record_path,
                  net_record_reader_payload_bytes(reader), pb);
    if (!rc) r.layout = model_get_layout(r.m);
    if (!rc && rewind_ok) {
        r.kept = calloc((size_t)cfg.steps + 1, sizeof *r.kept);
        rc = r.kept ? keep_version(&r, cfg.steps) : fail("out of memory");
    }

    int rounds = 0, checked = 0;
    while (!rc) {
        net_record_round rd;
        bool end = false;
        if (net_record_next(reader, &rd, &end) != DT_OK) {
            rc = fail("%s", dt_last_error());
            break;
        }
        if (end) break;
        if (rd.step >= cfg.steps) {
            rc = fail("step %" PRId64 ": beyond the run's %" PRId64 " rounds", rd.step, cfg.steps);
            break;
        }
        rc = apply_round(&r, &cfg, &rd, pb, rewind_ok, &run_id, &checked, device);
        rounds += !rc;
    }
    if (!rc && rounds == 0) rc = fail("%s holds no rounds", record_path);
    uint64_t final = 0;
    if (!rc && model_param_hash(r.m, &final) != DT_OK) rc = fail("hash: %s", dt_last_error());
    if (!rc)
        printf("replayed %d rounds on %s: steps %" PRId64
               ", %d hashes checked, final hash %016" PRIx64 "\n",
               rounds, device, r.version, checked, final);
    if (r.kept)
        for (int64_t v = 0; v <= cfg.steps; v++) free(r.kept[v]);
    free(r.kept);
    model_demo_destroy(r.demo);
    model_destroy(r.m);
    dt_device_close(dev);
    net_record_reader_close(reader);
    return rc;
}
