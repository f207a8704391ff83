/* net/wire: every message type round-trips with edge values; every kind of
 * malformed frame is refused with a reason naming the type and field; and
 * random mutations of valid frames never crash the decoder, and whatever
 * it accepts re-encodes to the very same bytes (one meaning per frame). */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/wire.h"
#include "net_test_util.h"

#define N_MUTATIONS 300000

static uint8_t chunk_data[NET_MAX_CHUNK];

static uint32_t f32_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static void fill_string(char *dst, size_t n, char c) {
    memset(dst, c, n);
    dst[n] = '\0';
}

/* WELCOME's config is a view: the longest one it can carry, and a short one. */
static char long_config[NET_CONFIG_MAX + 1];
static const char short_config[] = "{\"preset\":\"tiny\"}";

/* A message of each type; `edge` picks extreme values (maximal strings,
 * counts and chunks, extreme integers), otherwise small ordinary ones. */
static void sample(net_type t, bool edge, net_msg *m) {
    memset(m, 0, sizeof *m);
    m->h.type = t;
    m->h.run_id = edge ? UINT64_MAX : 0x1122334455667788ull;
    m->h.step = edge ? INT64_MIN : 42;
    net_chunk k = {edge ? UINT64_MAX - NET_MAX_CHUNK : 0, edge ? UINT64_MAX : 100,
                   edge ? NET_MAX_CHUNK : 100, chunk_data};
    switch (t) {
    case NET_HELLO:
        if (edge) {
            fill_string(m->u.hello.name, NET_NAME_MAX, 'n');
            fill_string(m->u.hello.device, NET_TEXT_MAX, 'd');
            fill_string(m->u.hello.backend, 16, 'b');
        } else {
            snprintf(m->u.hello.name, sizeof m->u.hello.name, "laptop");
            snprintf(m->u.hello.device, sizeof m->u.hello.device, "cuda:0 NVIDIA GeForce RTX 3060");
            snprintf(m->u.hello.backend, sizeof m->u.hello.backend, "cuda");
        }
        m->u.hello.tokens_per_s = edge ? DBL_MAX : 12345.5;
        m->u.hello.have_run_id = edge ? UINT64_MAX : 7;
        m->u.hello.have_step = edge ? -1 : 10;
        m->u.hello.have_hash = 0xdeadbeefcafef00dull;
        break;
    case NET_WELCOME:
        m->u.welcome.peer_id = edge ? UINT32_MAX : 3;
        m->u.welcome.state_step = edge ? INT64_MAX : 9;
        m->u.welcome.state_bytes = edge ? UINT64_MAX : 4096;
        m->u.welcome.state_hash = 0x0123456789abcdefull;
        fill_string(long_config, NET_CONFIG_MAX, '{');
        m->u.welcome.config = edge ? long_config : short_config;
        m->u.welcome.config_len = (uint16_t)(edge ? NET_CONFIG_MAX : strlen(short_config));
        break;
    case NET_REJECT:
        m->u.reject.code = edge ? NET_REJECT_CODES - 1 : NET_REJECT_BUSY;
        m->u.reject.retry_ms = edge ? UINT32_MAX : 2000;
        if (edge)
            fill_string(m->u.reject.text, NET_TEXT_MAX, 'r');
        else
            snprintf(m->u.reject.text, sizeof m->u.reject.text, "the run is full");
        break;
    case NET_REFUSED:
        if (edge)
            fill_string(m->u.refused.text, NET_TEXT_MAX, 'r');
        else
            snprintf(m->u.refused.text, sizeof m->u.refused.text,
                     "payload: index 70000 out of range");
        break;
    case NET_STATE_REQ:
        m->u.state_req.offset = edge ? UINT64_MAX - NET_MAX_CHUNK : 8192;
        m->u.state_req.length = edge ? NET_MAX_CHUNK : 4096;
        break;
    case NET_STATE:
        m->u.state.hash = 99;
        m->u.state.chunk = k;
        break;
    case NET_ROUND:
        m->u.round.lr_bits = f32_bits(edge ? FLT_MAX : 3e-4f);
        m->u.round.decay_bits = f32_bits(edge ? -FLT_MIN / 2 : 0.99997f); /* a denormal */
        m->u.round.n_micro = edge ? UINT32_MAX : 4;
        m->u.round.deadline_ms = edge ? UINT32_MAX : 30000;
        m->u.round.n_peers = edge ? NET_MAX_PEERS : 3;
        break;
    case NET_SUBMIT:
        m->u.submit.loss = edge ? -FLT_MAX : 2.5f;
        m->u.submit.n_micro = edge ? 0 : 4;
        m->u.submit.compute_s = edge ? -0.0 : 1.25;
        m->u.submit.chunk = k;
        break;
    case NET_RESULT:
        m->u.result.lr_bits = f32_bits(edge ? 0.0f : 3e-4f);
        m->u.result.decay_bits = f32_bits(1.0f);
        m->u.result.n_applied = edge ? NET_MAX_PEERS : 3;
        for (uint32_t i = 0; i < m->u.result.n_applied; i++)
            m->u.result.applied[i] = edge ? UINT32_MAX - NET_MAX_PEERS + i : 2 * i + 1;
        m->u.result.chunk = k;
        break;
    case NET_HASH:
        m->u.hash.hash = edge ? UINT64_MAX : 5;
        break;
    case NET_RESYNC:
        m->u.resync.state_bytes = edge ? UINT64_MAX : 1 << 20;
        m->u.resync.state_hash = 77;
        break;
    case NET_LEAVE:
        break;
    }
}

