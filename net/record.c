/* The record file: writer, reader and the walk that repairs a torn tail
 * (format in net/record.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/record.h"
#include "net/wire.h"
#include "runtime/file_io.h"

#define BODY_FIXED 28 /* step, lr, decay, hash after, n */
#define LEN_BYTES  8
/* A reader grows its buffer as bytes arrive, never by what a length field
 * claims: a damaged length cannot make it allocate more than the file has. */
#define READ_CHUNK (1u << 20)
/* Payload sizes beyond this are a damaged header, not a model. */
#define MAX_PAYLOAD_BYTES (1ull << 40)

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* BLAKE2b-128 of one or two byte ranges. */
static void checksum(const uint8_t *a, size_t na, const uint8_t *b, size_t nb,
                     uint8_t out[NET_RECORD_SUM_BYTES]) {
    if (sodium_init() < 0) {
        /* the portable BLAKE2b then runs: the same digest, a little slower */
    }
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, NET_RECORD_SUM_BYTES);
    crypto_generichash_update(&s, a, na);
    if (nb) crypto_generichash_update(&s, b, nb);
    crypto_generichash_final(&s, out, NET_RECORD_SUM_BYTES);
}

static void encode_header(uint64_t payload_bytes, uint8_t h[NET_RECORD_HEADER_BYTES]) {
    memcpy(h, NET_RECORD_MAGIC, 8);
    put32(h + 8, NET_RECORD_VERSION);
    put32(h + 12, 0);
    put64(h + 16, payload_bytes);
    checksum(h, 24, NULL, 0, h + 24);
}

/* Body bytes of a record of n contributions; 0 when n or P is out of range. */
static uint64_t body_bytes(uint64_t n, uint64_t payload_bytes) {
    if (n < 1 || n > NET_MAX_PEERS || payload_bytes > MAX_PAYLOAD_BYTES) return 0;
    return BODY_FIXED + n * (4 + payload_bytes);
}

/* ---- reading ----------------------------------------------------------------- */

struct net_record_reader {
    FILE *f;
    char *name;
    uint64_t payload_bytes;
    uint64_t offset, index; /* past the last whole record; records read */
    uint8_t *buf;
    size_t cap;
    uint32_t ids[NET_MAX_PEERS];
    bool stopped; /* a damaged record was met: nothing after it is trusted */
};

void net_record_reader_close(net_record_reader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r->name);
    free(r->buf);
    free(r);
}

uint64_t net_record_reader_payload_bytes(const net_record_reader *r) {
    return r->payload_bytes;
}
uint64_t net_record_reader_offset(const net_record_reader *r) {
    return r->offset;
}

/* Reads `need` bytes to r->buf + at, growing the buffer as they arrive;
 * *got is how many came (fewer only at the end of the file). */
static dt_status read_grow(net_record_reader *r, size_t at, uint64_t need, uint64_t *got) {
    *got = 0;
    while (*got < need) {
        size_t chunk = need - *got < READ_CHUNK ? (size_t)(need - *got) : READ_CHUNK;
        size_t end = at + (size_t)*got + chunk;
        if (end > r->cap) {
            size_t cap = r->cap ? r->cap : 4096;
            while (cap < end) cap *= 2;
            uint8_t *bigger = realloc(r->buf, cap);
            if (!bigger)
                return dt_error(DT_ERR_OOM, "record file %s: out of memory reading record %" PRIu64,
                                r->name, r->index);
            r->buf = bigger;
            r->cap = cap;
        }
        size_t n = fread(r->buf + at + *got, 1, chunk, r->f);
        *got += n;
        if (n < chunk) break;
    }
    if (*got < need && ferror(r->f))
        return dt_error(DT_ERR_IO, "record file %s: read error at byte %" PRIu64 ": %s", r->name,
                        r->offset + at + *got, strerror(errno));
    return DT_OK;
}

