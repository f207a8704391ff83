/* model/dataset: the embedded corpus and its split, batch determinism and
 * window placement, llm.c shards (valid and every malformed kind), the byte
 * tokenizer.
 *
 * Window placement is checked with "position shards": token i has value i,
 * so every drawn token says exactly where in the file it came from. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/dataset.h"
#include "model_test_util.h"

extern const unsigned char distro_corpus_tinyshakespeare[];
extern const unsigned long distro_corpus_tinyshakespeare_size;

#define CORPUS_BYTES 1115394
static char dir[512];

/* ---- shard files ---------------------------------------------------------- */

static void put_le32(unsigned char *p, int32_t v) {
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(u >> (8 * i));
}

/* Writes a shard whose header says (magic, version, count) and whose body
 * holds n_body tokens from body[]; extra_bytes of junk follow. */
static const char *write_shard_raw(const char *name, int32_t magic, int32_t version, int32_t count,
                                   const uint16_t *body, int64_t n_body, int extra_bytes) {
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 1024 + 2 * (size_t)n_body + (size_t)extra_bytes;
    unsigned char *buf = calloc(len, 1);
    put_le32(buf, magic);
    put_le32(buf + 4, version);
    put_le32(buf + 8, count);
    for (int64_t i = 0; i < n_body; i++) {
        buf[1024 + 2 * i] = (unsigned char)(body[i] & 0xff);
        buf[1024 + 2 * i + 1] = (unsigned char)(body[i] >> 8);
    }
    for (int i = 0; i < extra_bytes; i++) buf[1024 + 2 * n_body + i] = 0x5a;
    if (mt_write_file(path, buf, len) != 0) mt_fail(__FILE__, __LINE__, "cannot write %s", path);
    free(buf);
    return path;
}

static const char *write_shard(const char *name, const uint16_t *tokens, int64_t n) {
    return write_shard_raw(name, 20240520, 1, (int32_t)n, tokens, n, 0);
}

/* A shard with token i == i, for n <= 65536. */
static const char *write_position_shard(const char *name, int64_t n) {
    uint16_t *t = malloc((size_t)n * sizeof *t);
    for (int64_t i = 0; i < n; i++) t[i] = (uint16_t)i;
    const char *path = write_shard(name, t, n);
    free(t);
    return path;
}

/* 1 when needle[0..n) occurs in hay[0..hay_len) (memmem is a GNU extension). */
static int occurs_in(const unsigned char *hay, size_t hay_len, const char *needle, size_t n) {
    for (size_t i = 0; i + n <= hay_len; i++)
        if (hay[i] == (unsigned char)needle[0] && memcmp(hay + i, needle, n) == 0) return 1;
    return 0;
}

/* ---- the embedded corpus ------------------------------------------------------ */

static void test_builtin(void) {
    model_dataset *ds = NULL;
    if (!CHECK_OK(model_dataset_open("builtin:tinyshakespeare", 256, &ds))) return;
    CHECK(strcmp(model_dataset_name(ds), "tinyshakespeare (builtin, 1115394 tokens)") == 0,
          "name is \"%s\"", model_dataset_name(ds));
    int64_t n_train = model_dataset_train_tokens(ds), n_val = model_dataset_val_tokens(ds);
    CHECK(distro_corpus_tinyshakespeare_size == CORPUS_BYTES, "corpus has %lu bytes",
          distro_corpus_tinyshakespeare_size);
    CHECK(n_train + n_val == CORPUS_BYTES, "train %lld + val %lld", (long long)n_train,
          (long long)n_val);
    CHECK(n_train == CORPUS_BYTES * 9 / 10, "train split %lld, expected 90%% = %d",
          (long long)n_train, CORPUS_BYTES * 9 / 10);

    /* Rows are real corpus text from the train part; targets are shifted. */
    enum { B = 4, T = 64 };
    int32_t tok[B * T], tgt[B * T];
    CHECK_OK(model_dataset_train_batch(ds, 1337, 5, 2, 1, B, T, tok, tgt));
    for (int b = 0; b < B; b++) {
        char row[T + 2];
        for (int t = 0; t < T; t++) row[t] = (char)tok[b * T + t];
        row[T] = (char)tgt[b * T + T - 1];
        for (int t = 0; t + 1 < T; t++)
            CHECK(tgt[b * T + t] == tok[b * T + t + 1], "row %d: target %d not shifted", b, t);
        CHECK(occurs_in(distro_corpus_tinyshakespeare, (size_t)n_train, row, T + 1),
              "row %d is not a window of the train split", b);
    }
    /* The first validation window starts right after the train split. */
    CHECK_OK(model_dataset_val_batch(ds, 0, 1, T, tok, tgt));
    for (int t = 0; t < T; t++)
        CHECK(tok[t] == distro_corpus_tinyshakespeare[n_train + t] &&
                  tgt[t] == distro_corpus_tinyshakespeare[n_train + t + 1],
              "val window 0 token %d", t);
    model_dataset_close(ds);

    CHECK_STATUS(model_dataset_open("builtin:tinyshakespeare", 255, &ds), DT_ERR_INVALID,
                 "vocab_size", "256");
    CHECK(ds == NULL, "failed open leaves a dataset");
    CHECK_STATUS(model_dataset_open("builtin:wikitext", 256, &ds), DT_ERR_NOT_FOUND, "wikitext",
                 "tinyshakespeare");
    CHECK_STATUS(model_dataset_open("", 256, &ds), DT_ERR_INVALID, "empty");
    CHECK_STATUS(model_dataset_open(NULL, 256, &ds), DT_ERR_INVALID, "empty");
    CHECK_STATUS(model_dataset_open("builtin:tinyshakespeare", 0, &ds), DT_ERR_INVALID,
                 "vocab_size");
    model_dataset_close(NULL);
}