static uint8_t *encode_alloc(const net_msg *m, size_t *len) {
    size_t cap = net_encoded_size(m);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (net_encode(m, buf, cap, len) != DT_OK) {
        nt_fail(__FILE__, __LINE__, "encoding %s: %s", net_type_name(m->h.type), dt_last_error());
        free(buf);
        return NULL;
    }
    return buf;
}

static bool chunk_equal(const net_chunk *a, const net_chunk *b) {
    return a->offset == b->offset && a->total == b->total && a->length == b->length &&
           (a->length == 0 || memcmp(a->data, b->data, a->length) == 0);
}

/* Field-by-field comparison of two messages of the same type. */
static bool msg_equal(const net_msg *a, const net_msg *b) {
    if (a->h.type != b->h.type || a->h.run_id != b->h.run_id || a->h.step != b->h.step)
        return false;
    switch (a->h.type) {
    case NET_HELLO:
        return strcmp(a->u.hello.name, b->u.hello.name) == 0 &&
               strcmp(a->u.hello.device, b->u.hello.device) == 0 &&
               strcmp(a->u.hello.backend, b->u.hello.backend) == 0 &&
               memcmp(&a->u.hello.tokens_per_s, &b->u.hello.tokens_per_s, 8) == 0 &&
               a->u.hello.have_run_id == b->u.hello.have_run_id &&
               a->u.hello.have_step == b->u.hello.have_step &&
               a->u.hello.have_hash == b->u.hello.have_hash;
    case NET_WELCOME:
        return a->u.welcome.peer_id == b->u.welcome.peer_id &&
               a->u.welcome.state_step == b->u.welcome.state_step &&
               a->u.welcome.state_bytes == b->u.welcome.state_bytes &&
               a->u.welcome.state_hash == b->u.welcome.state_hash &&
               a->u.welcome.config_len == b->u.welcome.config_len &&
               memcmp(a->u.welcome.config, b->u.welcome.config, a->u.welcome.config_len) == 0;
    case NET_REJECT:
        return a->u.reject.code == b->u.reject.code &&
               a->u.reject.retry_ms == b->u.reject.retry_ms &&
               strcmp(a->u.reject.text, b->u.reject.text) == 0;
    case NET_REFUSED:
        return strcmp(a->u.refused.text, b->u.refused.text) == 0;
    case NET_STATE_REQ:
        return a->u.state_req.offset == b->u.state_req.offset &&
               a->u.state_req.length == b->u.state_req.length;
    case NET_STATE:
        return a->u.state.hash == b->u.state.hash &&
               chunk_equal(&a->u.state.chunk, &b->u.state.chunk);
    case NET_ROUND:
        return memcmp(&a->u.round, &b->u.round, sizeof a->u.round) == 0;
    case NET_SUBMIT:
        return memcmp(&a->u.submit.loss, &b->u.submit.loss, 4) == 0 &&
               a->u.submit.n_micro == b->u.submit.n_micro &&
               memcmp(&a->u.submit.compute_s, &b->u.submit.compute_s, 8) == 0 &&
               chunk_equal(&a->u.submit.chunk, &b->u.submit.chunk);
    case NET_RESULT:
        return a->u.result.lr_bits == b->u.result.lr_bits &&
               a->u.result.decay_bits == b->u.result.decay_bits &&
               a->u.result.n_applied == b->u.result.n_applied &&
               memcmp(a->u.result.applied, b->u.result.applied, 4 * a->u.result.n_applied) == 0 &&
               chunk_equal(&a->u.result.chunk, &b->u.result.chunk);
    case NET_HASH:
        return a->u.hash.hash == b->u.hash.hash;
    case NET_RESYNC:
        return a->u.resync.state_bytes == b->u.resync.state_bytes &&
               a->u.resync.state_hash == b->u.resync.state_hash;
    case NET_LEAVE:
        return true;
    }
    return false;
}