static dt_status read_header(net_record_reader *r) {
    uint64_t got = 0;
    dt_status st = read_grow(r, 0, NET_RECORD_HEADER_BYTES, &got);
    if (st != DT_OK) return st;
    const uint8_t *h = r->buf;
    uint8_t sum[NET_RECORD_SUM_BYTES];
    if (got >= 8 && memcmp(h, NET_RECORD_MAGIC, 8) != 0)
        return dt_error(DT_ERR_FORMAT,
                        "record file %s: not a record file of this build (no \"" NET_RECORD_MAGIC
                        "\" header; an older build wrote records without one)",
                        r->name);
    if (got < NET_RECORD_HEADER_BYTES)
        return dt_error(DT_ERR_FORMAT, "record file %s: torn header (%" PRIu64 " of %d bytes)",
                        r->name, got, NET_RECORD_HEADER_BYTES);
    checksum(h, 24, NULL, 0, sum);
    if (memcmp(sum, h + 24, sizeof sum) != 0)
        return dt_error(DT_ERR_FORMAT, "record file %s: its header is damaged (checksum mismatch)",
                        r->name);
    if (get32(h + 8) != NET_RECORD_VERSION || get32(h + 12) != 0)
        return dt_error(DT_ERR_FORMAT,
                        "record file %s: format version %" PRIu32 ", this build "
                        "reads version %d",
                        r->name, get32(h + 8), NET_RECORD_VERSION);
    r->payload_bytes = get64(h + 16);
    if (r->payload_bytes == 0 || r->payload_bytes > MAX_PAYLOAD_BYTES)
        return dt_error(DT_ERR_FORMAT, "record file %s: payload size %" PRIu64 " is out of range",
                        r->name, r->payload_bytes);
    r->offset = NET_RECORD_HEADER_BYTES;
    return DT_OK;
}

dt_status net_record_reader_open_stream(FILE *f, const char *name, net_record_reader **out) {
    *out = NULL;
    net_record_reader *r = calloc(1, sizeof *r);
    char *copy = strdup(name ? name : "?");
    if (!r || !copy) {
        if (f) fclose(f);
        free(r);
        free(copy);
        return dt_error(DT_ERR_OOM, "record file %s: out of memory", name ? name : "?");
    }
    r->f = f;
    r->name = copy;
    dt_status st = read_header(r);
    if (st != DT_OK) {
        net_record_reader_close(r);
        return st;
    }
    *out = r;
    return DT_OK;
}

dt_status net_record_reader_open(const char *path, net_record_reader **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dt_error(errno == ENOENT ? DT_ERR_NOT_FOUND : DT_ERR_IO,
                        "record file %s: cannot open: %s", path, strerror(errno));
    return net_record_reader_open_stream(f, path, out);
}

