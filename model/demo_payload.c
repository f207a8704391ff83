/* DeMo payload geometry, encoder and validating decoder (layout in
 * demo_payload.h). The decoder treats every byte as hostile: it is what the
 * network layer runs on data from peers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/demo_payload.h"

const char *demo_values_name(demo_values v) {
    switch (v) {
    case DEMO_VALUES_1BIT:
        return "1bit";
    case DEMO_VALUES_BF16:
        return "bf16";
    case DEMO_VALUES_FP32:
        return "fp32";
    }
    return "?";
}

dt_status demo_values_parse(const char *s, demo_values *out) {
    for (int v = 0; v <= DEMO_VALUES_FP32; v++)
        if (strcmp(s, demo_values_name((demo_values)v)) == 0) {
            *out = (demo_values)v;
            return DT_OK;
        }
    return dt_error(DT_ERR_INVALID, "value encoding '%s': expected 1bit, bf16 or fp32", s);
}

static int index_bits_for(int64_t tile_size) {
    if (tile_size <= 256) return 8;
    if (tile_size < 4096) return 12;
    return 16;
}

static size_t index_block_bytes(int bits, int64_t entries) {
    if (bits == 8) return (size_t)entries;
    if (bits == 12) return (size_t)((entries + 1) / 2) * 3;
    return (size_t)entries * 2;
}

static size_t value_block_bytes(demo_values v, int64_t entries) {
    if (v == DEMO_VALUES_1BIT) return (size_t)((entries + 7) / 8);
    return (size_t)entries * (v == DEMO_VALUES_BF16 ? 2 : 4);
}

dt_status demo_geometry_build(const model_layout *l, int64_t chunk, int64_t topk,
                              demo_values values, demo_geometry *out) {
    memset(out, 0, sizeof *out);
    if (topk < 1) return dt_error(DT_ERR_INVALID, "demo: top-k %lld must be >= 1", (long long)topk);
    if (values > DEMO_VALUES_FP32) return dt_error(DT_ERR_INVALID, "demo: bad value encoding");
    out->t = calloc((size_t)l->n_params, sizeof *out->t);
    if (!out->t) return dt_error(DT_ERR_OOM, "demo: cannot allocate the geometry");
    out->n = l->n_params;
    out->topk = topk;
    out->chunk = chunk;
    out->values = values;
    size_t at = DEMO_PAYLOAD_HEADER_BYTES;
    int64_t entries = 0;
    for (int i = 0; i < l->n_params; i++) {
        demo_tensor_geometry *t = &out->t[i];
        dt_status st = dt_demo_tile_plan(l->params[i].ndim, l->params[i].shape, chunk, &t->plan);
        if (st == DT_OK && t->plan.tile_size > 65536)
            st = dt_error(DT_ERR_UNSUPPORTED,
                          "demo: tensor %s has tiles of %lld slots; indices are at most 16 bits "
                          "(use a chunk <= 256)",
                          l->params[i].name, (long long)t->plan.tile_size);
        if (st != DT_OK) {
            demo_geometry_free(out);
            return st;
        }
        t->k = topk < t->plan.tile_size ? topk : t->plan.tile_size;
        t->entries = t->plan.n_tiles * t->k;
        t->index_bits = index_bits_for(t->plan.tile_size);
        t->index_bytes = index_block_bytes(t->index_bits, t->entries);
        t->value_bytes = value_block_bytes(values, t->entries);
        t->payload_at = at;
        t->entry_at = entries;
        at += t->index_bytes + t->value_bytes;
        entries += t->entries;
    }
    out->total_entries = entries;
    out->payload_bytes = at;
    return DT_OK;
}

void demo_geometry_free(demo_geometry *g) {
    free(g->t);
    memset(g, 0, sizeof *g);
}

uint16_t demo_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7F800000u) == 0x7F800000u) return (uint16_t)((u >> 16) | ((u & 0xFFFF) ? 0x40 : 0));
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float demo_bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* ---- little-endian helpers --------------------------------------------- */

static void put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, v);
    put16(p + 2, v >> 16);
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}
static uint32_t get16(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t get32(const uint8_t *p) {
    return get16(p) | get16(p + 2) << 16;
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- encoder ------------------------------------------------------------- */

static void encode_indices(int bits, const int32_t *idx, int64_t n, uint8_t *out) {
    if (bits == 8) {
        for (int64_t i = 0; i < n; i++) out[i] = (uint8_t)idx[i];
    } else if (bits == 16) {
        for (int64_t i = 0; i < n; i++) put16(out + 2 * i, (uint32_t)idx[i]);
    } else {
        for (int64_t i = 0; i < n; i += 2) {
            uint32_t a = (uint32_t)idx[i], b = i + 1 < n ? (uint32_t)idx[i + 1] : 0xFFFu;
            uint8_t *p = out + (i / 2) * 3;
            p[0] = (uint8_t)a;
            p[1] = (uint8_t)((a >> 8) | ((b & 0xFu) << 4));
            p[2] = (uint8_t)(b >> 4);
        }
    }
}

static void encode_values(demo_values v, const float *vals, int64_t n, uint8_t *out) {
    if (n <= 0) return; /* never, but GCC 13 otherwise warns of a negative memset size */
    if (v == DEMO_VALUES_1BIT) {
        memset(out, 0, (size_t)((n + 7) / 8));
        for (int64_t i = 0; i < n; i++)
            if (!signbit(vals[i])) out[i / 8] |= (uint8_t)(1u << (i % 8));
    } else if (v == DEMO_VALUES_BF16) {
        for (int64_t i = 0; i < n; i++) put16(out + 2 * i, demo_f32_to_bf16(vals[i]));
    } else {
        for (int64_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &vals[i], 4);
            put32(out + 4 * i, u);
        }
    }
}

void demo_payload_encode(const demo_geometry *g, uint64_t run_id, int64_t step, const int32_t *idx,
                         const float *vals, uint8_t *out) {
    put32(out, DEMO_PAYLOAD_MAGIC);
    put16(out + 4, DEMO_PAYLOAD_VERSION);
    out[6] = (uint8_t)g->values;
    out[7] = 0;
    put64(out + 8, run_id);
    put64(out + 16, (uint64_t)step);
    put32(out + 24, (uint32_t)g->n);
    put32(out + 28, (uint32_t)g->topk);
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        uint8_t *p = out + tg->payload_at;
        encode_indices(tg->index_bits, idx + tg->entry_at, tg->entries, p);
        encode_values(g->values, vals + tg->entry_at, tg->entries, p + tg->index_bytes);
    }
}

