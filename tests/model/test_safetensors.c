/* model/safetensors: round trips (shapes from 0-d to 4-d, empty tensors,
 * special float bits, metadata), the on-disk layout, atomic replacement,
 * argument checks, and rejection of corrupt and hostile files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "model_test_util.h"

static char dir[512];

static const char *path_in_dir(const char *name) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* ---- round trip --------------------------------------------------------------- */

enum { N_EMB = 16 * 8, N_CUBE = 2 * 3 * 4, N_FOUR = 2 * 1 * 3 * 2 };
static float emb[N_EMB], cube[N_CUBE], four[N_FOUR], vec[5], scalar[1];

static void fill_inputs(void) {
    uint32_t x = 2024;
    for (int i = 0; i < N_EMB; i++) {
        x = x * 1664525u + 1013904223u;
        emb[i] = (float)(int32_t)x / 2147483648.0f;
    }
    for (int i = 0; i < N_CUBE; i++) cube[i] = (float)i - 11.5f;
    for (int i = 0; i < N_FOUR; i++) four[i] = 1.0f / (float)(i + 1);
    /* Bits that a careless reader or writer would change. */
    vec[0] = -0.0f;
    vec[1] = from_bits(0x7f800000); /* +inf */
    vec[2] = from_bits(0x7fc01234); /* NaN with a payload */
    vec[3] = from_bits(0x00000001); /* smallest denormal */
    vec[4] = from_bits(0xff7fffff); /* -FLT_MAX */
    scalar[0] = 3.25f;
}

static const st_tensor_ref round_trip_tensors[] = {
    {"tok_embedding", 2, {16, 8}, emb}, {"scalar", 0, {0}, scalar},
    {"layers.0.special", 1, {5}, vec},  {"empty", 2, {0, 3}, NULL},
    {"cube", 3, {2, 3, 4}, cube},       {"four", 4, {2, 1, 3, 2}, four},
};
enum { N_ROUND_TRIP = sizeof round_trip_tensors / sizeof round_trip_tensors[0] };

