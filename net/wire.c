/* The wire codec (message set and header in wire.h).
 *
 * Body layouts follow the field order of the structs in wire.h, every field
 * little-endian at its declared width:
 *
 *   HELLO      str name | str device | str backend | f64 tokens_per_s |
 *              u64 have_run_id | i64 have_step | u64 have_hash
 *   WELCOME    u32 peer_id | i64 state_step | u64 state_bytes | u64 state_hash |
 *              str config
 *   REJECT     u16 code | u32 retry_ms | str text
 *   STATE_REQ  u64 offset | u32 length
 *   STATE      u64 hash | chunk
 *   ROUND      u32 lr_bits | u32 decay_bits | u32 n_micro | u32 deadline_ms |
 *              u32 n_peers
 *   SUBMIT     f32 loss | u32 n_micro | f64 compute_s | chunk
 *   REFUSED    str text
 *   RESULT     u32 lr_bits | u32 decay_bits | u32 n_applied |
 *              u32 applied[n_applied] | chunk
 *   HASH       u64 hash
 *   RESYNC     u64 state_bytes | u64 state_hash
 *   LEAVE      (empty)
 *
 *   str   = u16 length | bytes (printable UTF-8: no NUL or other control
 *           character; length <= the field's capacity)
 *   chunk = u64 offset | u64 total | u32 length | bytes[length]
 *
 * A frame is exactly header + body: trailing bytes are an error, so two
 * implementations can never disagree about what a frame means.
 *
 * The decoder reads through a bounds-checked cursor (every read first asks
 * whether the bytes are there), then runs the same semantic checks as the
 * encoder (net_check_*), so a peer never sends what it would refuse. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/wire.h"
#include "runtime/text.h"

/* The u16 length prefix caps every string, whatever its field's capacity. */
#define WIRE_STR_LIMIT    0xFFFFu
#define CHUNK_FIXED_BYTES (8 + 8 + 4)

const char *net_type_name(net_type t) {
    switch (t) {
    case NET_HELLO:
        return "HELLO";
    case NET_WELCOME:
        return "WELCOME";
    case NET_REJECT:
        return "REJECT";
    case NET_STATE_REQ:
        return "STATE_REQ";
    case NET_STATE:
        return "STATE";
    case NET_ROUND:
        return "ROUND";
    case NET_SUBMIT:
        return "SUBMIT";
    case NET_REFUSED:
        return "REFUSED";
    case NET_RESULT:
        return "RESULT";
    case NET_HASH:
        return "HASH";
    case NET_RESYNC:
        return "RESYNC";
    case NET_LEAVE:
        return "LEAVE";
    }
    return "unknown";
}

static bool type_known(uint32_t t) {
    return t >= NET_HELLO && t <= NET_LEAVE;
}

/* ---- semantic checks shared by encoder and decoder ------------------------ */

/* `who` is "net_encode" or "net_decode"; `bad` the status a violation gets
 * (an invalid argument when encoding, a malformed frame when decoding). */
typedef struct wire_check {
    const char *who;
    const char *type;
    dt_status bad;
} wire_check;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static dt_status
refuse(const wire_check *c, const char *fmt, ...) {
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return dt_error(c->bad, "%s: %s: %s", c->who, c->type, reason);
}

static dt_status check_finite_f32(const wire_check *c, const char *field, uint32_t bits) {
    float v;
    memcpy(&v, &bits, sizeof v);
    if (!isfinite(v)) return refuse(c, "%s is not finite (bits 0x%08x)", field, (unsigned)bits);
    return DT_OK;
}

static dt_status check_nonneg_f64(const wire_check *c, const char *field, double v) {
    if (!isfinite(v) || v < 0.0) return refuse(c, "%s = %g is not a finite value >= 0", field, v);
    return DT_OK;
}

static dt_status check_chunk(const wire_check *c, const net_chunk *k) {
    if (k->length > NET_MAX_CHUNK)
        return refuse(c, "chunk.length %u > NET_MAX_CHUNK %u", (unsigned)k->length,
                      (unsigned)NET_MAX_CHUNK);
    if (k->offset > k->total || k->length > k->total - k->offset)
        return refuse(c, "chunk [offset %llu, +length %u) lies outside total %llu",
                      (unsigned long long)k->offset, (unsigned)k->length,
                      (unsigned long long)k->total);
    return DT_OK;
}

