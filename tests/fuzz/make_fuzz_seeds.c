/* Writes the seed corpus of one fuzz target into a folder, made with the
 * project's own writers where it has them, and checks each seed is
 * accepted by the reader it seeds: mutations of valid inputs reach the
 * deep checks that random bytes never do. Deterministic (fixed keys and
 * values), so a CI run replays exactly.
 *
 *   make_fuzz_seeds safetensors|shard|keys|zap DIR
 *
 * The JSON targets' seeds are plain files under corpus/ instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "fuzz_zap_request.h"
#include "model/llmc_shard.h"
#include "model/safetensors.h"
#include "net/keys.h"

static const char *dir;
static int n_written;

static char *seed_path(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/seed-%02d-%s", dir, n_written++, name);
    return path;
}

static int write_bytes(const char *name, const void *data, size_t len) {
    const char *path = seed_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "make_fuzz_seeds: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* ---- safetensors: st_write, then st_open must accept it ----------------- */

static int write_safetensors(const char *name, const st_metadata *meta, int n_meta,
                             const st_tensor_ref *t, int n_t) {
    const char *path = seed_path(name);
    st_file *f = NULL;
    if (st_write(path, meta, n_meta, t, n_t) != DT_OK || st_open(path, &f) != DT_OK) {
        fprintf(stderr, "make_fuzz_seeds: %s\n", dt_last_error());
        return -1;
    }
    st_close(f);
    return 0;
}

static int seeds_safetensors(void) {
    static float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)(i - 12) / 8.0f;
    /* What a checkpoint holds: a config, a step, hashes; tensors of every
     * rank distro reads, a scalar and an empty one. */
    const st_metadata meta[] = {
        {"format", "distro-checkpoint-1"},
        {"config", "{\"vocab_size\":256,\"dim\":64,\"n_layers\":2,\"n_heads\":4,\"ffn_dim\":192,"
                   "\"seq_len\":32,\"rope_theta\":10000,\"tie_embeddings\":true,\"init_std\":0.02,"
                   "\"seed\":1337}"},
        {"step", "12"},
        {"optimizer", "demo"},
        {"hash", "blake2b-256/64"},
        {"param_hash", "0123456789abcdef"}};
    const st_tensor_ref t[] = {{"tok_emb", 2, {4, 3}, v},
                               {"layers.0.norm", 1, {3}, v + 12},
                               {"scale", 0, {0}, v + 15},
                               {"empty", 2, {0, 5}, NULL},
                               {"demo.momentum.tok_emb", 4, {1, 2, 1, 2}, v + 16},
                               {"\xc3\xa9t\xc3\xa9", 1, {4}, v + 20}};
    int rc = write_safetensors("checkpoint.safetensors", meta, 6, t, 6);
    rc |= write_safetensors("bare.safetensors", NULL, 0, t, 1);
    rc |= write_safetensors("metadata-only.safetensors", meta + 2, 2, NULL, 0);
    return rc;
}

/* ---- llm.c shards: header, tokens; llmc_shard_open must accept them ------- */

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int write_shard(const char *name, int32_t count, uint32_t token_mul, int64_t vocab) {
    size_t len = LLMC_SHARD_HEADER_BYTES + 2 * (size_t)count;
    unsigned char *b = calloc(1, len);
    if (!b) return -1;
    put_le32(b, LLMC_SHARD_MAGIC);
    put_le32(b + 4, LLMC_SHARD_VERSION);
    put_le32(b + 8, (uint32_t)count);
    for (int32_t i = 0; i < count; i++) {
        uint32_t t = ((uint32_t)i * token_mul + 10) % (uint32_t)vocab;
        b[LLMC_SHARD_HEADER_BYTES + 2 * i] = (unsigned char)t;
        b[LLMC_SHARD_HEADER_BYTES + 2 * i + 1] = (unsigned char)(t >> 8);
    }
    const char *path = seed_path(name);
    FILE *f = fopen(path, "wb");
    int rc = f && fwrite(b, 1, len, f) == len ? 0 : -1;
    if (f && fclose(f) != 0) rc = -1;
    free(b);
    llmc_shard s;
    if (rc == 0 && llmc_shard_open(path, vocab, &s) != DT_OK) {
        fprintf(stderr, "make_fuzz_seeds: %s\n", dt_last_error());
        rc = -1;
    }
    if (rc == 0) llmc_shard_close(&s);
    return rc;
}

static int seeds_shard(void) {
    /* Bytes (valid for a byte vocabulary), GPT-2-sized ids, one token. */
    int rc = write_shard("bytes.bin", 120, 31, 256);
    rc |= write_shard("gpt2.bin", 60, 4099, 50257);
    rc |= write_shard("one-token.bin", 1, 1, 256);
    return rc;
}

/* ---- keys files: fixed secrets, net_keys_save, net_keys_load accepts ------ */