static void test_round_trip(void) {
    const st_metadata meta[] = {
        {"config", "{\"dim\": 128,\n \"name\": \"tiny\\\\x\"}"},
        {"step", "42"},
        {"unicode", "na\xc3\xafve \xe2\x9c\x93"},
        {"empty", ""},
    };
    const char *path = path_in_dir("round.safetensors");
    if (!CHECK_OK(st_write(path, meta, 4, round_trip_tensors, N_ROUND_TRIP))) return;
    CHECK(mt_count_entries(dir) == 1, "directory holds %d entries after a write, expected 1",
          mt_count_entries(dir));

    /* Layout: the header length is a multiple of 8 and the data section holds
     * exactly the tensors' bytes. */
    static unsigned char raw[1 << 16];
    long size = mt_read_file(path, raw, sizeof raw);
    uint64_t header_len = 0;
    for (int i = 0; i < 8; i++) header_len |= (uint64_t)raw[i] << (8 * i);
    long data_bytes = 4L * (N_EMB + 1 + 5 + 0 + N_CUBE + N_FOUR);
    CHECK(header_len % 8 == 0, "header length %llu is not a multiple of 8",
          (unsigned long long)header_len);
    CHECK(size == (long)(8 + header_len) + data_bytes, "file is %ld bytes, expected %ld", size,
          (long)(8 + header_len) + data_bytes);
    CHECK(raw[8] == '{', "header starts with '{'");
    /* Data in the given order, offsets relative to the data section. */
    CHECK(memcmp(raw + 8 + header_len, emb, sizeof emb) == 0, "first tensor at data offset 0");

    st_file *f = NULL;
    if (!CHECK_OK(st_open(path, &f))) return;
    CHECK(st_tensor_count(f) == N_ROUND_TRIP, "%d tensors", st_tensor_count(f));
    for (int i = 0; i < N_ROUND_TRIP && i < st_tensor_count(f); i++)
        CHECK(strcmp(st_tensor_name(f, i), round_trip_tensors[i].name) == 0,
              "tensor %d is \"%s\", expected \"%s\" (write order)", i, st_tensor_name(f, i),
              round_trip_tensors[i].name);
    CHECK(st_tensor_name(f, N_ROUND_TRIP) == NULL && st_tensor_name(f, -1) == NULL,
          "out-of-range index");
    for (int i = 0; i < 4; i++) {
        const char *v = st_metadata_get(f, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "metadata %s = \"%s\"", meta[i].key,
              v ? v : "(null)");
    }
    CHECK(st_metadata_get(f, "missing") == NULL, "missing metadata key");

    static float back[N_EMB];
    for (int i = 0; i < N_ROUND_TRIP; i++) {
        const st_tensor_ref *t = &round_trip_tensors[i];
        int ndim = -1;
        int64_t shape[ST_MAX_DIMS] = {-1, -1, -1, -1};
        CHECK_OK(st_tensor_info(f, t->name, &ndim, shape));
        CHECK(ndim == t->ndim, "%s: ndim %d", t->name, ndim);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            CHECK(shape[d] == t->shape[d], "%s: dim %d is %lld", t->name, d, (long long)shape[d]);
            numel *= (size_t)t->shape[d];
        }
        memset(back, 0xab, sizeof back);
        CHECK_OK(st_read_f32(f, t->name, t->ndim, t->shape, back));
        if (numel) CHECK(same_bits(back, t->data, numel), "%s: values differ", t->name);
    }

    int64_t wrong[2] = {8, 16};
    CHECK_STATUS(st_read_f32(f, "tok_embedding", 2, wrong, back), DT_ERR_FORMAT, "tok_embedding",
                 "[16, 8]", "[8, 16]");
    CHECK_STATUS(st_read_f32(f, "tok_embedding", 1, wrong, back), DT_ERR_FORMAT, "[16, 8]");
    CHECK_STATUS(st_read_f32(f, "nope", 2, wrong, back), DT_ERR_NOT_FOUND, "nope", path);
    CHECK_STATUS(st_tensor_info(f, "nope", NULL, NULL), DT_ERR_NOT_FOUND, "nope", path);
    st_close(f);
    st_close(NULL);

    /* No metadata and no tensors is a valid file too. */
    const char *empty = path_in_dir("nothing.safetensors");
    if (CHECK_OK(st_write(empty, NULL, 0, NULL, 0)) && CHECK_OK(st_open(empty, &f))) {
        CHECK(st_tensor_count(f) == 0 && st_metadata_get(f, "step") == NULL, "empty file");
        st_close(f);
    }
    unlink(empty);
}

/* ---- atomic replacement and argument checks ------------------------------------------ */