static net_msg decoded; /* 64 KiB: static, not on the stack */

static void test_round_trips(void) {
    for (int t = NET_HELLO; t <= NET_LEAVE; t++) {
        for (int edge = 0; edge < 2; edge++) {
            static net_msg m;
            sample((net_type)t, edge, &m);
            size_t len;
            uint8_t *frame = encode_alloc(&m, &len);
            if (!frame) continue;
            const char *name = net_type_name((net_type)t);
            CHECK(len == net_encoded_size(&m), "%s: encoded %zu bytes, net_encoded_size %zu", name,
                  len, net_encoded_size(&m));
            CHECK(len <= NET_MAX_FRAME, "%s: frame of %zu bytes exceeds NET_MAX_FRAME", name, len);
            CHECK(frame[0] == 'D' && frame[1] == 'S' && frame[2] == 'T' && frame[3] == 'R',
                  "%s: magic bytes are not \"DSTR\"", name);
            if (CHECK_OK(net_decode(frame, len, &decoded)))
                CHECK(msg_equal(&m, &decoded), "%s (edge %d): decoded message differs", name, edge);
            /* Exactly one byte too few for the buffer is refused. */
            size_t got;
            CHECK_STATUS(net_encode(&m, frame, len - 1, &got), DT_ERR_INVALID, name, "buffer");
            free(frame);
        }
    }
    CHECK(strcmp(net_type_name((net_type)99), "unknown") == 0, "net_type_name(99)");
    /* An empty chunk of an empty whole is valid. */
    static net_msg m;
    sample(NET_STATE, false, &m);
    m.u.state.chunk = (net_chunk){0, 0, 0, NULL};
    size_t len;
    uint8_t *frame = encode_alloc(&m, &len);
    if (frame && CHECK_OK(net_decode(frame, len, &decoded)))
        CHECK(decoded.u.state.chunk.length == 0 && decoded.u.state.chunk.total == 0, "empty chunk");
    free(frame);
}

/* ---- malformed frames ------------------------------------------------------ */

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Encodes the ordinary sample of type t into buf (capacity cap). */
static size_t frame_of(net_type t, uint8_t *buf, size_t cap) {
    static net_msg m;
    sample(t, false, &m);
    size_t len = 0;
    if (net_encode(&m, buf, cap, &len) != DT_OK)
        nt_fail(__FILE__, __LINE__, "encoding %s: %s", net_type_name(t), dt_last_error());
    return len;
}

#define REFUSED(buf, len, ...)                                                                     \
    CHECK_STATUS(net_decode(buf, len, &decoded), DT_ERR_FORMAT, __VA_ARGS__)