static int fixed_key(int which, char z85[NET_KEY_Z85 + 1]) {
    uint8_t raw[NET_KEY_BYTES];
    for (int i = 0; i < NET_KEY_BYTES; i++) raw[i] = (uint8_t)(i * 11 + which * 29 + 3);
    return zmq_z85_encode(z85, raw, sizeof raw) ? 0 : -1;
}

/* A keypair whose secret is fixed bytes (zmq_curve_public derives the rest). */
static int fixed_keypair(int which, net_keys *k) {
    memset(k, 0, sizeof *k);
    if (fixed_key(which, k->secret_key) != 0 || zmq_curve_public(k->public_key, k->secret_key))
        return -1;
    k->has_keypair = true;
    return 0;
}

static int save_keys(const char *name, const net_keys *k) {
    const char *path = seed_path(name);
    net_keys back;
    if (net_keys_save(path, k, true) != DT_OK || net_keys_load(path, &back) != DT_OK) {
        fprintf(stderr, "make_fuzz_seeds: %s\n", dt_last_error());
        return -1;
    }
    net_keys_free(&back);
    return 0;
}

static int seeds_keys(void) {
    if (!zmq_has("curve")) {
        fprintf(stderr, "make_fuzz_seeds: this libzmq has no CURVE; keys seeds need it\n");
        return -1;
    }
    net_keys coord, peer;
    char k1[NET_KEY_Z85 + 1], k2[NET_KEY_Z85 + 1];
    int rc =
        fixed_keypair(0, &coord) | fixed_keypair(1, &peer) | fixed_key(2, k1) | fixed_key(3, k2);
    if (rc) return -1;
    /* The coordinator admits the peer, one key without a name, one with. */
    rc |= net_keys_add_peer(&coord, peer.public_key, "peer-a") != DT_OK;
    rc |= net_keys_add_peer(&coord, k1, NULL) != DT_OK;
    rc |= net_keys_add_peer(&coord, k2, "gpu_box-2") != DT_OK;
    rc |= save_keys("coordinator.keys", &coord);
    rc |= save_keys("peer.keys", &peer);
    /* Hand-edited: comments, blank lines, tabs, CRLF, no final newline. */
    char text[1024];
    snprintf(text, sizeof text, "# allow-list only\n\n\tpeer %s  laptop # trailing\r\npeer %s", k1,
             k2);
    rc |= write_bytes("hand.keys", text, strlen(text));
    rc |= write_bytes("bare-key", k1, NET_KEY_Z85); /* for net_key_decode alone */
    /* A line just under the parser's 1023-character limit, so mutations
     * reach the limit and what is past it. */
    char long_text[1100];
    memset(long_text, 'x', 1020);
    memcpy(long_text, "# ", 2);
    snprintf(long_text + 1020, sizeof long_text - 1020, "\npeer %s\n", k1);
    rc |= write_bytes("long-line.keys", long_text, strlen(long_text));
    net_keys_free(&coord);
    net_keys_free(&peer);
    return rc;
}

/* ---- ZAP requests (fuzz_zap_request.h) ------------------------------------ */

static int write_request(const char *name, const char *const *text, const uint8_t *key,
                         size_t key_len) {
    unsigned char buf[512];
    size_t at = 0;
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(text[i]);
        buf[at++] = (unsigned char)n;
        memcpy(buf + at, text[i], n);
        at += n;
    }
    buf[at++] = (unsigned char)key_len;
    memcpy(buf + at, key, key_len);
    return write_bytes(name, buf, at + key_len);
}

static int seeds_zap(void) {
    /* version, request id, domain, address, routing id, mechanism, key */
    const char *curve[] = {"1.0", "7", "", "192.168.1.20", "", "CURVE"};
    const char *plain[] = {"1.0", "8", "global", "10.0.0.1", "peer", "PLAIN"};
    const char *v2[] = {"2.0", "9", "", "127.0.0.1", "", "CURVE"};
    uint8_t listed[32], stranger[32];
    fuzz_zap_allowed_key(1, listed);
    for (int i = 0; i < 32; i++) stranger[i] = (uint8_t)(255 - i);
    int rc = write_request("admitted", curve, listed, 32);
    rc |= write_request("stranger", curve, stranger, 32);
    rc |= write_request("short-key", curve, listed, 31);
    rc |= write_request("plain", plain, (const uint8_t *)"user", 4);
    rc |= write_request("version", v2, listed, 32);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: make_fuzz_seeds safetensors|shard|keys|zap DIR\n");
        return 2;
    }
    dir = argv[2];
    int rc;
    if (strcmp(argv[1], "safetensors") == 0)
        rc = seeds_safetensors();
    else if (strcmp(argv[1], "shard") == 0)
        rc = seeds_shard();
    else if (strcmp(argv[1], "keys") == 0)
        rc = seeds_keys();
    else if (strcmp(argv[1], "zap") == 0)
        rc = seeds_zap();
    else {
        fprintf(stderr, "make_fuzz_seeds: unknown kind '%s'\n", argv[1]);
        return 2;
    }
    if (rc == 0) printf("make_fuzz_seeds: %d %s seeds in %s\n", n_written, argv[1], dir);
    return rc ? 1 : 0;
}