/* ---- batches ------------------------------------------------------------------- */

static int same(const int32_t *a, const int32_t *b, int n) {
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

static void test_train_determinism(void) {
    model_dataset *ds = NULL;
    if (!CHECK_OK(model_dataset_open("builtin:tinyshakespeare", 256, &ds))) return;
    enum { B = 3, T = 32, N = B * T };
    int32_t ref[N], ref_t[N], x[N], x_t[N];
    CHECK_OK(model_dataset_train_batch(ds, 7, 100, 3, 2, B, T, ref, ref_t));
    CHECK_OK(model_dataset_train_batch(ds, 7, 100, 3, 2, B, T, x, x_t));
    CHECK(same(ref, x, N) && same(ref_t, x_t, N), "same coordinates gave different batches");

    /* A second dataset object (another replica) draws the same batch. */
    model_dataset *other = NULL;
    if (CHECK_OK(model_dataset_open("builtin:tinyshakespeare", 512, &other))) {
        CHECK_OK(model_dataset_train_batch(other, 7, 100, 3, 2, B, T, x, x_t));
        CHECK(same(ref, x, N) && same(ref_t, x_t, N), "another dataset object differs");
        model_dataset_close(other);
    }

    /* Changing any one coordinate changes the batch. */
    struct {
        uint64_t seed;
        int64_t step, peer, micro;
        const char *what;
    } variants[] = {{8, 100, 3, 2, "seed"},
                    {7, 101, 3, 2, "step"},
                    {7, 100, 4, 2, "peer"},
                    {7, 100, 3, 3, "micro"},
                    {7, 100, 2, 3, "peer/micro swapped"}};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        CHECK_OK(model_dataset_train_batch(ds, variants[v].seed, variants[v].step, variants[v].peer,
                                           variants[v].micro, B, T, x, x_t));
        CHECK(!same(ref, x, N), "changing %s did not change the batch", variants[v].what);
    }
    /* Rows within a batch differ from each other, and a smaller batch is a
     * prefix of a larger one (row b depends only on b, not on the batch size). */
    CHECK(!same(ref, ref + T, T) && !same(ref + T, ref + 2 * T, T), "rows repeat");
    CHECK_OK(model_dataset_train_batch(ds, 7, 100, 3, 2, 1, T, x, x_t));
    CHECK(same(ref, x, T), "row 0 depends on the batch size");

    CHECK_STATUS(model_dataset_train_batch(ds, 7, 0, 0, 0, 0, T, x, x_t), DT_ERR_INVALID, "batch");
    CHECK_STATUS(model_dataset_train_batch(ds, 7, 0, 0, 0, B, T, NULL, x_t), DT_ERR_INVALID,
                 "NULL");
    CHECK_STATUS(model_dataset_val_batch(ds, -1, B, T, x, x_t), DT_ERR_INVALID, "index");
    model_dataset_close(ds);
}