/* Refuses the record at r->offset; the reader reads nothing more. */
static dt_status damaged(net_record_reader *r, uint64_t got, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static dt_status damaged(net_record_reader *r, uint64_t got, const char *fmt, ...) {
    char what[256], step[48] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (got >= LEN_BYTES + 8)
        snprintf(step, sizeof step, " (step %" PRId64 " by its unchecked header)",
                 (int64_t)get64(r->buf + LEN_BYTES));
    r->stopped = true;
    return dt_error(DT_ERR_FORMAT, "record file %s: record %" PRIu64 " at byte %" PRIu64 "%s: %s",
                    r->name, r->index, r->offset, step, what);
}

/* The checked record in r->buf (length, body, checksum) into *out. */
static dt_status parse(net_record_reader *r, uint64_t body, net_record_round *out) {
    const uint8_t *b = r->buf + LEN_BYTES;
    uint32_t n = get32(b + 24);
    if (body_bytes(n, r->payload_bytes) != body)
        return damaged(r, LEN_BYTES + body,
                       "%" PRIu32 " contributions do not fill its %" PRIu64 " bytes", n, body);
    uint64_t step = get64(b);
    if (step > INT64_MAX) return damaged(r, LEN_BYTES + body, "step out of range");
    for (uint32_t i = 0; i < n; i++) {
        r->ids[i] = get32(b + BODY_FIXED + 4 * i);
        if (i > 0 && r->ids[i] <= r->ids[i - 1])
            return damaged(r, LEN_BYTES + body, "peer ids not in ascending order");
    }
    *out = (net_record_round){(int64_t)step,
                              get32(b + 8),
                              get32(b + 12),
                              get64(b + 16),
                              n,
                              r->ids,
                              b + BODY_FIXED + 4 * (size_t)n};
    return DT_OK;
}

dt_status net_record_next(net_record_reader *r, net_record_round *out, bool *end) {
    *end = false;
    if (r->stopped)
        return dt_error(DT_ERR_FORMAT, "record file %s: stopped at damaged record %" PRIu64,
                        r->name, r->index);
    uint64_t got = 0;
    dt_status st = read_grow(r, 0, LEN_BYTES, &got);
    if (st != DT_OK) return st;
    if (got == 0) {
        *end = true;
        return DT_OK;
    }
    if (got < LEN_BYTES)
        return damaged(r, got, "torn: the file ends %" PRIu64 " bytes into its length", got);
    uint64_t body = get64(r->buf);
    uint64_t n = body > BODY_FIXED ? (body - BODY_FIXED) / (4 + r->payload_bytes) : 0;
    if (body_bytes(n, r->payload_bytes) != body)
        return damaged(r, got,
                       "damaged: a length of %" PRIu64 " bytes fits no round of 1 to %d "
                       "contributions of %" PRIu64 " bytes",
                       body, NET_MAX_PEERS, r->payload_bytes);
    uint64_t rest = body + NET_RECORD_SUM_BYTES;
    st = read_grow(r, LEN_BYTES, rest, &got);
    if (st != DT_OK) return st;
    if (got < rest)
        return damaged(r, LEN_BYTES + got, "torn: %" PRIu64 " of its %" PRIu64 " bytes are there",
                       LEN_BYTES + got, LEN_BYTES + rest);
    uint8_t sum[NET_RECORD_SUM_BYTES];
    checksum(r->buf, LEN_BYTES + (size_t)body, NULL, 0, sum);
    /* memcmp, not a constant-time compare: this guards against accidents
     * (and lets a fuzzer see through it), not against an attacker. */
    if (memcmp(sum, r->buf + LEN_BYTES + body, sizeof sum) != 0)
        return damaged(r, LEN_BYTES + got, "damaged: its checksum does not match its bytes");
    st = parse(r, body, out);
    if (st != DT_OK) return st;
    r->offset += LEN_BYTES + rest;
    r->index++;
    return DT_OK;
}

/* ---- writing ----------------------------------------------------------------- */

struct net_record_writer {
    int fd;
    char *path;
    uint64_t payload_bytes;
};

dt_status net_record_append_fd(int fd, const char *path, uint64_t payload_bytes,
                               const net_record_round *r) {
    uint64_t body = r ? body_bytes(r->n, payload_bytes) : 0;
    if (!body || r->step < 0 || !r->ids || !r->payloads)
        return dt_error(DT_ERR_INVALID,
                        "record file %s: a round of %u contributions at step %lld "
                        "cannot be recorded",
                        path, r ? r->n : 0, r ? (long long)r->step : -1LL);
    for (uint32_t i = 1; i < r->n; i++)
        if (r->ids[i] <= r->ids[i - 1])
            return dt_error(DT_ERR_INVALID, "record file %s: step %lld: peer ids not ascending",
                            path, (long long)r->step);
    uint8_t head[LEN_BYTES + BODY_FIXED + 4 * NET_MAX_PEERS], sum[NET_RECORD_SUM_BYTES];
    size_t head_len = LEN_BYTES + BODY_FIXED + 4 * (size_t)r->n;
    put64(head, body);
    put64(head + 8, (uint64_t)r->step);
    put32(head + 16, r->lr_bits);
    put32(head + 20, r->decay_bits);
    put64(head + 24, r->hash_after);
    put32(head + 32, r->n);
    for (uint32_t i = 0; i < r->n; i++) put32(head + 36 + 4 * i, r->ids[i]);
    size_t payload_len = (size_t)(body - BODY_FIXED - 4 * (uint64_t)r->n);
    checksum(head, head_len, r->payloads, payload_len, sum);

    /* Where this record starts, to cut a partial one off again. */
    struct stat sb;
    off_t start = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : -1;
    if (dt_write_all(fd, head, head_len) == 0 && dt_write_all(fd, r->payloads, payload_len) == 0 &&
        dt_write_all(fd, sum, sizeof sum) == 0)
        return DT_OK;
    int e = errno;
    bool cut = start >= 0 && ftruncate(fd, start) == 0;
    return dt_error(DT_ERR_IO, "record file %s: writing the round of step %lld failed: %s; %s",
                    path, (long long)r->step, strerror(e),
                    cut ? "the partial record was cut off, the file ends with the round before"
                        : "a partial record may be left at its end (readers stop there, a writer "
                          "opening the file cuts it off)");
}

dt_status net_record_append(net_record_writer *w, const net_record_round *r) {
    return net_record_append_fd(w->fd, w->path, w->payload_bytes, r);
}

dt_status net_record_writer_close(net_record_writer *w) {
    if (!w) return DT_OK;
    dt_status st = DT_OK;
    if (close(w->fd) != 0)
        st = dt_error(DT_ERR_IO, "record file %s: closing failed: %s", w->path, strerror(errno));
    free(w->path);
    free(w);
    return st;
}

dt_status net_record_writer_open(const char *path, uint64_t payload_bytes, net_record_writer **out,
                                 net_record_tail *tail) {
    *out = NULL;
    dt_status st = net_record_prepare(path, payload_bytes, tail);
    if (st != DT_OK) return st;
    net_record_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return dt_error(DT_ERR_OOM, "record file %s: out of memory", path);
    }
    w->payload_bytes = payload_bytes;
    w->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (w->fd < 0) {
        st = dt_error(DT_ERR_IO, "record file %s: cannot open for appending: %s", path,
                      strerror(errno));
        free(w->path);
        free(w);
        return st;
    }
    *out = w;
    return DT_OK;
}