static dt_status check_body(const wire_check *c, const net_msg *m) {
    dt_status st = DT_OK;
    switch (m->h.type) {
    case NET_HELLO:
        return check_nonneg_f64(c, "tokens_per_s", m->u.hello.tokens_per_s);
    case NET_STATE_REQ:
        if (m->u.state_req.length > NET_MAX_CHUNK)
            return refuse(c, "length %u > NET_MAX_CHUNK %u", (unsigned)m->u.state_req.length,
                          (unsigned)NET_MAX_CHUNK);
        if (m->u.state_req.offset > UINT64_MAX - m->u.state_req.length)
            return refuse(c, "offset %llu + length %u overflows",
                          (unsigned long long)m->u.state_req.offset,
                          (unsigned)m->u.state_req.length);
        return DT_OK;
    case NET_STATE:
        return check_chunk(c, &m->u.state.chunk);
    case NET_WELCOME: { /* a view, not a C string: it must not hide a NUL */
        const net_welcome *w = &m->u.welcome;
        if (w->config_len && !w->config)
            return refuse(c, "config: %u bytes at NULL", w->config_len);
        if (w->config_len && memchr(w->config, '\0', w->config_len))
            return refuse(c, "config: holds a NUL byte");
        return DT_OK;
    }
    case NET_REJECT: /* a peer acts on the code: an unknown one is not guessed at */
        if (m->u.reject.code < 1 || m->u.reject.code >= NET_REJECT_CODES)
            return refuse(c, "unknown reason code %u", (unsigned)m->u.reject.code);
        return DT_OK;
    case NET_ROUND:
        if ((st = check_finite_f32(c, "lr", m->u.round.lr_bits)) != DT_OK) return st;
        if ((st = check_finite_f32(c, "decay", m->u.round.decay_bits)) != DT_OK) return st;
        if (m->u.round.n_peers > NET_MAX_PEERS)
            return refuse(c, "n_peers %u > NET_MAX_PEERS %d", (unsigned)m->u.round.n_peers,
                          NET_MAX_PEERS);
        return DT_OK;
    case NET_SUBMIT: {
        uint32_t loss_bits;
        memcpy(&loss_bits, &m->u.submit.loss, sizeof loss_bits);
        if ((st = check_finite_f32(c, "loss", loss_bits)) != DT_OK) return st;
        if ((st = check_nonneg_f64(c, "compute_s", m->u.submit.compute_s)) != DT_OK) return st;
        return check_chunk(c, &m->u.submit.chunk);
    }
    case NET_RESULT: {
        const net_result *r = &m->u.result;
        if ((st = check_finite_f32(c, "lr", r->lr_bits)) != DT_OK) return st;
        if ((st = check_finite_f32(c, "decay", r->decay_bits)) != DT_OK) return st;
        if (r->n_applied > NET_MAX_PEERS)
            return refuse(c, "n_applied %u > NET_MAX_PEERS %d", (unsigned)r->n_applied,
                          NET_MAX_PEERS);
        /* Ascending ids are what the canonical update's order rests on
         * (DESIGN.md section 4); strictness also rules out duplicates. */
        for (uint32_t i = 1; i < r->n_applied; i++)
            if (r->applied[i] <= r->applied[i - 1])
                return refuse(c, "applied[%u] = %u is not above applied[%u] = %u", (unsigned)i,
                              (unsigned)r->applied[i], (unsigned)(i - 1),
                              (unsigned)r->applied[i - 1]);
        return check_chunk(c, &r->chunk);
    }
    default:
        return DT_OK;
    }
}

/* ---- sizes --------------------------------------------------------------- */

static size_t str_wire(const char *s, size_t cap) {
    return 2 + strnlen(s, cap + 1); /* bounded by the array (cap + 1 bytes) */
}