static void test_windows_in_splits(void) {
    /* 100 tokens: train [0, 90), val [90, 100). With T = 8 the train starts
     * must cover exactly [0, 81]. */
    const char *path = write_position_shard("positions.bin", 100);
    model_dataset *ds = NULL;
    if (!CHECK_OK(model_dataset_open(path, 65536, &ds))) return;
    CHECK(model_dataset_train_tokens(ds) == 90 && model_dataset_val_tokens(ds) == 10,
          "split %lld/%lld", (long long)model_dataset_train_tokens(ds),
          (long long)model_dataset_val_tokens(ds));
    enum { B = 16, T = 8 };
    int32_t tok[B * T], tgt[B * T];
    int hits[90] = {0};
    for (int64_t step = 0; step < 200; step++) {
        CHECK_OK(model_dataset_train_batch(ds, 99, step, 0, 0, B, T, tok, tgt));
        for (int b = 0; b < B; b++) {
            int32_t start = tok[b * T];
            CHECK(start >= 0 && start + T < 90, "train window starts at %d", (int)start);
            if (start < 0 || start >= 90) continue;
            hits[start]++;
            for (int t = 0; t < T; t++)
                CHECK(tok[b * T + t] == start + t && tgt[b * T + t] == start + t + 1,
                      "window at %d is not contiguous", (int)start);
        }
    }
    /* 3200 draws over 82 starts: each is expected ~39 times. */
    for (int s = 0; s < 90; s++) {
        if (s <= 81)
            CHECK(hits[s] > 0, "train start %d never drawn", s);
        else
            CHECK(hits[s] == 0, "train start %d drawn (past the split)", s);
    }

    /* Validation: (10 - 1) / 3 = 3 windows of T = 3 at 90, 93, 96; batch 2
     * walks them in order and wraps. */
    int32_t v[2 * 3], vt[2 * 3];
    const int expect[4][2] = {{90, 93}, {96, 90}, {93, 96}, {90, 93}};
    for (int index = 0; index < 4; index++) {
        CHECK_OK(model_dataset_val_batch(ds, index, 2, 3, v, vt));
        for (int b = 0; b < 2; b++) {
            CHECK(v[b * 3] == expect[index][b], "val index %d row %d starts at %d, expected %d",
                  index, b, (int)v[b * 3], expect[index][b]);
            CHECK(vt[b * 3 + 2] == v[b * 3] + 3 && vt[b * 3 + 2] < 100, "val target past the end");
        }
    }
    /* Split too short for the window: 90 train tokens, 10 val tokens. */
    int32_t big[100], big_t[100];
    CHECK_STATUS(model_dataset_train_batch(ds, 1, 0, 0, 0, 1, 90, big, big_t), DT_ERR_INVALID,
                 "train split", "90");
    CHECK_OK(model_dataset_train_batch(ds, 1, 0, 0, 0, 1, 89, big, big_t));
    CHECK(big[0] == 0, "the only 89-token window starts at 0");
    CHECK_STATUS(model_dataset_val_batch(ds, 0, 1, 10, big, big_t), DT_ERR_INVALID,
                 "validation split");
    CHECK_OK(model_dataset_val_batch(ds, 5, 1, 9, big, big_t));
    CHECK(big[0] == 90 && big_t[8] == 99, "the only 9-token val window");
    model_dataset_close(ds);
}

/* ---- shards ------------------------------------------------------------------------ */

static void test_shard_round_trip(void) {
    enum { N = 5000, VOCAB = 50257 };
    uint16_t *t = malloc(N * sizeof *t);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1664525u + 1013904223u;
        t[i] = (uint16_t)((x >> 8) % VOCAB);
    }
    t[17] = VOCAB - 1; /* the largest legal token */
    const char *path = write_shard("gpt2.bin", t, N);
    model_dataset *ds = NULL;
    if (CHECK_OK(model_dataset_open(path, VOCAB, &ds))) {
        char want[700];
        snprintf(want, sizeof want, "%s (%d tokens)", path, N);
        CHECK(strcmp(model_dataset_name(ds), want) == 0, "name \"%s\"", model_dataset_name(ds));
        CHECK(model_dataset_train_tokens(ds) == 4500 && model_dataset_val_tokens(ds) == 500,
              "split of 5000");
        /* Val windows walk the file in order: compare with the written tokens. */
        int32_t tok[10 * 50], tgt[10 * 50];
        CHECK_OK(model_dataset_val_batch(ds, 0, 9, 50, tok, tgt));
        for (int i = 0; i < 9 * 50; i++)
            CHECK(tok[i] == t[4500 + i] && tgt[i] == t[4501 + i], "val token %d", i);
        model_dataset_close(ds);
    }
    /* The same file through a tighter vocabulary: the token at 17 is out. */
    CHECK_STATUS(model_dataset_open(path, VOCAB - 1, &ds), DT_ERR_FORMAT, path, "position 17",
                 "50256", "vocab_size");
    free(t);
}

