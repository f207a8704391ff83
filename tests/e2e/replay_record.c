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
 * The record format is documented at coord_record_round (net/coord_report.c):
 *   u64 step | u32 lr bits | u32 decay bits | u64 hash after (0: none) |
 *   u32 n | n x u32 peer ids | u64 payload bytes | n payloads
 *
 * Output: a line per rewind and a final
 *   replayed R rounds on DEVICE: steps S, C hashes checked, final hash H
 * Exit 0 on success; 1 on a mismatch or a malformed record (the message
 * names the step); 2 on bad usage; 77 when the device does not exist. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/demo.h"
#include "net/run_config.h"
#include "net/wire.h"

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}
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

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *bigger = realloc(buf, cap * 2);
        if (!bigger) free(buf);
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
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

int main(int argc, char **argv) {
    const char *config_path = NULL, *record_path = NULL, *device = "cpu";
    uint64_t want_run_id = 0;
    int rewind_ok = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device = argv[++i];
        else if (strcmp(argv[i], "--run-id") == 0 && i + 1 < argc)
            want_run_id = strtoull(argv[++i], NULL, 16);
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
    size_t len = 0;
    uint8_t *rec = read_all(record_path, &len);
    if (!rec) return fail("cannot read %s", record_path);

    dt_device *dev = NULL;
    if (dt_device_open(device, &dev) != DT_OK) {
        printf("replay_record: no device %s here: %s\n", device, dt_last_error());
        free(rec);
        return 77;
    }
    replay r = {0};
    int rc = 0;
    dt_status st = model_create(dev, &cfg.model, 1, &r.m);
    if (st == DT_OK) st = model_init_weights(r.m);
    if (st == DT_OK) st = model_demo_create(r.m, &cfg.demo, &r.demo);
    if (st != DT_OK) rc = fail("setting up the model on %s: %s", device, dt_last_error());
    size_t pb = rc ? 0 : model_demo_payload_bytes(r.demo);
    if (!rc) r.layout = model_get_layout(r.m);
    if (!rc && rewind_ok) {
        r.kept = calloc((size_t)cfg.steps + 1, sizeof *r.kept);
        rc = r.kept ? keep_version(&r, cfg.steps) : fail("out of memory");
    }

    size_t at = 0;
    int rounds = 0, checked = 0;
    uint64_t run_id = want_run_id;
    const uint8_t *ptrs[NET_MAX_PEERS];
    size_t lens[NET_MAX_PEERS];
    while (!rc && at < len) {
        /* Every field is bounds-checked against the file before use: a
         * torn or corrupted record must fail here, not crash. */
        if (len - at < 28) {
            rc = fail("record %d at byte %zu: %zu bytes left, shorter than a record header", rounds,
                      at, len - at);
            break;
        }
        int64_t step = (int64_t)get64(rec + at);
        uint32_t lr_bits = get32(rec + at + 8), decay_bits = get32(rec + at + 12);
        uint64_t hash_after = get64(rec + at + 16);
        uint32_t n = get32(rec + at + 24);
        at += 28;
        if (n < 1 || n > NET_MAX_PEERS || len - at < (size_t)n * 4 + 8) {
            rc = fail("step %" PRId64 ": malformed record (%u contributors, %zu bytes left)", step,
                      n, len - at);
            break;
        }
        for (uint32_t i = 1; i < n && !rc; i++)
            if (get32(rec + at + 4 * i) <= get32(rec + at + 4 * (i - 1)))
                rc = fail("step %" PRId64 ": contributors not in ascending peer id order", step);
        at += (size_t)n * 4;
        uint64_t bytes = get64(rec + at);
        at += 8;
        if (rc) break;
        if (bytes != pb || (len - at) / pb < n) {
            rc = fail("step %" PRId64 ": malformed record (payloads of %" PRIu64
                      " bytes, the run config makes %zu; %zu bytes left for %u)",
                      step, bytes, pb, len - at, n);
            break;
        }
        if (step < r.version && rewind_ok && step >= 0 && r.kept[step]) {
            printf("replay_record: the record goes back from step %" PRId64 " to %" PRId64
                   " (a coordinator resumed from its checkpoint)\n",
                   r.version, step);
            st = model_upload_weights(r.m, r.kept[step]);
            if (st != DT_OK) {
                rc = fail("step %" PRId64 ": restoring weights: %s", step, dt_last_error());
                break;
            }
            r.version = step;
        }
        if (step != r.version) {
            rc = fail("step %" PRId64 ": out of order, the replica holds step %" PRId64 "%s", step,
                      r.version, step < r.version && !rewind_ok ? " (use --rewind)" : "");
            break;
        }
        float lr = bits_float(lr_bits), decay = bits_float(decay_bits);
        float want_lr, want_decay;
        net_run_round_lr(&cfg, step, &want_lr, &want_decay);
        if (lr_bits != float_bits(want_lr) || decay_bits != float_bits(want_decay)) {
            rc = fail("step %" PRId64 ": recorded lr %.9g and decay %.9g; the run config's "
                      "schedule gives %.9g and %.9g",
                      step, (double)lr, (double)decay, (double)want_lr, (double)want_decay);
            break;
        }
        if (!run_id && rounds == 0) run_id = get64(rec + at + 8); /* the payload header's run id */
        for (uint32_t i = 0; i < n; i++) {
            ptrs[i] = rec + at + (size_t)i * pb;
            lens[i] = pb;
        }
        at += (size_t)n * pb;
        st = model_demo_apply(r.demo, run_id, step, ptrs, lens, (int)n, lr, decay);
        if (st != DT_OK) {
            rc = fail("step %" PRId64 ": apply failed: %s", step, dt_last_error());
            break;
        }
        r.version = step + 1;
        rounds++;
        uint64_t hash = 0;
        if (model_param_hash(r.m, &hash) != DT_OK) {
            rc = fail("step %" PRId64 ": hash: %s", step, dt_last_error());
            break;
        }
        if (hash_after) {
            checked++;
            if (hash != hash_after) {
                rc = fail("step %" PRId64 ": hash %016" PRIx64
                          " after applying, recorded %016" PRIx64 " (on %s)",
                          step, hash, hash_after, device);
                break;
            }
        }
        rc = keep_version(&r, cfg.steps);
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
    free(rec);
    return rc;
}