size_t net_encoded_size(const net_msg *m) {
    size_t body;
    switch (m->h.type) {
    case NET_HELLO:
        body = str_wire(m->u.hello.name, NET_NAME_MAX) + str_wire(m->u.hello.device, NET_TEXT_MAX) +
               str_wire(m->u.hello.backend, sizeof m->u.hello.backend - 1) + 8 + 8 + 8 + 8;
        break;
    case NET_WELCOME:
        body = 4 + 8 + 8 + 8 + 2 + (size_t)m->u.welcome.config_len;
        break;
    case NET_REJECT:
        body = 2 + 4 + str_wire(m->u.reject.text, NET_TEXT_MAX);
        break;
    case NET_REFUSED:
        body = str_wire(m->u.refused.text, NET_TEXT_MAX);
        break;
    case NET_STATE_REQ:
        body = 8 + 4;
        break;
    case NET_STATE:
        body = 8 + CHUNK_FIXED_BYTES + (size_t)m->u.state.chunk.length;
        break;
    case NET_ROUND:
        body = 5 * 4;
        break;
    case NET_SUBMIT:
        body = 4 + 4 + 8 + CHUNK_FIXED_BYTES + (size_t)m->u.submit.chunk.length;
        break;
    case NET_RESULT: {
        uint32_t n = m->u.result.n_applied;
        if (n > NET_MAX_PEERS) n = NET_MAX_PEERS; /* encode refuses it anyway */
        body = 3 * 4 + 4 * (size_t)n + CHUNK_FIXED_BYTES + (size_t)m->u.result.chunk.length;
        break;
    }
    case NET_HASH:
        body = 8;
        break;
    case NET_RESYNC:
        body = 16;
        break;
    case NET_LEAVE:
        body = 0;
        break;
    default:
        return 0;
    }
    return NET_HEADER_BYTES + body;
}

/* ---- encoder ------------------------------------------------------------- */

typedef struct wire_writer {
    uint8_t *p;
    size_t pos;
} wire_writer;

static void put_u16(wire_writer *w, uint16_t v) {
    w->p[w->pos++] = (uint8_t)v;
    w->p[w->pos++] = (uint8_t)(v >> 8);
}

static void put_u32(wire_writer *w, uint32_t v) {
    for (int i = 0; i < 4; i++) w->p[w->pos++] = (uint8_t)(v >> (8 * i));
}

static void put_u64(wire_writer *w, uint64_t v) {
    for (int i = 0; i < 8; i++) w->p[w->pos++] = (uint8_t)(v >> (8 * i));
}

static void put_f64(wire_writer *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_u64(w, bits);
}

static void put_bytes(wire_writer *w, const void *src, size_t n) {
    if (n) memcpy(w->p + w->pos, src, n);
    w->pos += n;
}

/* Every string is for people (names, device names, reasons): it reaches
 * terminals, logs, summary.json and the dashboard, so it must be
 * well-formed UTF-8 without control characters (an escape sequence would
 * drive the operator's terminal; JSON readers refuse malformed UTF-8).
 * Checked on both sides, so what decodes also encodes. */
static dt_status check_printable(const wire_check *c, const char *field, const char *s) {
    if (dt_check_printable(c->bad, field, s) == DT_OK) return DT_OK;
    return refuse(c, "%s", dt_last_error());
}

/* Strings are checked before anything is written: capacity (the array must
 * hold a NUL within it), the u16 limit and printable text. */
static dt_status check_str(const wire_check *c, const char *field, const char *s, size_t cap) {
    size_t n = strnlen(s, cap + 1);
    if (n > cap) return refuse(c, "%s is not NUL-terminated within %zu bytes", field, cap);
    if (n > WIRE_STR_LIMIT)
        return refuse(c, "%s: %zu bytes exceed the u16 length limit %u", field, n,
                      (unsigned)WIRE_STR_LIMIT);
    return check_printable(c, field, s);
}

static void put_str(wire_writer *w, const char *s) {
    size_t n = strlen(s); /* checked by check_str */
    put_u16(w, (uint16_t)n);
    put_bytes(w, s, n);
}

static void put_chunk(wire_writer *w, const net_chunk *k) {
    put_u64(w, k->offset);
    put_u64(w, k->total);
    put_u32(w, k->length);
    put_bytes(w, k->data, k->length);
}

static dt_status check_strings(const wire_check *c, const net_msg *m) {
    dt_status st = DT_OK;
    switch (m->h.type) {
    case NET_HELLO:
        if ((st = check_str(c, "name", m->u.hello.name, NET_NAME_MAX)) != DT_OK) return st;
        if ((st = check_str(c, "device", m->u.hello.device, NET_TEXT_MAX)) != DT_OK) return st;
        return check_str(c, "backend", m->u.hello.backend, sizeof m->u.hello.backend - 1);
    case NET_REJECT:
        return check_str(c, "text", m->u.reject.text, NET_TEXT_MAX);
    case NET_REFUSED:
        return check_str(c, "text", m->u.refused.text, NET_TEXT_MAX);
    default:
        return DT_OK;
    }
}

