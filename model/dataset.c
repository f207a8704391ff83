/* Training data: a flat token array (the embedded corpus as bytes, or a
 * mapped llm.c shard), split by position into train (first 90%) and
 * validation (last 10%), and batches drawn from it.
 *
 * A training batch is a pure function of (seed, step, peer, micro): every
 * row's window start is a counter-based hash of those coordinates and the
 * row index, so no generator state exists that a restart, a replica or a
 * coordinator reassigning micro-batches would have to carry along. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/dataset.h"
#include "model/llmc_shard.h"

/* The default corpus, embedded by model/CMakeLists.txt (NUL-terminated). */
extern const unsigned char distro_corpus_tinyshakespeare[];
extern const unsigned long distro_corpus_tinyshakespeare_size;

#define BUILTIN_PREFIX "builtin:"
#define BUILTIN_NAMES  "tinyshakespeare"
#define BYTE_VOCAB     256

struct model_dataset {
    /* Exactly one source: bytes (the builtin corpus) or a mapped shard. */
    const unsigned char *bytes;
    llmc_shard shard;
    int64_t n_tokens;
    int64_t n_train; /* tokens [0, n_train) train, [n_train, n_tokens) validation */
    char *name;
};

static inline int32_t token_at(const model_dataset *ds, int64_t i) {
    return ds->bytes ? (int32_t)ds->bytes[i] : llmc_shard_token(&ds->shard, i);
}

/* 90/10 by position; floor, so validation gets the rounding remainder.
 * n_tokens < 2^62 for any real source, so 9 * n cannot overflow. */
static int64_t train_split(int64_t n_tokens) {
    return n_tokens / 10 * 9 + (n_tokens % 10) * 9 / 10;
}

static dt_status set_name(model_dataset *ds, const char *fmt_name, const char *suffix) {
    int len = snprintf(NULL, 0, "%s (%s%lld tokens)", fmt_name, suffix, (long long)ds->n_tokens);
    if (len < 0) return dt_error(DT_ERR_INVALID, "dataset: cannot format the name");
    ds->name = malloc((size_t)len + 1);
    if (!ds->name) return dt_error(DT_ERR_OOM, "dataset: out of memory for the name");
    snprintf(ds->name, (size_t)len + 1, "%s (%s%lld tokens)", fmt_name, suffix,
             (long long)ds->n_tokens);
    return DT_OK;
}

static dt_status open_builtin(const char *which, int64_t vocab_size, model_dataset *ds) {
    if (strcmp(which, "tinyshakespeare") != 0)
        return dt_error(DT_ERR_NOT_FOUND,
                        "dataset: no builtin corpus \"%s\" (builtin corpora: " BUILTIN_NAMES ")",
                        which);
    if (vocab_size < BYTE_VOCAB)
        return dt_error(DT_ERR_INVALID,
                        "dataset: builtin:tinyshakespeare is byte-level and needs vocab_size >= "
                        "%d, got %lld",
                        BYTE_VOCAB, (long long)vocab_size);
    ds->bytes = distro_corpus_tinyshakespeare;
    ds->n_tokens = (int64_t)distro_corpus_tinyshakespeare_size;
    return set_name(ds, "tinyshakespeare", "builtin, ");
}

dt_status model_dataset_open(const char *spec, int64_t vocab_size, model_dataset **out) {
    if (!out) return dt_error(DT_ERR_INVALID, "dataset: out is NULL");
    *out = NULL;
    if (!spec || !spec[0])
        return dt_error(DT_ERR_INVALID,
                        "dataset: empty spec (use builtin:tinyshakespeare or a .bin path)");
    if (vocab_size <= 0)
        return dt_error(DT_ERR_INVALID, "dataset %s: vocab_size must be positive, got %lld", spec,
                        (long long)vocab_size);

    model_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return dt_error(DT_ERR_OOM, "dataset %s: out of memory", spec);

    dt_status s;
    size_t prefix_len = strlen(BUILTIN_PREFIX);
    if (strncmp(spec, BUILTIN_PREFIX, prefix_len) == 0) {
        s = open_builtin(spec + prefix_len, vocab_size, ds);
    } else {
        s = llmc_shard_open(spec, vocab_size, &ds->shard);
        if (s == DT_OK) {
            ds->n_tokens = ds->shard.n_tokens;
            s = set_name(ds, spec, "");
        }
    }
    if (s != DT_OK) {
        model_dataset_close(ds);
        return s;
    }
    ds->n_train = train_split(ds->n_tokens);
    *out = ds;
    return DT_OK;
}