/* Frames refused for their header, their length or their strings. */
static void test_malformed(void) {
    static uint8_t buf[8192];
    size_t len;

    /* Header. */
    REFUSED(buf, 0, "shorter than the 24-byte header");
    len = frame_of(NET_HASH, buf, sizeof buf);
    REFUSED(buf, NET_HEADER_BYTES - 1, "shorter than the 24-byte header");
    buf[0] ^= 0xff;
    REFUSED(buf, len, "header", "magic");
    len = frame_of(NET_HASH, buf, sizeof buf);
    put_u16(buf + 4, 1);
    REFUSED(buf, len, "header", "version 1");
    const uint16_t bad_types[] = {0, 13, 0xFFFF};
    for (int i = 0; i < 3; i++) {
        len = frame_of(NET_HASH, buf, sizeof buf);
        put_u16(buf + 6, bad_types[i]);
        REFUSED(buf, len, "header", "unknown message type");
    }

    /* Every type: one trailing byte, and every truncation of its body. */
    for (int t = NET_HELLO; t <= NET_LEAVE; t++) {
        const char *name = net_type_name((net_type)t);
        len = frame_of((net_type)t, buf, sizeof buf - 1);
        buf[len] = 0;
        REFUSED(buf, len + 1, name, "1 trailing bytes");
        for (size_t cut = NET_HEADER_BYTES; cut < len; cut++) {
            if (net_decode(buf, cut, &decoded) != DT_ERR_FORMAT || !strstr(dt_last_error(), name)) {
                nt_fail(__FILE__, __LINE__, "%s truncated to %zu of %zu bytes: %s", name, cut, len,
                        dt_last_error());
                break;
            }
        }
    }

    /* Strings: too long for the field, and a NUL inside. HELLO's name is
     * the first body field, at offset 24. */
    len = frame_of(NET_HELLO, buf, sizeof buf);
    put_u16(buf + 24, NET_NAME_MAX + 1);
    REFUSED(buf, len, "HELLO", "name", "capacity");
    len = frame_of(NET_HELLO, buf, sizeof buf);
    buf[24 + 2 + 1] = '\0';
    REFUSED(buf, len, "HELLO", "name", "NUL");
    len = frame_of(NET_REFUSED, buf, sizeof buf);
    put_u16(buf + 24, 0xFFFF);
    REFUSED(buf, len, "REFUSED", "text", "capacity");

    /* Text that is not printable UTF-8, refused by position and byte value:
     * an escape in the name ("laptop" at 26), a byte that is no UTF-8 in the
     * device (at 24 + 2 + 6 + 2), a C1 control in a REFUSED reason. */
    len = frame_of(NET_HELLO, buf, sizeof buf);
    buf[26 + 2] = 0x1b;
    REFUSED(buf, len, "HELLO", "name", "byte 2 (0x1b) starts no printable UTF-8 character");
    len = frame_of(NET_HELLO, buf, sizeof buf);
    buf[34 + 3] = 0xff;
    REFUSED(buf, len, "HELLO", "device", "byte 3 (0xff)");
    len = frame_of(NET_REFUSED, buf, sizeof buf);
    buf[26] = 0xc2, buf[27] = 0x9b;
    REFUSED(buf, len, "REFUSED", "text", "byte 0 (0xc2)");
}