/* Walks the records of an existing file: *keep gets the byte offset just
 * past the last whole one; what stopped the walk goes to tail->why. */
static dt_status walk(const char *path, uint64_t payload_bytes, uint64_t *keep,
                      net_record_tail *tail) {
    net_record_reader *r = NULL;
    dt_status st = net_record_reader_open(path, &r);
    if (st != DT_OK) return st;
    if (r->payload_bytes != payload_bytes) {
        st = dt_error(DT_ERR_FORMAT,
                      "record file %s holds rounds with payloads of %" PRIu64 " bytes, this "
                      "run's are %" PRIu64 ": it is another run's record, choose another file",
                      path, r->payload_bytes, payload_bytes);
        net_record_reader_close(r);
        return st;
    }
    for (;;) {
        net_record_round round;
        bool end = false;
        st = net_record_next(r, &round, &end);
        if (st == DT_OK && end) break;
        if (st == DT_ERR_FORMAT) {
            snprintf(tail->why, sizeof tail->why, "%s", dt_last_error());
            st = DT_OK;
            break;
        }
        if (st != DT_OK) break;
        tail->records++;
    }
    *keep = r->offset;
    net_record_reader_close(r);
    return st;
}

/* A file shorter than the header that starts like one: a writer killed
 * while creating it. Anything else that short is not ours to cut. */
static bool torn_header(int fd, uint64_t size) {
    uint8_t h[NET_RECORD_HEADER_BYTES];
    size_t n = size < 8 ? (size_t)size : 8;
    return size < NET_RECORD_HEADER_BYTES && pread(fd, h, n, 0) == (ssize_t)n &&
           memcmp(h, NET_RECORD_MAGIC, n) == 0;
}

dt_status net_record_prepare(const char *path, uint64_t payload_bytes, net_record_tail *tail) {
    memset(tail, 0, sizeof *tail);
    if (!body_bytes(1, payload_bytes))
        return dt_error(DT_ERR_INVALID, "record file %s: payload size %" PRIu64 " is out of range",
                        path, payload_bytes);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return dt_error(DT_ERR_IO, "record file %s: cannot open or create: %s", path,
                        strerror(errno));
    struct stat sb;
    /* A device or a pipe has nothing to walk: it gets a fresh header. */
    uint64_t size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
    uint64_t keep = 0;
    dt_status st = DT_OK;
    if (torn_header(fd, size))
        snprintf(tail->why, sizeof tail->why, "record file %s: torn header (%" PRIu64 " bytes)",
                 path, size);
    else if (size > 0)
        st = walk(path, payload_bytes, &keep, tail);
    if (st == DT_OK && keep < size) {
        if (ftruncate(fd, (off_t)keep) != 0)
            st = dt_error(DT_ERR_IO, "record file %s: cannot cut off its damaged end: %s", path,
                          strerror(errno));
        tail->cut_bytes = size - keep;
    }
    uint8_t h[NET_RECORD_HEADER_BYTES];
    encode_header(payload_bytes, h);
    if (st == DT_OK && keep == 0 && dt_write_all(fd, h, sizeof h) != 0)
        st = dt_error(DT_ERR_IO, "record file %s: writing its header failed: %s", path,
                      strerror(errno));
    if (close(fd) != 0 && st == DT_OK)
        st = dt_error(DT_ERR_IO, "record file %s: closing failed: %s", path, strerror(errno));
    return st;
}