void model_dataset_close(model_dataset *ds) {
    if (!ds) return;
    llmc_shard_close(&ds->shard);
    free(ds->name);
    free(ds);
}

dt_status model_dataset_check(const model_dataset *ds, int64_t seq_len) {
    if (!ds) return dt_error(DT_ERR_INVALID, "dataset check: dataset is NULL");
    if (seq_len <= 0 || seq_len > INT64_MAX / 20)
        return dt_error(DT_ERR_INVALID, "dataset %s: seq_len %lld is out of range", ds->name,
                        (long long)seq_len);
    int64_t need = seq_len + 1, n_val = ds->n_tokens - ds->n_train;
    if (ds->n_train >= need && n_val >= need) return DT_OK;
    bool train_short = n_val >= need; /* the validation split is the smaller but for a few tokens */
    /* The smallest dataset whose splits both hold `need` tokens. */
    int64_t total = need * 10;
    while (train_split(total - 1) >= need && total - 1 - train_split(total - 1) >= need) total--;
    return dt_error(DT_ERR_INVALID,
                    "dataset %s is too short for seq_len %lld: its %s split (the %s) has %lld "
                    "tokens and needs at least %lld, so the dataset needs %lld tokens or more",
                    ds->name, (long long)seq_len, train_short ? "train" : "validation",
                    train_short ? "first 90%" : "last 10%",
                    (long long)(train_short ? ds->n_train : n_val), (long long)need,
                    (long long)total);
}

const char *model_dataset_name(const model_dataset *ds) {
    return ds && ds->name ? ds->name : "";
}

int64_t model_dataset_train_tokens(const model_dataset *ds) {
    return ds ? ds->n_train : 0;
}

int64_t model_dataset_val_tokens(const model_dataset *ds) {
    return ds ? ds->n_tokens - ds->n_train : 0;
}

/* ---- batches ----------------------------------------------------------------- */

/* splitmix64's output function (Steele, Lea, Flood 2014): a bijection on
 * 64-bit words with good avalanche, the usual finaliser for counter hashes. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Folds one coordinate into the hash state. For a fixed state the result is
 * a bijection of the coordinate, so two batches that differ in any single
 * coordinate get different row streams. */
static uint64_t fold(uint64_t h, uint64_t coordinate) {
    return mix64(h ^ mix64(coordinate + 0x9e3779b97f4a7c15ULL));
}

/* Uniform draw in [0, range) from the hash stream rooted at h. Rejection
 * (re-mixing) instead of a bare modulo keeps it exactly uniform; the loop
 * runs more than once with probability < range / 2^64. */
static uint64_t uniform_below(uint64_t h, uint64_t range) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % range; /* multiple of range */
    uint64_t x = mix64(h);
    while (x >= limit) x = mix64(x + 0x9e3779b97f4a7c15ULL);
    return x % range;
}

static dt_status check_batch_args(const char *what, const model_dataset *ds, int64_t batch,
                                  int64_t seq_len, const int32_t *tokens, const int32_t *targets) {
    if (!ds) return dt_error(DT_ERR_INVALID, "%s: dataset is NULL", what);
    if (!tokens || !targets)
        return dt_error(DT_ERR_INVALID, "%s: tokens and targets must not be NULL", what);
    if (batch <= 0 || seq_len <= 0)
        return dt_error(DT_ERR_INVALID, "%s: batch %lld and seq_len %lld must be positive", what,
                        (long long)batch, (long long)seq_len);
    if (batch > INT64_MAX / seq_len)
        return dt_error(DT_ERR_INVALID, "%s: batch %lld x seq_len %lld overflows", what,
                        (long long)batch, (long long)seq_len);
    return DT_OK;
}