/* Field values out of range, per message type. */
static void test_malformed_fields(void) {
    static uint8_t buf[8192];
    size_t len;

    /* Chunks (STATE: u64 hash at 24, chunk offset 32, total 40, length 48). */
    len = frame_of(NET_STATE, buf, sizeof buf);
    put_u32(buf + 48, NET_MAX_CHUNK + 1);
    put_u64(buf + 40, UINT64_MAX);
    REFUSED(buf, len, "STATE", "chunk.length", "NET_MAX_CHUNK");
    len = frame_of(NET_STATE, buf, sizeof buf);
    put_u64(buf + 32, 1); /* offset 1 + length 100 > total 100 */
    REFUSED(buf, len, "STATE", "chunk", "outside total");
    len = frame_of(NET_STATE, buf, sizeof buf);
    put_u64(buf + 32, UINT64_MAX); /* offset + length wraps around */
    put_u64(buf + 40, UINT64_MAX);
    REFUSED(buf, len, "STATE", "chunk", "outside total");
    len = frame_of(NET_STATE, buf, sizeof buf);
    put_u64(buf + 32, 200); /* offset beyond total */
    put_u32(buf + 48, 0);
    REFUSED(buf, len - 100, "STATE", "chunk", "outside total");
    len = frame_of(NET_STATE, buf, sizeof buf);
    put_u32(buf + 48, 101); /* claims more data than the frame has */
    put_u64(buf + 40, 1000);
    REFUSED(buf, len, "STATE", "chunk.data", "needs 101 bytes");

    /* STATE_REQ: offset at 24, length at 32. */
    len = frame_of(NET_STATE_REQ, buf, sizeof buf);
    put_u32(buf + 32, NET_MAX_CHUNK + 1);
    REFUSED(buf, len, "STATE_REQ", "length");
    put_u32(buf + 32, 10);
    put_u64(buf + 24, UINT64_MAX - 5);
    REFUSED(buf, len, "STATE_REQ", "overflows");

    /* RESULT: lr 24, decay 28, n_applied 32, applied from 36. */
    len = frame_of(NET_RESULT, buf, sizeof buf);
    put_u32(buf + 32, NET_MAX_PEERS + 1);
    REFUSED(buf, len, "RESULT", "n_applied", "NET_MAX_PEERS");
    len = frame_of(NET_RESULT, buf, sizeof buf);
    put_u32(buf + 32, UINT32_MAX);
    REFUSED(buf, len, "RESULT", "n_applied");
    len = frame_of(NET_RESULT, buf, sizeof buf); /* applied = 1, 3, 5 */
    put_u32(buf + 40, 1);
    REFUSED(buf, len, "RESULT", "applied[1] = 1 is not above applied[0] = 1");
    len = frame_of(NET_RESULT, buf, sizeof buf);
    put_u32(buf + 44, 2);
    REFUSED(buf, len, "RESULT", "applied[2]");
    len = frame_of(NET_RESULT, buf, sizeof buf);
    put_u32(buf + 24, f32_bits(NAN));
    REFUSED(buf, len, "RESULT", "lr", "not finite");
    len = frame_of(NET_RESULT, buf, sizeof buf);
    put_u32(buf + 28, f32_bits(INFINITY));
    REFUSED(buf, len, "RESULT", "decay", "not finite");

    /* ROUND: lr 24, decay 28, n_micro 32, deadline 36, n_peers 40. */
    len = frame_of(NET_ROUND, buf, sizeof buf);
    put_u32(buf + 24, f32_bits(NAN));
    REFUSED(buf, len, "ROUND", "lr", "not finite");
    len = frame_of(NET_ROUND, buf, sizeof buf);
    put_u32(buf + 28, f32_bits(-INFINITY));
    REFUSED(buf, len, "ROUND", "decay");
    len = frame_of(NET_ROUND, buf, sizeof buf);
    put_u32(buf + 40, NET_MAX_PEERS + 1);
    REFUSED(buf, len, "ROUND", "n_peers");

    /* SUBMIT: loss 24, n_micro 28, compute_s 32. HELLO tokens_per_s follows
     * the three strings. */
    double bad_d[] = {NAN, INFINITY, -1.0};
    len = frame_of(NET_SUBMIT, buf, sizeof buf);
    put_u32(buf + 24, f32_bits(NAN));
    REFUSED(buf, len, "SUBMIT", "loss", "not finite");
    for (int i = 0; i < 3; i++) {
        uint64_t bits;
        memcpy(&bits, &bad_d[i], 8);
        len = frame_of(NET_SUBMIT, buf, sizeof buf);
        put_u64(buf + 32, bits);
        REFUSED(buf, len, "SUBMIT", "compute_s");
        static net_msg h;
        sample(NET_HELLO, false, &h);
        len = frame_of(NET_HELLO, buf, sizeof buf);
        size_t at = 24 + 2 + strlen(h.u.hello.name) + 2 + strlen(h.u.hello.device) + 2 +
                    strlen(h.u.hello.backend);
        put_u64(buf + at, bits);
        REFUSED(buf, len, "HELLO", "tokens_per_s");
    }
    /* NULL frame with a length. */
    CHECK_STATUS(net_decode(NULL, 5, &decoded), DT_ERR_INVALID, "NULL");
}