static void test_atomic_write(void) {
    const char *path = path_in_dir("ckpt.safetensors");
    float a[3] = {1, 2, 3}, b[4] = {4, 5, 6, 7};
    st_tensor_ref first = {"w", 1, {3}, a}, second = {"w", 2, {2, 2}, b};
    const st_metadata step1 = {"step", "1"}, step2 = {"step", "2"};
    CHECK_OK(st_write(path, &step1, 1, &first, 1));
    CHECK_OK(st_write(path, &step2, 1, &second, 1)); /* replaces the old file */
    CHECK(mt_count_entries(dir) == 1, "%d entries: a temporary file was left behind",
          mt_count_entries(dir));
    st_file *f = NULL;
    if (CHECK_OK(st_open(path, &f))) {
        float got[4];
        int64_t shape[2] = {2, 2};
        CHECK_OK(st_read_f32(f, "w", 2, shape, got));
        CHECK(same_bits(got, b, 4) && strcmp(st_metadata_get(f, "step"), "2") == 0,
              "the second write replaced the first");
        st_close(f);
    }

    /* Failures: the error names the path, and nothing is left behind. */
    const char *missing_dir = path_in_dir("no/such/dir/x.safetensors");
    CHECK_STATUS(st_write(missing_dir, NULL, 0, &first, 1), DT_ERR_IO, missing_dir);
    const char *blocked = path_in_dir("subdir");
    CHECK(mkdir(blocked, 0755) == 0, "mkdir %s", blocked);
    CHECK_STATUS(st_write(blocked, NULL, 0, &first, 1), DT_ERR_IO, blocked, "renaming");
    CHECK(mt_count_entries(dir) == 2, "%d entries after failed writes (expected ckpt + subdir)",
          mt_count_entries(dir));
    rmdir(blocked);

    /* Bad arguments are refused before any file is created. */
    const char *bad = path_in_dir("bad.safetensors");
    st_tensor_ref twice[2] = {first, first};
    CHECK_STATUS(st_write(bad, NULL, 0, twice, 2), DT_ERR_INVALID, "\"w\"", "repeats");
    st_tensor_ref no_data = {"x", 1, {3}, NULL};
    CHECK_STATUS(st_write(bad, NULL, 0, &no_data, 1), DT_ERR_INVALID, "NULL data");
    st_tensor_ref five_d = {"x", 5, {1, 1, 1, 1}, a};
    CHECK_STATUS(st_write(bad, NULL, 0, &five_d, 1), DT_ERR_INVALID, "ndim 5");
    st_tensor_ref negative = {"x", 1, {-3}, a};
    CHECK_STATUS(st_write(bad, NULL, 0, &negative, 1), DT_ERR_INVALID, "-3");
    st_tensor_ref huge = {"x", 4, {1 << 20, 1 << 20, 1 << 20, 1 << 20}, a};
    CHECK_STATUS(st_write(bad, NULL, 0, &huge, 1), DT_ERR_INVALID, "too large");
    st_tensor_ref reserved = {"__metadata__", 1, {3}, a};
    CHECK_STATUS(st_write(bad, NULL, 0, &reserved, 1), DT_ERR_INVALID, "reserved");
    st_tensor_ref latin1 = {"caf\xe9", 1, {3}, a};
    CHECK_STATUS(st_write(bad, NULL, 0, &latin1, 1), DT_ERR_INVALID, "UTF-8");
    const st_metadata dup_meta[2] = {{"k", "1"}, {"k", "2"}};
    CHECK_STATUS(st_write(bad, dup_meta, 2, &first, 1), DT_ERR_INVALID, "\"k\"", "repeats");
    const st_metadata null_meta = {"k", NULL};
    CHECK_STATUS(st_write(bad, &null_meta, 1, &first, 1), DT_ERR_INVALID, "NULL");
    CHECK(access(bad, F_OK) != 0, "a refused write created %s", bad);
    CHECK(mt_count_entries(dir) == 1, "refused writes left %d entries", mt_count_entries(dir));
    unlink(path);
}

/* ---- corrupt and hostile files ----------------------------------------------------------- */

