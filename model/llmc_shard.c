/* Opening an llm.c token shard: read and check the header with pread, then
 * map the file and scan every token once, so that batch drawing later can
 * trust the data without a check per token.
 *
 * Everything a hostile file could lie about (magic, version, count, length,
 * token values) is checked against the file itself before it is used. A file
 * truncated by another process *after* open could still fault a mapped
 * read; that is the usual contract of mmap and not one a reader can close. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/llmc_shard.h"

static int32_t read_le_i32(const unsigned char *p) {
    uint32_t u =
        (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    int32_t v;
    memcpy(&v, &u, sizeof v); /* two's complement reinterpretation, no UB */
    return v;
}

/* pread the whole range or fail; a short read means the file changed under us. */
static int pread_all(int fd, unsigned char *buf, size_t len, off_t off) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        done += (size_t)n;
    }
    return 0;
}

/* Checks header fields and the exact file length; returns the token count. */
static dt_status check_header(const char *path, int fd, int64_t file_len, int64_t *n_tokens) {
    if (file_len == 0)
        return dt_error(DT_ERR_FORMAT,
                        "%s: empty file (an llm.c shard starts with a %d-byte header)", path,
                        LLMC_SHARD_HEADER_BYTES);
    if (file_len < LLMC_SHARD_HEADER_BYTES)
        return dt_error(DT_ERR_FORMAT,
                        "%s: truncated header: the file is %lld bytes, an llm.c shard header "
                        "is %d",
                        path, (long long)file_len, LLMC_SHARD_HEADER_BYTES);

    unsigned char header[LLMC_SHARD_HEADER_BYTES];
    if (pread_all(fd, header, sizeof header, 0) != 0)
        return dt_error(DT_ERR_IO, "%s: reading the header: %s", path,
                        errno ? strerror(errno) : "short read");

    int32_t magic = read_le_i32(header);
    int32_t version = read_le_i32(header + 4);
    int32_t count = read_le_i32(header + 8);
    if (magic != LLMC_SHARD_MAGIC)
        return dt_error(DT_ERR_FORMAT,
                        "%s: bad magic %d (an llm.c token shard has %d); not a token shard?", path,
                        (int)magic, LLMC_SHARD_MAGIC);
    if (version != LLMC_SHARD_VERSION)
        return dt_error(DT_ERR_FORMAT,
                        "%s: unsupported version %d (only version %d, uint16 tokens, is known)",
                        path, (int)version, LLMC_SHARD_VERSION);
    if (count < 0)
        return dt_error(DT_ERR_FORMAT, "%s: negative token count %d in the header", path,
                        (int)count);

    /* count < 2^31, so the expected length cannot overflow int64. */
    int64_t expected = LLMC_SHARD_HEADER_BYTES + 2 * (int64_t)count;
    if (file_len < expected)
        return dt_error(DT_ERR_FORMAT,
                        "%s: length mismatch: the header says %d tokens, so the file must be "
                        "%lld bytes, but it is %lld (truncated)",
                        path, (int)count, (long long)expected, (long long)file_len);
    if (file_len > expected)
        return dt_error(DT_ERR_FORMAT,
                        "%s: length mismatch: the header says %d tokens, so the file must be "
                        "%lld bytes, but it is %lld (%lld extra bytes after the tokens)",
                        path, (int)count, (long long)expected, (long long)file_len,
                        (long long)(file_len - expected));
    if (count == 0) return dt_error(DT_ERR_FORMAT, "%s: the shard holds no tokens", path);
    *n_tokens = count;
    return DT_OK;
}

/* One pass over the tokens so that later reads never see one >= vocab_size. */
static dt_status check_tokens(const char *path, const llmc_shard *shard, int64_t vocab_size) {
    if (vocab_size > UINT16_MAX) return DT_OK; /* every uint16 fits */
    for (int64_t i = 0; i < shard->n_tokens; i++) {
        int32_t t = llmc_shard_token(shard, i);
        if (t >= vocab_size)
            return dt_error(DT_ERR_FORMAT,
                            "%s: token %d at position %lld is >= vocab_size %lld (first such "
                            "token)",
                            path, (int)t, (long long)i, (long long)vocab_size);
    }
    return DT_OK;
}

dt_status llmc_shard_open(const char *path, int64_t vocab_size, llmc_shard *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return dt_error(DT_ERR_NOT_FOUND, "%s: no such file (expected an llm.c token shard)",
                            path);
        return dt_error(DT_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }

    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dt_error(DT_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dt_error(DT_ERR_IO, "%s: not a regular file", path);
    }

    int64_t n_tokens = 0;
    errno = 0;
    dt_status s = check_header(path, fd, (int64_t)st.st_size, &n_tokens);
    if (s != DT_OK) {
        close(fd);
        return s;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return dt_error(DT_ERR_UNSUPPORTED, "%s: %lld bytes do not fit this address space", path,
                        (long long)st.st_size);
    }

    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED)
        return dt_error(DT_ERR_IO, "%s: cannot map %zu bytes: %s", path, len, strerror(map_errno));

    out->map = map;
    out->map_len = len;
    out->tokens = (const unsigned char *)map + LLMC_SHARD_HEADER_BYTES;
    out->n_tokens = n_tokens;
    s = check_tokens(path, out, vocab_size);
    if (s != DT_OK) llmc_shard_close(out);
    return s;
}

void llmc_shard_close(llmc_shard *shard) {
    if (!shard) return;
    if (shard->map) munmap(shard->map, shard->map_len);
    memset(shard, 0, sizeof *shard);
}