/* Row b of the output: seq_len tokens from `start`, targets one further. */
static void copy_window(const model_dataset *ds, int64_t start, int64_t seq_len, int32_t *tokens,
                        int32_t *targets) {
    for (int64_t t = 0; t < seq_len; t++) {
        tokens[t] = token_at(ds, start + t);
        targets[t] = token_at(ds, start + t + 1);
    }
}

dt_status model_dataset_train_batch(const model_dataset *ds, uint64_t seed, int64_t step,
                                    int64_t peer, int64_t micro, int64_t batch, int64_t seq_len,
                                    int32_t *tokens, int32_t *targets) {
    dt_status s = check_batch_args("train batch", ds, batch, seq_len, tokens, targets);
    if (s != DT_OK) return s;
    /* A window needs seq_len inputs plus one more target, all inside train. */
    if (ds->n_train < seq_len + 1)
        return dt_error(DT_ERR_INVALID,
                        "train batch: %s: the train split has %lld tokens, fewer than seq_len + "
                        "1 = %lld",
                        ds->name, (long long)ds->n_train, (long long)seq_len + 1);

    uint64_t h = mix64(seed);
    h = fold(h, (uint64_t)step);
    h = fold(h, (uint64_t)peer);
    h = fold(h, (uint64_t)micro);
    /* Starts in [0, n_train - seq_len - 1], so the last target is < n_train. */
    uint64_t n_starts = (uint64_t)(ds->n_train - seq_len);
    for (int64_t b = 0; b < batch; b++) {
        int64_t start = (int64_t)uniform_below(fold(h, (uint64_t)b), n_starts);
        copy_window(ds, start, seq_len, tokens + b * seq_len, targets + b * seq_len);
    }
    return DT_OK;
}

dt_status model_dataset_val_batch(const model_dataset *ds, int64_t index, int64_t batch,
                                  int64_t seq_len, int32_t *tokens, int32_t *targets) {
    dt_status s = check_batch_args("val batch", ds, batch, seq_len, tokens, targets);
    if (s != DT_OK) return s;
    if (index < 0)
        return dt_error(DT_ERR_INVALID, "val batch: index %lld must be >= 0", (long long)index);
    int64_t n_val = ds->n_tokens - ds->n_train;
    if (n_val < seq_len + 1)
        return dt_error(DT_ERR_INVALID,
                        "val batch: %s: the validation split has %lld tokens, fewer than "
                        "seq_len + 1 = %lld",
                        ds->name, (long long)n_val, (long long)seq_len + 1);

    /* Non-overlapping windows of seq_len tokens; the one extra token each
     * window needs as its last target stays inside the split. Window w of
     * the whole sequence is index * batch + b, taken modulo n_windows. The
     * products stay far below 2^63: n_windows < 2^31 for a shard (int32
     * count) and about 10^5 for the builtin corpus. */
    uint64_t n_windows = (uint64_t)((n_val - 1) / seq_len);
    uint64_t first = ((uint64_t)index % n_windows) * ((uint64_t)batch % n_windows) % n_windows;
    for (int64_t b = 0; b < batch; b++) {
        uint64_t w = (first + (uint64_t)b % n_windows) % n_windows;
        int64_t start = ds->n_train + (int64_t)w * seq_len;
        copy_window(ds, start, seq_len, tokens + b * seq_len, targets + b * seq_len);
    }
    return DT_OK;
}

/* ---- byte-level tokenizer --------------------------------------------------- */

int64_t model_tokenize_bytes(const char *text, int32_t *tokens, int64_t max_tokens) {
    if (!text || !tokens || max_tokens <= 0) return 0;
    int64_t n = 0;
    while (n < max_tokens && text[n]) {
        tokens[n] = (int32_t)(unsigned char)text[n];
        n++;
    }
    return n;
}

int64_t model_detokenize_bytes(const int32_t *tokens, int64_t n, char *out, int64_t out_len) {
    if (!out || out_len <= 0) return 0;
    int64_t written = 0;
    for (int64_t i = 0; tokens && i < n && written < out_len - 1; i++) {
        /* Tokens outside the byte range (a larger model vocab) have no text. */
        if (tokens[i] < 0 || tokens[i] >= BYTE_VOCAB) continue;
        out[written++] = (char)(unsigned char)tokens[i];
    }
    out[written] = '\0';
    return written;
}