/* The encoder refuses what the decoder would. */
static void test_encoder_refuses(void) {
    static net_msg m;
    static uint8_t buf[NET_MAX_FRAME];
    size_t len;
    sample(NET_HELLO, false, &m);
    memset(m.u.hello.name, 'x', sizeof m.u.hello.name); /* no NUL within the array */
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "HELLO", "name");
    /* What decoding refuses, encoding refuses: text must be printable UTF-8.
     * Non-ASCII text is fine. */
    sample(NET_HELLO, false, &m);
    snprintf(m.u.hello.name, sizeof m.u.hello.name, "red\x1b[31m");
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "HELLO", "name",
                 "byte 3 (0x1b)");
    snprintf(m.u.hello.name, sizeof m.u.hello.name, "Zo\xc3\xab \xf0\x9f\x9a\x80");
    if (CHECK_OK(net_encode(&m, buf, sizeof buf, &len)) && CHECK_OK(net_decode(buf, len, &decoded)))
        CHECK(strcmp(decoded.u.hello.name, m.u.hello.name) == 0, "a UTF-8 name round-trips");
    sample(NET_REJECT, false, &m);
    snprintf(m.u.reject.text, sizeof m.u.reject.text, "cut \xe2\x82");
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "REJECT", "text");
    sample(NET_WELCOME, true, &m); /* the longest config fits its u16 */
    CHECK_OK(net_encode(&m, buf, sizeof buf, &len));
    static char nul_config[] = "{\"a\":\0}";
    m.u.welcome.config = nul_config;
    m.u.welcome.config_len = sizeof nul_config - 1;
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "WELCOME", "NUL");
    sample(NET_REJECT, false, &m);
    m.u.reject.code = NET_REJECT_CODES;
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "REJECT", "code");
    m.u.reject.code = 0;
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "REJECT", "code");
    sample(NET_SUBMIT, false, &m);
    m.u.submit.chunk.data = NULL;
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "SUBMIT", "NULL");
    sample(NET_SUBMIT, false, &m);
    m.u.submit.chunk.length = NET_MAX_CHUNK + 1;
    m.u.submit.chunk.total = UINT64_MAX;
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "SUBMIT", "chunk.length");
    sample(NET_RESULT, false, &m);
    m.u.result.applied[2] = m.u.result.applied[1];
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "RESULT", "applied[2]");
    sample(NET_RESULT, false, &m);
    m.u.result.n_applied = NET_MAX_PEERS + 1;
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "RESULT", "n_applied");
    sample(NET_ROUND, false, &m);
    m.u.round.lr_bits = f32_bits(NAN);
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "ROUND", "lr");
    m.h.type = (net_type)0;
    CHECK_STATUS(net_encode(&m, buf, sizeof buf, &len), DT_ERR_INVALID, "unknown message type");
    CHECK(net_encoded_size(&m) == 0, "net_encoded_size of an unknown type");
}

/* ---- mutations ------------------------------------------------------------ */