/* Writes 8-byte length + header text (length given or strlen) + data bytes. */
static const char *write_raw(const char *name, uint64_t claimed_len, const char *header,
                             size_t data_bytes) {
    const char *path = path_in_dir(name);
    size_t hlen = strlen(header);
    size_t len = 8 + hlen + data_bytes;
    unsigned char *buf = calloc(len, 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(claimed_len >> (8 * i));
    memcpy(buf + 8, header, hlen);
    for (size_t i = 0; i < data_bytes; i++) buf[8 + hlen + i] = (unsigned char)i;
    mt_write_file(path, buf, len);
    free(buf);
    return path;
}

static const char *write_header(const char *name, const char *header, size_t data_bytes) {
    return write_raw(name, strlen(header), header, data_bytes);
}

static void expect_rejected(const char *path, dt_status want, const char *needle) {
    st_file *f = NULL;
    CHECK_STATUS(st_open(path, &f), want, path, needle);
    CHECK(f == NULL, "%s: a rejected file returned a handle", path);
    st_close(f);
}

/* The file: length field, size, cuts. */
static void test_corrupt_files(void) {
    const char *p;
    /* Accepted: padding with any whitespace, gaps between tensors, no tensors. */
    p = write_header("ok.st",
                     "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} \n\t",
                     16);
    st_file *f = NULL;
    if (CHECK_OK(st_open(p, &f))) {
        CHECK(st_tensor_count(f) == 2 && strcmp(st_tensor_name(f, 0), "b") == 0, "file order");
        st_close(f);
    }
    p = write_header("empty_object.st", "{}", 0);
    if (CHECK_OK(st_open(p, &f))) st_close(f);

    /* Length field and size. */
    p = path_in_dir("empty.st");
    mt_write_file(p, "", 0);
    expect_rejected(p, DT_ERR_FORMAT, "too short");
    p = path_in_dir("seven.st");
    mt_write_file(p, "\x02\0\0\0\0\0\0", 7);
    expect_rejected(p, DT_ERR_FORMAT, "too short");
    p = write_raw("long_len.st", 4096, "{}", 0);
    expect_rejected(p, DT_ERR_FORMAT, "larger than");
    p = write_raw("huge_len.st", UINT64_MAX, "{}", 0);
    expect_rejected(p, DT_ERR_FORMAT, "limit");
    p = write_raw("zero_len.st", 0, "", 4);
    expect_rejected(p, DT_ERR_FORMAT, "too short");

    /* A valid file cut inside its header and inside its data. */
    float w[4] = {1, 2, 3, 4};
    st_tensor_ref t = {"w", 2, {2, 2}, w};
    p = path_in_dir("cut.st");
    if (CHECK_OK(st_write(p, NULL, 0, &t, 1))) {
        CHECK(truncate(p, 40) == 0, "truncate");
        expect_rejected(p, DT_ERR_FORMAT, "larger than");
    }
    if (CHECK_OK(st_write(p, NULL, 0, &t, 1))) {
        static unsigned char raw[4096];
        long size = mt_read_file(p, raw, sizeof raw);
        CHECK(truncate(p, size - 1) == 0, "truncate");
        expect_rejected(p, DT_ERR_FORMAT, "past the data section");
    }
    /* A file that shrinks after a successful open: an I/O error, not a crash. */
    if (CHECK_OK(st_write(p, NULL, 0, &t, 1)) && CHECK_OK(st_open(p, &f))) {
        static unsigned char raw[4096];
        long size = mt_read_file(p, raw, sizeof raw);
        CHECK(truncate(p, size - 8) == 0, "truncate");
        float got[4];
        CHECK_STATUS(st_read_f32(f, "w", 2, t.shape, got), DT_ERR_IO, "\"w\"");
        st_close(f);
    }
}

/* The header's JSON and its entries. */
static void test_corrupt_headers(void) {
    const char *p;
    st_file *f = NULL;
    expect_rejected(write_header("json.st", "{\"a\": {\"dtype\": ", 0), DT_ERR_FORMAT,
                    "not valid JSON");
    expect_rejected(write_header("array.st", "[1, 2]", 0), DT_ERR_FORMAT, "not a JSON object");
    expect_rejected(write_header("trailing.st", "{}  x", 0), DT_ERR_FORMAT, "after the header");
    {
        const char text[] = "{\"a\0b\":{}}";
        p = path_in_dir("nul2.st");
        unsigned char buf[8 + sizeof text - 1] = {sizeof text - 1};
        memcpy(buf + 8, text, sizeof text - 1);
        mt_write_file(p, buf, sizeof buf);
        expect_rejected(p, DT_ERR_FORMAT, "NUL");
    }

    /* Entries. */
#define ENTRY(name, body) "\"" name "\":{" body "}"
    expect_rejected(write_header("range.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[100],"
                                                "\"data_offsets\":[0,400]") "}",
                                 16),
                    DT_ERR_FORMAT, "past the data section");
    expect_rejected(write_header("backwards.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[1],"
                                                "\"data_offsets\":[8,4]") "}",
                                 16),
                    DT_ERR_FORMAT, "backwards");
    expect_rejected(
        write_header(
            "overlap.st",
            "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]") "," ENTRY(
                "y", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]") "}",
            32),
        DT_ERR_FORMAT, "overlap");
    expect_rejected(write_header("mismatch.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[2,2],"
                                                "\"data_offsets\":[0,12]") "}",
                                 16),
                    DT_ERR_FORMAT, "needs 16 bytes");
    expect_rejected(
        write_header("overflow.st",
                     "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,"
                                    "4294967296],\"data_offsets\":[0,16]") "}",
                     16),
        DT_ERR_FORMAT, "needs more than");
    expect_rejected(write_header("f16.st",
                                 "{" ENTRY("x", "\"dtype\":\"F16\",\"shape\":[2],"
                                                "\"data_offsets\":[0,4]") "}",
                                 4),
                    DT_ERR_UNSUPPORTED, "F16");
    expect_rejected(write_header("q9.st",
                                 "{" ENTRY("x", "\"dtype\":\"Q9\",\"shape\":[2],"
                                                "\"data_offsets\":[0,4]") "}",
                                 4),
                    DT_ERR_FORMAT, "unknown dtype");
    expect_rejected(write_header("nodtype.st",
                                 "{" ENTRY("x", "\"shape\":[1],"
                                                "\"data_offsets\":[0,4]") "}",
                                 4),
                    DT_ERR_FORMAT, "dtype");
    expect_rejected(write_header("shape.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":4,"
                                                "\"data_offsets\":[0,16]") "}",
                                 16),
                    DT_ERR_FORMAT, "shape");
    expect_rejected(write_header("negdim.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[-4],"
                                                "\"data_offsets\":[0,16]") "}",
                                 16),
                    DT_ERR_FORMAT, "shape[0]");
    expect_rejected(write_header("fracdim.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[1.5],"
                                                "\"data_offsets\":[0,16]") "}",
                                 16),
                    DT_ERR_FORMAT, "shape[0]");
    expect_rejected(write_header("fivedim.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\","
                                                "\"shape\":[1,1,1,1,1],"
                                                "\"data_offsets\":[0,4]") "}",
                                 4),
                    DT_ERR_UNSUPPORTED, "5 dimensions");
    expect_rejected(write_header("offsets3.st",
                                 "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[1],"
                                                "\"data_offsets\":[0,4,8]") "}",
                                 8),
                    DT_ERR_FORMAT, "data_offsets");
    expect_rejected(write_header("notobj.st", "{\"x\":3}", 0), DT_ERR_FORMAT, "not an object");
    expect_rejected(
        write_header(
            "dup.st",
            "{" ENTRY("x", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") "," ENTRY(
                "x", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") "}",
            8),
        DT_ERR_FORMAT, "twice");
    expect_rejected(write_header("meta.st", "{\"__metadata__\":{\"step\":3}}", 0), DT_ERR_FORMAT,
                    "\"step\" is not a string");
    expect_rejected(write_header("meta2.st", "{\"__metadata__\":[\"a\"]}", 0), DT_ERR_FORMAT,
                    "__metadata__");
#undef ENTRY

    p = path_in_dir("missing.st");
    CHECK_STATUS(st_open(p, &f), DT_ERR_NOT_FOUND, p);
    CHECK_STATUS(st_open(dir, &f), DT_ERR_IO, "not a regular file");
}

int main(void) {
    if (mt_make_temp_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
    }
    fill_inputs();
    test_round_trip();
    unlink(path_in_dir("round.safetensors"));
    test_atomic_write();
    test_corrupt_files();
    test_corrupt_headers();
    mt_remove_dir(dir);
    return mt_finish("test_safetensors");
}