/* ---- validating decoder -------------------------------------------------- */

static dt_status refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static dt_status refuse(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dt_error(DT_ERR_FORMAT, "payload refused: %s", msg);
}

static int32_t read_index(int bits, const uint8_t *p, int64_t i) {
    if (bits == 8) return p[i];
    if (bits == 16) return (int32_t)get16(p + 2 * i);
    const uint8_t *q = p + (i / 2) * 3;
    if (i % 2 == 0) return (int32_t)(q[0] | (uint32_t)(q[1] & 0xF) << 8);
    return (int32_t)((q[1] >> 4) | (uint32_t)q[2] << 4);
}

static dt_status decode_tensor(const demo_geometry *g, int t, const uint8_t *p, int32_t *idx,
                               float *vals) {
    const demo_tensor_geometry *tg = &g->t[t];
    const int64_t S = tg->plan.tile_size, k = tg->k;
    for (int64_t tile = 0; tile < tg->plan.n_tiles; tile++) {
        int32_t prev = -1;
        for (int64_t e = 0; e < k; e++) {
            int32_t i = read_index(tg->index_bits, p, tile * k + e);
            if (i >= S)
                return refuse("tensor %d tile %lld: index %d outside a tile of %lld slots", t,
                              (long long)tile, i, (long long)S);
            if (i <= prev)
                return refuse("tensor %d tile %lld: index %d %s", t, (long long)tile, i,
                              i == prev ? "repeated" : "out of ascending order");
            prev = i;
            if (idx) idx[tile * k + e] = i;
        }
    }
    if (tg->index_bits == 12 && tg->entries % 2 && read_index(12, p, tg->entries) != 0xFFF)
        return refuse("tensor %d: 12-bit index padding is not 0xFFF", t);
    const uint8_t *v = p + tg->index_bytes;
    const int64_t n = tg->entries;
    if (g->values == DEMO_VALUES_1BIT) {
        if (n % 8 && (v[n / 8] >> (n % 8)) != 0)
            return refuse("tensor %d: unused sign bits are not zero", t);
        if (vals)
            for (int64_t i = 0; i < n; i++) vals[i] = (v[i / 8] >> (i % 8)) & 1 ? 1.0f : -1.0f;
        return DT_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        float x;
        if (g->values == DEMO_VALUES_BF16) {
            x = demo_bf16_to_f32((uint16_t)get16(v + 2 * i));
        } else {
            uint32_t u = get32(v + 4 * i);
            memcpy(&x, &u, 4);
        }
        if (!isfinite(x))
            return refuse("tensor %d entry %lld: value is not finite", t, (long long)i);
        /* Subnormals become zeros of the same sign, here on the host where
         * every replica decodes alike: a device that flushes them could
         * otherwise drift from one that keeps them. */
        if (fpclassify(x) == FP_SUBNORMAL) x = copysignf(0.0f, x);
        if (vals) vals[i] = x;
    }
    return DT_OK;
}

dt_status demo_payload_decode(const demo_geometry *g, const uint8_t *bytes, size_t len,
                              uint64_t run_id, int64_t step, int32_t *idx, float *vals) {
    if (len < DEMO_PAYLOAD_HEADER_BYTES)
        return refuse("%zu bytes is shorter than the %d-byte header", len,
                      DEMO_PAYLOAD_HEADER_BYTES);
    if (get32(bytes) != DEMO_PAYLOAD_MAGIC) return refuse("bad magic 0x%08x", get32(bytes));
    if (get16(bytes + 4) != DEMO_PAYLOAD_VERSION)
        return refuse("version %u (this build speaks %d)", get16(bytes + 4), DEMO_PAYLOAD_VERSION);
    if (bytes[6] != (uint8_t)g->values || bytes[7] != 0)
        return refuse("value encoding %u, the run uses %s", bytes[6], demo_values_name(g->values));
    if (get64(bytes + 8) != run_id)
        return refuse("run id %016llx, expected %016llx", (unsigned long long)get64(bytes + 8),
                      (unsigned long long)run_id);
    if (get64(bytes + 16) != (uint64_t)step)
        return refuse("step %llu, expected %lld", (unsigned long long)get64(bytes + 16),
                      (long long)step);
    if (get32(bytes + 24) != (uint32_t)g->n || get32(bytes + 28) != (uint32_t)g->topk)
        return refuse("%u tensors with top-k %u, the run has %d tensors with top-k %lld",
                      get32(bytes + 24), get32(bytes + 28), g->n, (long long)g->topk);
    if (len != g->payload_bytes)
        return refuse("length %zu, the run's tile plan makes exactly %zu", len, g->payload_bytes);
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        dt_status st = decode_tensor(g, t, bytes + tg->payload_at, idx ? idx + tg->entry_at : NULL,
                                     vals ? vals + tg->entry_at : NULL);
        if (st != DT_OK) return st;
    }
    return DT_OK;
}