static void put_rand_len(uint8_t *p, size_t width, uint64_t r) {
    /* Boundary values matter more than uniform ones for length fields. */
    static const uint64_t special[] = {
        0,         1, 64, 65, 512, 513, 65535, NET_MAX_CHUNK, NET_MAX_CHUNK + 1ull, 0xFFFFFFFFull,
        UINT64_MAX};
    uint64_t v = (r & 1) ? special[(r >> 1) % (sizeof special / sizeof special[0])] : r >> 8;
    for (size_t i = 0; i < width; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_mutations(uint64_t seed) {
    enum { N_SEEDS = 2 * (NET_LEAVE - NET_HELLO + 1) };
    static uint8_t *seeds[N_SEEDS];
    static size_t seed_len[N_SEEDS];
    int n = 0;
    for (int t = NET_HELLO; t <= NET_LEAVE; t++) {
        static net_msg m;
        sample((net_type)t, false, &m);
        seeds[n] = encode_alloc(&m, &seed_len[n]);
        if (seeds[n]) n++;
        /* A second, short-chunk variant: the edge sample's 4 MiB chunk
         * would make every mutation copy 4 MiB. */
        sample((net_type)t, false, &m);
        m.h.step = -1;
        if (t == NET_RESULT) m.u.result.n_applied = 0;
        if (t == NET_STATE) m.u.state.chunk.length = 0;
        if (t == NET_SUBMIT) m.u.submit.chunk.length = 0;
        seeds[n] = encode_alloc(&m, &seed_len[n]);
        if (seeds[n]) n++;
    }
    uint64_t rng = seed;
    size_t cap = 16384;
    uint8_t *buf = malloc(cap), *again = malloc(cap);
    long accepted = 0, refused = 0;
    for (long i = 0; i < N_MUTATIONS; i++) {
        int s = (int)(nt_rand(&rng) % (uint64_t)n);
        size_t len = seed_len[s];
        memcpy(buf, seeds[s], len);
        int edits = 1 + (int)(nt_rand(&rng) % 4);
        for (int e = 0; e < edits; e++) {
            uint64_t r = nt_rand(&rng);
            size_t at = len ? (size_t)(r >> 8) % len : 0;
            switch (r % 6) {
            case 0: /* flip a bit */
                if (len) buf[at] ^= (uint8_t)(1u << ((r >> 4) & 7));
                break;
            case 1: /* random byte */
                if (len) buf[at] = (uint8_t)(r >> 40);
                break;
            case 2: /* truncate */
                len = at;
                break;
            case 3: /* append bytes */
                for (int k = 0; k < (int)(r >> 60) + 1 && len < cap; k++)
                    buf[len++] = (uint8_t)nt_rand(&rng);
                break;
            case 4: /* a 16-, 32- or 64-bit field gets a boundary or random value */
            case 5: {
                size_t width = (size_t)2 << ((r >> 2) % 3);
                if (len >= width)
                    put_rand_len(buf + (at % (len - width + 1)), width, nt_rand(&rng));
                break;
            }
            }
        }
        /* Exact-size heap copy, so an over-read would leave the block. */
        uint8_t *frame = malloc(len ? len : 1);
        memcpy(frame, buf, len);
        dt_status st = net_decode(frame, len, &decoded);
        if (st == DT_OK) {
            accepted++;
            size_t len2 = 0;
            dt_status st2 = net_encode(&decoded, again, cap, &len2);
            if (st2 != DT_OK || len2 != len || memcmp(again, frame, len) != 0) {
                nt_fail(__FILE__, __LINE__,
                        "mutation %ld: accepted %s frame of %zu bytes re-encodes differently "
                        "(%s, %zu bytes)",
                        i, net_type_name(decoded.h.type), len, dt_status_name(st2), len2);
                free(frame);
                break;
            }
        } else if (st == DT_ERR_FORMAT) {
            refused++;
        } else {
            nt_fail(__FILE__, __LINE__, "mutation %ld: status %s (%s)", i, dt_status_name(st),
                    dt_last_error());
            free(frame);
            break;
        }
        free(frame);
    }
    printf("mutations: %d valid seeds, %d mutations, %ld accepted (re-encoded identically), "
           "%ld refused\n",
           n, N_MUTATIONS, accepted, refused);
    for (int i = 0; i < n; i++) free(seeds[i]);
    free(buf);
    free(again);
}

int main(void) {
    uint64_t seed = nt_seed(20240601);
    for (size_t i = 0; i < sizeof chunk_data; i++) chunk_data[i] = (uint8_t)(i * 131 + 7);
    test_round_trips();
    test_malformed();
    test_malformed_fields();
    test_encoder_refuses();
    test_mutations(seed);
    return nt_finish("test_wire");
}