static void test_shard_errors(void) {
    uint16_t body[64];
    for (int i = 0; i < 64; i++) body[i] = (uint16_t)i;
    model_dataset *ds = NULL;
    const char *p;

    p = write_shard_raw("magic.bin", 20240521, 1, 64, body, 64, 0);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "magic", "20240521");
    p = write_shard_raw("version.bin", 20240520, 2, 64, body, 64, 0);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "version 2");
    p = write_shard_raw("short.bin", 20240520, 1, 64, body, 63, 0);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "length", "truncated");
    p = write_shard_raw("odd.bin", 20240520, 1, 64, body, 63, 1);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "length", "truncated");
    p = write_shard_raw("long.bin", 20240520, 1, 64, body, 64, 2);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "length", "2 extra bytes");
    p = write_shard_raw("count.bin", 20240520, 1, 1000000, body, 64, 0);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "1000000", "truncated");
    p = write_shard_raw("negative.bin", 20240520, 1, -5, body, 0, 0);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "negative");
    p = write_shard_raw("header_only.bin", 20240520, 1, 0, body, 0, 0);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "no tokens");
    p = write_shard_raw("header_claims.bin", 20240520, 1, 10, body, 0, 0);
    CHECK_STATUS(model_dataset_open(p, 256, &ds), DT_ERR_FORMAT, p, "truncated");

    body[37] = 1000;
    p = write_shard_raw("token.bin", 20240520, 1, 64, body, 64, 0);
    CHECK_STATUS(model_dataset_open(p, 1000, &ds), DT_ERR_FORMAT, p, "token 1000", "position 37");
    CHECK_OK(model_dataset_open(p, 1001, &ds));
    model_dataset_close(ds);
    ds = NULL;

    char path[600];
    snprintf(path, sizeof path, "%s/empty.bin", dir);
    mt_write_file(path, "", 0);
    CHECK_STATUS(model_dataset_open(path, 256, &ds), DT_ERR_FORMAT, path, "empty");
    snprintf(path, sizeof path, "%s/tiny.bin", dir);
    mt_write_file(path, "\x88\xd8\x34\x01", 4); /* the magic alone */
    CHECK_STATUS(model_dataset_open(path, 256, &ds), DT_ERR_FORMAT, path, "truncated header");
    snprintf(path, sizeof path, "%s/does-not-exist.bin", dir);
    CHECK_STATUS(model_dataset_open(path, 256, &ds), DT_ERR_NOT_FOUND, path, "no such file");
    CHECK_STATUS(model_dataset_open(dir, 256, &ds), DT_ERR_IO, dir, "not a regular file");

    /* Unreadable: root reads anything, so this case only means something
     * for an ordinary user. */
    p = write_position_shard("unreadable.bin", 64);
    if (geteuid() != 0 && chmod(p, 0) == 0) {
        CHECK_STATUS(model_dataset_open(p, 65536, &ds), DT_ERR_IO, p, "cannot open");
        chmod(p, 0644);
    } else {
        printf("note: running as root, the unreadable-file case is not exercised\n");
    }
    CHECK(ds == NULL, "a failed open returned a dataset");

    /* Split sizes of a 2-token shard: 1 train, 1 val; no window fits. */
    p = write_position_shard("two.bin", 2);
    if (CHECK_OK(model_dataset_open(p, 65536, &ds))) {
        int32_t a[2], b[2];
        CHECK_STATUS(model_dataset_train_batch(ds, 0, 0, 0, 0, 1, 1, a, b), DT_ERR_INVALID,
                     "train split");
        CHECK_STATUS(model_dataset_val_batch(ds, 0, 1, 1, a, b), DT_ERR_INVALID,
                     "validation split");
        model_dataset_close(ds);
    }
}

/* ---- tokenizer -------------------------------------------------------------------- */

static void test_tokenizer(void) {
    int32_t tok[8];
    CHECK(model_tokenize_bytes("Hi\xff!", tok, 8) == 4, "4 bytes, 4 tokens");
    CHECK(tok[0] == 'H' && tok[1] == 'i' && tok[2] == 255 && tok[3] == '!',
          "bytes map to 0..255 (unsigned)");
    CHECK(model_tokenize_bytes("abcdef", tok, 3) == 3 && tok[2] == 'c', "max_tokens caps");
    CHECK(model_tokenize_bytes("", tok, 8) == 0, "empty text");

    char out[16];
    int32_t mixed[] = {'a', 300, 'b', -1, 255, 'c'};
    CHECK(model_detokenize_bytes(mixed, 6, out, sizeof out) == 4, "tokens >= 256 skipped");
    CHECK(strcmp(out, "ab\xff"
                      "c") == 0,
          "detokenized \"%s\"", out);
    CHECK(model_detokenize_bytes(mixed, 6, out, 3) == 2 && strcmp(out, "ab") == 0,
          "out_len - 1 bytes at most, NUL-terminated");
    CHECK(model_detokenize_bytes(mixed, 6, out, 1) == 0 && out[0] == '\0', "room for NUL only");

    const char *text = "To be, or not to be";
    int32_t round[32];
    int64_t n = model_tokenize_bytes(text, round, 32);
    CHECK(model_detokenize_bytes(round, n, out, sizeof out) == 15 && strncmp(out, text, 15) == 0,
          "round trip (truncated to the buffer)");
}

int main(void) {
    if (mt_make_temp_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
    }
    test_builtin();
    test_train_determinism();
    test_windows_in_splits();
    test_shard_round_trip();
    test_shard_errors();
    test_tokenizer();
    mt_remove_dir(dir);
    return mt_finish("test_dataset");
}
