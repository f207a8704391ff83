/* Writes the fuzzer's seed corpus into a directory: a valid frame of every
 * message type, a valid DeMo payload for every fuzz geometry, and SUBMIT
 * and RESULT frames that carry one. Mutations of valid inputs reach much
 * deeper than random bytes. Usage: make_wire_corpus DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_geometries.h"
#include "net/wire.h"

static int n_written;

static int write_seed(const char *dir, const char *name, const uint8_t *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/seed-%02d-%s", dir, n_written++, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "make_wire_corpus: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int write_msg(const char *dir, const net_msg *m) {
    static uint8_t buf[NET_MAX_FRAME];
    size_t len;
    if (net_encode(m, buf, sizeof buf, &len) != DT_OK) {
        fprintf(stderr, "make_wire_corpus: %s\n", dt_last_error());
        return -1;
    }
    return write_seed(dir, net_type_name(m->h.type), buf, len);
}

/* A valid payload: per tile, k ascending indices spread over the tile,
 * values of both signs. */
static uint8_t *make_payload(const demo_geometry *g, int64_t step, uint64_t *rng) {
    int32_t *idx = malloc(sizeof *idx * (size_t)g->total_entries);
    float *vals = malloc(sizeof *vals * (size_t)g->total_entries);
    uint8_t *out = malloc(g->payload_bytes);
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        int64_t stride = tg->plan.tile_size / tg->k;
        for (int64_t e = 0; e < tg->entries; e++) {
            int64_t j = e % tg->k;
            *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
            idx[tg->entry_at + e] = (int32_t)(j * stride + (int64_t)(*rng >> 33) % stride);
            vals[tg->entry_at + e] = (float)((int64_t)(*rng >> 40) - (1 << 23)) / (1 << 20);
        }
    }
    demo_payload_encode(g, FUZZ_RUN_ID, step, idx, vals, out);
    free(idx);
    free(vals);
    return out;
}

/* One valid message of type t, with plausible values in every field; its
 * chunk, where it has one, is k. */
static void fill_message(net_msg *m, net_type t, net_chunk k) {
    memset(m, 0, sizeof *m);
    m->h.type = t;
    m->h.run_id = FUZZ_RUN_ID;
    m->h.step = 12;
    switch (m->h.type) {
    case NET_HELLO:
        snprintf(m->u.hello.name, sizeof m->u.hello.name, "peer-a");
        snprintf(m->u.hello.device, sizeof m->u.hello.device, "cpu AMD Ryzen 7");
        snprintf(m->u.hello.backend, sizeof m->u.hello.backend, "cpu");
        m->u.hello.tokens_per_s = 5000;
        m->u.hello.have_step = -1;
        break;
    case NET_WELCOME:
        m->u.welcome.peer_id = 2;
        m->u.welcome.state_bytes = 1 << 20;
        m->u.welcome.config = "{\"model\":{\"preset\":\"tiny\"},\"steps\":100}";
        m->u.welcome.config_len = (uint16_t)strlen(m->u.welcome.config);
        break;
    case NET_REJECT:
        m->u.reject.code = NET_REJECT_BACKOFF;
        m->u.reject.retry_ms = 4000;
        snprintf(m->u.reject.text, sizeof m->u.reject.text, "version mismatch");
        break;
    case NET_REFUSED:
        snprintf(m->u.refused.text, sizeof m->u.refused.text, "payload: NaN value");
        break;
    case NET_STATE_REQ:
        m->u.state_req.offset = 4096;
        m->u.state_req.length = 4096;
        break;
    case NET_STATE:
        m->u.state.chunk = k;
        break;
    case NET_ROUND:
        m->u.round.lr_bits = 0x3a83126f; /* 1e-3f */
        m->u.round.decay_bits = 0x3f7fff58;
        m->u.round.n_micro = 4;
        m->u.round.deadline_ms = 30000;
        m->u.round.n_peers = 3;
        break;
    case NET_SUBMIT:
        m->u.submit.loss = 3.5f;
        m->u.submit.n_micro = 4;
        m->u.submit.compute_s = 0.25;
        m->u.submit.chunk = k;
        break;
    case NET_RESULT:
        m->u.result.lr_bits = 0x3a83126f;
        m->u.result.decay_bits = 0x3f800000;
        m->u.result.n_applied = 3;
        m->u.result.applied[0] = 1;
        m->u.result.applied[1] = 2;
        m->u.result.applied[2] = 7;
        m->u.result.chunk = k;
        break;
    case NET_HASH:
        m->u.hash.hash = 0x1234;
        break;
    case NET_RESYNC:
        m->u.resync.state_bytes = 1 << 20;
        m->u.resync.state_hash = 0x1234;
        break;
    case NET_LEAVE:
        break;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_wire_corpus DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    static fuzz_geometries geos;
    if (fuzz_geometries_build(&geos) != 0) return 1;
    static uint8_t data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 37);
    static net_msg m;
    int rc = 0;
    for (int t = NET_HELLO; t <= NET_LEAVE; t++) {
        net_chunk k = {64, 1000, sizeof data, data};
        fill_message(&m, (net_type)t, k);
        rc |= write_msg(dir, &m);
    }
    /* Payloads, bare and inside a SUBMIT and a RESULT, per geometry. */
    uint64_t rng = 12345;
    for (int i = 0; i < FUZZ_N_GEOMETRY; i++) {
        const demo_geometry *g = &geos.g[i];
        int64_t step = 40 + i;
        uint8_t *p = make_payload(g, step, &rng);
        if (demo_payload_decode(g, p, g->payload_bytes, FUZZ_RUN_ID, step, NULL, NULL) != DT_OK) {
            fprintf(stderr, "make_wire_corpus: generated payload invalid: %s\n", dt_last_error());
            rc = 1;
        }
        rc |= write_seed(dir, "payload", p, g->payload_bytes);
        net_chunk k = {0, g->payload_bytes, (uint32_t)g->payload_bytes, p};
        memset(&m, 0, sizeof m);
        m.h.type = NET_SUBMIT;
        m.h.run_id = FUZZ_RUN_ID;
        m.h.step = step;
        m.u.submit.loss = 2.0f;
        m.u.submit.n_micro = 2;
        m.u.submit.chunk = k;
        rc |= write_msg(dir, &m);
        memset(&m, 0, sizeof m);
        m.h.type = NET_RESULT;
        m.h.run_id = FUZZ_RUN_ID;
        m.h.step = step;
        m.u.result.lr_bits = 0x3a83126f;
        m.u.result.decay_bits = 0x3f800000;
        m.u.result.n_applied = 1;
        m.u.result.applied[0] = 3;
        m.u.result.chunk = k;
        rc |= write_msg(dir, &m);
        free(p);
    }
    for (int i = 0; i < FUZZ_N_GEOMETRY; i++) demo_geometry_free(&geos.g[i]);
    if (rc == 0) printf("make_wire_corpus: %d seeds in %s\n", n_written, dir);
    return rc ? 1 : 0;
}