static const net_chunk *msg_chunk(const net_msg *m) {
    switch (m->h.type) {
    case NET_STATE:
        return &m->u.state.chunk;
    case NET_SUBMIT:
        return &m->u.submit.chunk;
    case NET_RESULT:
        return &m->u.result.chunk;
    default:
        return NULL;
    }
}

dt_status net_encode(const net_msg *m, uint8_t *out, size_t cap, size_t *len) {
    if (!m || !out || !len) return dt_error(DT_ERR_INVALID, "net_encode: NULL argument");
    *len = 0;
    if (!type_known((uint32_t)m->h.type))
        return dt_error(DT_ERR_INVALID, "net_encode: unknown message type %d", (int)m->h.type);
    wire_check c = {"net_encode", net_type_name(m->h.type), DT_ERR_INVALID};
    dt_status st = check_strings(&c, m);
    if (st == DT_OK) st = check_body(&c, m);
    if (st != DT_OK) return st;
    const net_chunk *k = msg_chunk(m);
    if (k && k->length > 0 && !k->data) return refuse(&c, "chunk.data is NULL");

    size_t need = net_encoded_size(m);
    if (cap < need) return refuse(&c, "buffer of %zu bytes, the frame needs %zu", cap, need);

    wire_writer w = {out, 0};
    put_u32(&w, NET_MAGIC);
    put_u16(&w, NET_VERSION);
    put_u16(&w, (uint16_t)m->h.type);
    put_u64(&w, m->h.run_id);
    put_u64(&w, (uint64_t)m->h.step);
    switch (m->h.type) {
    case NET_HELLO:
        put_str(&w, m->u.hello.name);
        put_str(&w, m->u.hello.device);
        put_str(&w, m->u.hello.backend);
        put_f64(&w, m->u.hello.tokens_per_s);
        put_u64(&w, m->u.hello.have_run_id);
        put_u64(&w, (uint64_t)m->u.hello.have_step);
        put_u64(&w, m->u.hello.have_hash);
        break;
    case NET_WELCOME:
        put_u32(&w, m->u.welcome.peer_id);
        put_u64(&w, (uint64_t)m->u.welcome.state_step);
        put_u64(&w, m->u.welcome.state_bytes);
        put_u64(&w, m->u.welcome.state_hash);
        put_u16(&w, m->u.welcome.config_len);
        put_bytes(&w, m->u.welcome.config, m->u.welcome.config_len);
        break;
    case NET_REJECT:
        put_u16(&w, m->u.reject.code);
        put_u32(&w, m->u.reject.retry_ms);
        put_str(&w, m->u.reject.text);
        break;
    case NET_REFUSED:
        put_str(&w, m->u.refused.text);
        break;
    case NET_STATE_REQ:
        put_u64(&w, m->u.state_req.offset);
        put_u32(&w, m->u.state_req.length);
        break;
    case NET_STATE:
        put_u64(&w, m->u.state.hash);
        put_chunk(&w, &m->u.state.chunk);
        break;
    case NET_ROUND:
        put_u32(&w, m->u.round.lr_bits);
        put_u32(&w, m->u.round.decay_bits);
        put_u32(&w, m->u.round.n_micro);
        put_u32(&w, m->u.round.deadline_ms);
        put_u32(&w, m->u.round.n_peers);
        break;
    case NET_SUBMIT: {
        uint32_t loss_bits;
        memcpy(&loss_bits, &m->u.submit.loss, sizeof loss_bits);
        put_u32(&w, loss_bits);
        put_u32(&w, m->u.submit.n_micro);
        put_f64(&w, m->u.submit.compute_s);
        put_chunk(&w, &m->u.submit.chunk);
        break;
    }
    case NET_RESULT:
        put_u32(&w, m->u.result.lr_bits);
        put_u32(&w, m->u.result.decay_bits);
        put_u32(&w, m->u.result.n_applied);
        for (uint32_t i = 0; i < m->u.result.n_applied; i++) put_u32(&w, m->u.result.applied[i]);
        put_chunk(&w, &m->u.result.chunk);
        break;
    case NET_HASH:
        put_u64(&w, m->u.hash.hash);
        break;
    case NET_RESYNC:
        put_u64(&w, m->u.resync.state_bytes);
        put_u64(&w, m->u.resync.state_hash);
        break;
    case NET_LEAVE:
        break;
    }
    if (w.pos != need) /* a layout bug, not bad input: say so rather than send it */
        return dt_error(DT_ERR_INVALID, "net_encode: %s: wrote %zu bytes, expected %zu", c.type,
                        w.pos, need);
    *len = need;
    return DT_OK;
}

