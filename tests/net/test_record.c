/* The record file (net/record.h): rounds written and read back bit for bit
 * in the documented little-endian layout; a torn tail cut off when a
 * writer reopens the file; a flipped byte refused by the reader (and cut
 * off by a writer); files that are not this run's record refused and left
 * alone; write errors reported with the file and the system's reason, the
 * partial record cut off again.
 *
 *   test_record              the tests
 *   test_record --seeds DIR  writes seed files for the fuzz target */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/record.h"
#include "net_test_util.h"

#define PB 24 /* payload bytes of the test rounds */

static uint32_t ids[4][3] = {{1, 2, 3}, {2, 0, 0}, {1, 5, 0}, {3, 4, 9}};
static uint8_t payloads[4][3 * PB];

/* Round i: i + 1 contributions (at most 3), every field distinct. */
static net_record_round round_of(int i) {
    for (int b = 0; b < 3 * PB; b++) payloads[i][b] = (uint8_t)(i * 31 + b * 7);
    uint32_t n = i == 1 ? 1 : i == 2 ? 2 : 3;
    return (net_record_round){i,
                              0x3f800000u + (uint32_t)i,
                              0x3f7ff000u - (uint32_t)i,
                              i == 1 ? 0 : 0x1122334455667700ull + (uint64_t)i,
                              n,
                              ids[i],
                              payloads[i]};
}

static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Reads the whole file back; returns the number of whole rounds, each
 * checked against round_of, or -1 after a reader error. */
static int read_back(const char *path) {
    net_record_reader *r = NULL;
    if (!CHECK_OK(net_record_reader_open(path, &r))) return -1;
    CHECK(net_record_reader_payload_bytes(r) == PB, "payload bytes %llu",
          (unsigned long long)net_record_reader_payload_bytes(r));
    int n = 0;
    for (;;) {
        net_record_round got;
        bool end = false;
        if (net_record_next(r, &got, &end) != DT_OK) {
            n = -1;
            break;
        }
        if (end) break;
        net_record_round want = round_of(n % 4);
        CHECK(got.step == want.step && got.lr_bits == want.lr_bits &&
                  got.decay_bits == want.decay_bits && got.hash_after == want.hash_after &&
                  got.n == want.n && memcmp(got.ids, want.ids, 4 * want.n) == 0 &&
                  memcmp(got.payloads, want.payloads, PB * want.n) == 0,
              "%s: round %d differs from what was written", path, n);
        n++;
    }
    net_record_reader_close(r);
    return n;
}

static void write_rounds(const char *path, int from, int to) {
    net_record_writer *w = NULL;
    net_record_tail tail;
    if (!CHECK_OK(net_record_writer_open(path, PB, &w, &tail))) return;
    for (int i = from; i < to; i++) {
        net_record_round r = round_of(i % 4);
        CHECK_OK(net_record_append(w, &r));
    }
    CHECK_OK(net_record_writer_close(w));
}