/* ---- decoder ------------------------------------------------------------- */

/* A cursor that refuses to move past the end of the frame. After the first
 * failure it stays failed and every read yields zeros, so the decode
 * functions can read a whole layout and check once. */
typedef struct wire_reader {
    const uint8_t *p;
    size_t len, pos;
    const wire_check *c;
    dt_status st;
} wire_reader;

static bool have(wire_reader *r, size_t n, const char *field) {
    if (r->st != DT_OK) return false;
    if (n > r->len - r->pos) {
        r->st = refuse(r->c, "%s: needs %zu bytes at offset %zu, the frame has %zu", field, n,
                       r->pos, r->len);
        return false;
    }
    return true;
}

static uint16_t get_u16(wire_reader *r, const char *field) {
    if (!have(r, 2, field)) return 0;
    const uint8_t *b = r->p + r->pos;
    r->pos += 2;
    return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
}

static uint32_t get_u32(wire_reader *r, const char *field) {
    if (!have(r, 4, field)) return 0;
    const uint8_t *b = r->p + r->pos;
    r->pos += 4;
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static uint64_t get_u64(wire_reader *r, const char *field) {
    if (!have(r, 8, field)) return 0;
    const uint8_t *b = r->p + r->pos;
    r->pos += 8;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static double get_f64(wire_reader *r, const char *field) {
    uint64_t bits = get_u64(r, field);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Copies a string into dst[cap + 1] and NUL-terminates it. */
static void get_str(wire_reader *r, const char *field, char *dst, size_t cap) {
    dst[0] = '\0';
    uint16_t n = get_u16(r, field);
    if (r->st != DT_OK) return;
    if (n > cap) {
        r->st = refuse(r->c, "%s: %u bytes exceed its capacity %zu", field, (unsigned)n, cap);
        return;
    }
    if (!have(r, n, field)) return;
    const uint8_t *s = r->p + r->pos;
    if (memchr(s, 0, n)) {
        r->st = refuse(r->c, "%s contains a NUL byte", field);
        return;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    r->pos += n;
    dt_status st = check_printable(r->c, field, dst);
    if (st != DT_OK) r->st = st;
}

static void get_chunk(wire_reader *r, net_chunk *k) {
    k->offset = get_u64(r, "chunk.offset");
    k->total = get_u64(r, "chunk.total");
    k->length = get_u32(r, "chunk.length");
    k->data = NULL;
    if (r->st != DT_OK) return;
    /* Range checks come before the data: a hostile length must be named as
     * such, not as a short frame. */
    if ((r->st = check_chunk(r->c, k)) != DT_OK) return;
    if (!have(r, k->length, "chunk.data")) return;
    k->data = r->p + r->pos;
    r->pos += k->length;
}

static void decode_body(wire_reader *r, net_msg *m) {
    switch (m->h.type) {
    case NET_HELLO: {
        net_hello *h = &m->u.hello;
        get_str(r, "name", h->name, NET_NAME_MAX);
        get_str(r, "device", h->device, NET_TEXT_MAX);
        get_str(r, "backend", h->backend, sizeof h->backend - 1);
        h->tokens_per_s = get_f64(r, "tokens_per_s");
        h->have_run_id = get_u64(r, "have_run_id");
        h->have_step = (int64_t)get_u64(r, "have_step");
        h->have_hash = get_u64(r, "have_hash");
        break;
    }
    case NET_WELCOME: {
        net_welcome *w = &m->u.welcome;
        w->peer_id = get_u32(r, "peer_id");
        w->state_step = (int64_t)get_u64(r, "state_step");
        w->state_bytes = get_u64(r, "state_bytes");
        w->state_hash = get_u64(r, "state_hash");
        w->config_len = get_u16(r, "config");
        if (have(r, w->config_len, "config")) {
            w->config = (const char *)r->p + r->pos;
            r->pos += w->config_len;
        }
        break;
    }
    case NET_REJECT:
        m->u.reject.code = get_u16(r, "code");
        m->u.reject.retry_ms = get_u32(r, "retry_ms");
        get_str(r, "text", m->u.reject.text, NET_TEXT_MAX);
        break;
    case NET_REFUSED:
        get_str(r, "text", m->u.refused.text, NET_TEXT_MAX);
        break;
    case NET_STATE_REQ:
        m->u.state_req.offset = get_u64(r, "offset");
        m->u.state_req.length = get_u32(r, "length");
        break;
    case NET_STATE:
        m->u.state.hash = get_u64(r, "hash");
        get_chunk(r, &m->u.state.chunk);
        break;
    case NET_ROUND:
        m->u.round.lr_bits = get_u32(r, "lr");
        m->u.round.decay_bits = get_u32(r, "decay");
        m->u.round.n_micro = get_u32(r, "n_micro");
        m->u.round.deadline_ms = get_u32(r, "deadline_ms");
        m->u.round.n_peers = get_u32(r, "n_peers");
        break;
    case NET_SUBMIT: {
        uint32_t loss_bits = get_u32(r, "loss");
        memcpy(&m->u.submit.loss, &loss_bits, sizeof loss_bits);
        m->u.submit.n_micro = get_u32(r, "n_micro");
        m->u.submit.compute_s = get_f64(r, "compute_s");
        get_chunk(r, &m->u.submit.chunk);
        break;
    }
    case NET_RESULT: {
        net_result *res = &m->u.result;
        res->lr_bits = get_u32(r, "lr");
        res->decay_bits = get_u32(r, "decay");
        res->n_applied = get_u32(r, "n_applied");
        if (r->st != DT_OK) break;
        /* The count bounds the array we copy into: check it before the loop. */
        if (res->n_applied > NET_MAX_PEERS) {
            r->st = refuse(r->c, "n_applied %u > NET_MAX_PEERS %d", (unsigned)res->n_applied,
                           NET_MAX_PEERS);
            break;
        }
        for (uint32_t i = 0; i < res->n_applied; i++) res->applied[i] = get_u32(r, "applied");
        get_chunk(r, &res->chunk);
        break;
    }
    case NET_HASH:
        m->u.hash.hash = get_u64(r, "hash");
        break;
    case NET_RESYNC:
        m->u.resync.state_bytes = get_u64(r, "state_bytes");
        m->u.resync.state_hash = get_u64(r, "state_hash");
        break;
    case NET_LEAVE:
        break;
    }
}

char *net_welcome_config(const net_welcome *w) {
    char *text = malloc((size_t)w->config_len + 1);
    if (!text) return NULL;
    if (w->config_len) memcpy(text, w->config, w->config_len);
    text[w->config_len] = '\0';
    return text;
}

dt_status net_decode(const uint8_t *frame, size_t len, net_msg *out) {
    if (!out || (!frame && len)) return dt_error(DT_ERR_INVALID, "net_decode: NULL argument");
    memset(&out->h, 0, sizeof out->h);
    if (len < NET_HEADER_BYTES)
        return dt_error(DT_ERR_FORMAT,
                        "net_decode: frame of %zu bytes is shorter than the %d-byte header", len,
                        NET_HEADER_BYTES);
    wire_check hc = {"net_decode", "header", DT_ERR_FORMAT};
    wire_reader r = {frame, len, 0, &hc, DT_OK};
    uint32_t magic = get_u32(&r, "magic");
    uint16_t version = get_u16(&r, "version");
    uint16_t type = get_u16(&r, "type");
    uint64_t run_id = get_u64(&r, "run_id");
    uint64_t step = get_u64(&r, "step");
    if (magic != NET_MAGIC)
        return refuse(&hc, "bad magic 0x%08x (expected 0x%08x, \"DSTR\")", (unsigned)magic,
                      (unsigned)NET_MAGIC);
    if (version != NET_VERSION)
        return refuse(&hc, "version %u (this build speaks version %d)", (unsigned)version,
                      NET_VERSION);
    if (!type_known(type)) return refuse(&hc, "unknown message type %u", (unsigned)type);

    /* Every field is assigned by decode_body (zeros after a failure); the
     * clear makes the unused tail of RESULT's applied[] deterministic. */
    net_msg *m = out;
    m->h.type = (net_type)type;
    m->h.run_id = run_id;
    m->h.step = (int64_t)step;
    memset(&m->u, 0, sizeof m->u);

    wire_check c = {"net_decode", net_type_name(m->h.type), DT_ERR_FORMAT};
    r.c = &c;
    decode_body(&r, m);
    if (r.st != DT_OK) return r.st;
    if (r.pos != len) return refuse(&c, "%zu trailing bytes after the body", len - r.pos);
    return check_body(&c, m);
}