static long read_bytes(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    long n = f ? (long)fread(buf, 1, cap, f) : -1;
    if (f) fclose(f);
    return n;
}
static void write_bytes(const char *path, const uint8_t *buf, size_t n, const char *mode) {
    FILE *f = fopen(path, mode);
    CHECK(f && fwrite(buf, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

/* The bytes on disk are the documented layout, whatever the host order. */
static void test_round_trip_and_layout(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/rt.bin", dir);
    write_rounds(path, 0, 3);
    CHECK(read_back(path) == 3, "round trip: 3 rounds expected");
    uint8_t b[4096];
    long n = read_bytes(path, b, sizeof b);
    long rec0 = 8 + 28 + 3 * (4 + PB) + 16;
    CHECK(n == 40 + rec0 + (8 + 28 + 1 * (4 + PB) + 16) + (8 + 28 + 2 * (4 + PB) + 16),
          "file of %ld bytes", n);
    static const uint8_t head[] = {'D', 'T', 'R', 'E', 'C', 'O', 'R', 'D', 2, 0, 0, 0,
                                   0,   0,   0,   0,   PB,  0,   0,   0,   0, 0, 0, 0};
    CHECK(memcmp(b, head, sizeof head) == 0, "file header is not magic | u32 2 | 0 | u64 PB");
    const uint8_t *r = b + 40; /* record 0: u64 B | u64 step | u32 lr | ... */
    static const uint8_t fields[] = {28 + 3 * (4 + PB),
                                     0,
                                     0,
                                     0,
                                     0,
                                     0,
                                     0,
                                     0, /* B */
                                     0,
                                     0,
                                     0,
                                     0,
                                     0,
                                     0,
                                     0,
                                     0, /* step 0 */
                                     0x00,
                                     0x00,
                                     0x80,
                                     0x3f, /* lr bits */
                                     0x00,
                                     0xf0,
                                     0x7f,
                                     0x3f, /* decay bits */
                                     0x00,
                                     0x77,
                                     0x66,
                                     0x55,
                                     0x44,
                                     0x33,
                                     0x22,
                                     0x11,
                                     3,
                                     0,
                                     0,
                                     0,
                                     1,
                                     0,
                                     0,
                                     0,
                                     2,
                                     0,
                                     0,
                                     0,
                                     3,
                                     0,
                                     0,
                                     0};
    CHECK(memcmp(r, fields, sizeof fields) == 0, "record 0 is not the little-endian layout");
    CHECK(memcmp(r + sizeof fields, payloads[0], 3 * PB) == 0, "record 0's payloads");
}

static void test_torn_tail(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/torn.bin", dir);
    write_rounds(path, 0, 3);
    long whole = file_size(path);
    uint8_t b[4096];
    long n = read_bytes(path, b, sizeof b);
    write_bytes(path, b + 40, 50, "ab"); /* half a record, as a killed writer leaves */
    net_record_reader *r = NULL;
    if (CHECK_OK(net_record_reader_open(path, &r))) {
        net_record_round got;
        bool end = false;
        for (int i = 0; i < 3; i++) CHECK_OK(net_record_next(r, &got, &end));
        CHECK_STATUS(net_record_next(r, &got, &end), DT_ERR_FORMAT, path, "record 3 at byte",
                     "torn: 50 of");
        net_record_reader_close(r);
    }
    net_record_tail tail;
    CHECK_OK(net_record_prepare(path, PB, &tail));
    CHECK(tail.records == 3 && tail.cut_bytes == 50 && strstr(tail.why, "torn"),
          "torn tail: %llu records kept, %llu bytes cut (%s)", (unsigned long long)tail.records,
          (unsigned long long)tail.cut_bytes, tail.why);
    CHECK(file_size(path) == whole, "the file is %ld bytes after the cut, not %ld", file_size(path),
          whole);
    write_rounds(path, 3, 5);
    CHECK(read_back(path) == 5, "after the cut the appended rounds follow the whole ones");
    /* A torn header: a writer killed while creating the file. */
    write_bytes(path, b, 20, "wb");
    CHECK_OK(net_record_prepare(path, PB, &tail));
    CHECK(tail.cut_bytes == 20 && file_size(path) == 40, "torn header: cut %llu, size %ld",
          (unsigned long long)tail.cut_bytes, file_size(path));
    CHECK(n > 60, "%s: %ld bytes", path, n);
}

static void test_flipped_byte(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/flip.bin", dir);
    write_rounds(path, 0, 4);
    uint8_t b[4096];
    long n = read_bytes(path, b, sizeof b);
    long rec2 = 40 + (8 + 28 + 3 * (4 + PB) + 16) + (8 + 28 + 1 * (4 + PB) + 16);
    b[rec2 + 8 + 28 + 8 + 5] ^= 0x10; /* a payload byte of record 2 */
    write_bytes(path, b, (size_t)n, "wb");
    net_record_reader *r = NULL;
    if (CHECK_OK(net_record_reader_open(path, &r))) {
        net_record_round got;
        bool end = false;
        CHECK_OK(net_record_next(r, &got, &end));
        CHECK_OK(net_record_next(r, &got, &end));
        char at[64];
        snprintf(at, sizeof at, "record 2 at byte %ld (step 2", rec2);
        CHECK_STATUS(net_record_next(r, &got, &end), DT_ERR_FORMAT, path, at, "checksum");
        CHECK_STATUS(net_record_next(r, &got, &end), DT_ERR_FORMAT, "stopped");
        net_record_reader_close(r);
    }
    /* The length field damaged: refused before any allocation it claims. */
    b[rec2 + 8 + 28 + 8 + 5] ^= 0x10;
    b[rec2 + 6] = 0x7f;
    write_bytes(path, b, (size_t)n, "wb");
    if (CHECK_OK(net_record_reader_open(path, &r))) {
        net_record_round got;
        bool end = false;
        CHECK_OK(net_record_next(r, &got, &end));
        CHECK_OK(net_record_next(r, &got, &end));
        CHECK_STATUS(net_record_next(r, &got, &end), DT_ERR_FORMAT, "fits no round");
        net_record_reader_close(r);
    }
    /* A writer cuts from the damaged record on, and appends after record 1. */
    net_record_tail tail;
    CHECK_OK(net_record_prepare(path, PB, &tail));
    CHECK(tail.records == 2 && file_size(path) == rec2 && strstr(tail.why, "record 2"),
          "damaged record: %llu kept, size %ld (%s)", (unsigned long long)tail.records,
          file_size(path), tail.why);
}

/* Files a writer must not touch: another format, another payload size, a
 * damaged header. */
static void test_refused(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/other.bin", dir);
    uint8_t old[100] = {0}; /* what an older build wrote: a record, no header */
    write_bytes(path, old, sizeof old, "wb");
    net_record_tail tail;
    CHECK_STATUS(net_record_prepare(path, PB, &tail), DT_ERR_FORMAT, path, "not a record file",
                 "older build");
    CHECK(file_size(path) == 100, "a foreign file was changed");
    snprintf(path, sizeof path, "%s/pb.bin", dir);
    write_rounds(path, 0, 2);
    CHECK_STATUS(net_record_prepare(path, PB + 1, &tail), DT_ERR_FORMAT, path,
                 "payloads of 24 bytes", "another run's record");
    uint8_t b[4096];
    long n = read_bytes(path, b, sizeof b);
    b[17] ^= 1; /* the header's payload size */
    write_bytes(path, b, (size_t)n, "wb");
    CHECK_STATUS(net_record_prepare(path, PB, &tail), DT_ERR_FORMAT, "header is damaged");
    CHECK(file_size(path) == n, "a file with a damaged header was changed");
}

/* Disk full, and a write cut short (the file size limit): the error names
 * the file and the reason, and a partial record is cut off again. */
static void test_write_errors(const char *dir) {
    net_record_writer *w = NULL;
    net_record_tail tail;
    CHECK_STATUS(net_record_writer_open("/dev/full", PB, &w, &tail), DT_ERR_IO, "/dev/full",
                 "No space left on device");
    int fd = open("/dev/full", O_WRONLY);
    net_record_round r = round_of(0);
    CHECK_STATUS(net_record_append_fd(fd, "/dev/full", PB, &r), DT_ERR_IO,
                 "record file /dev/full: writing the round of step 0 failed",
                 "No space left on device");
    if (fd >= 0) close(fd);

    char path[300];
    snprintf(path, sizeof path, "%s/limit.bin", dir);
    write_rounds(path, 0, 2);
    long whole = file_size(path);
    struct rlimit old, lim;
    signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) return;
    lim = old;
    lim.rlim_cur = (rlim_t)whole + 30;
    fd = open(path, O_WRONLY | O_APPEND);
    if (fd >= 0 && setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        r = round_of(2);
        CHECK_STATUS(net_record_append_fd(fd, path, PB, &r), DT_ERR_IO, path, "step 2",
                     "File too large", "the partial record was cut off");
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(file_size(path) == whole, "after a failed write the file is %ld bytes, not %ld",
              file_size(path), whole);
        CHECK(read_back(path) == 2, "the rounds before the failed one still read back");
    }
    if (fd >= 0) close(fd);
}

/* Seeds for fuzz_record: a whole file, one torn, one with a flipped byte. */
static int seeds(const char *dir) {
    char path[300];
    snprintf(path, sizeof path, "%s/whole.bin", dir);
    remove(path);
    write_rounds(path, 0, 4);
    uint8_t b[4096];
    long n = read_bytes(path, b, sizeof b);
    snprintf(path, sizeof path, "%s/torn.bin", dir);
    write_bytes(path, b, (size_t)n - 20, "wb");
    b[n / 2] ^= 4;
    snprintf(path, sizeof path, "%s/flipped.bin", dir);
    write_bytes(path, b, (size_t)n, "wb");
    return nt_failures ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0) return seeds(argv[2]);
    char dir[256];
    if (nt_make_temp_dir(dir, sizeof dir) != 0) return 1;
    test_round_trip_and_layout(dir);
    test_torn_tail(dir);
    test_flipped_byte(dir);
    test_refused(dir);
    test_write_errors(dir);
    nt_remove_dir(dir);
    return nt_finish("test_record");
}
