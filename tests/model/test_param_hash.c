/* The parameter hash and the checkpoint checksums against an independent
 * BLAKE2b: Python's hashlib (blake2b_reference.py). The weights of a fresh
 * tiny model are dumped as little-endian fp32 in layout order; their
 * BLAKE2b-256 must be what hashlib computes, and model_param_hash its first
 * 8 bytes read little-endian. A checkpoint with two state groups is then
 * checked by the script from the raw file bytes.
 *
 * usage: test_param_hash PYTHON SCRIPT
 * The known answers below (from hashlib) are checked first, always; the
 * cross-check skips (exit 77) when PYTHON cannot be run. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "model/hash.h"
#include "model_test_util.h"

/* hashlib.blake2b(struct.pack('<...f', ...), digest_size=32).hexdigest() */
static void known_answers(void) {
    static const struct {
        float x[3];
        int n;
        const char *hex;
    } kat[] = {
        {{0}, 0, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"},
        {{1.0f}, 1, "5030e918903d9b00a4f69c64e67f10a3ff440481bcf551be701ae3e3a830333b"},
        {{1.0f, -2.5f, 0.0f},
         3,
         "fb9441b4bda7e2f063efb90168300e29303c9d35cc796cf3056e2ab786388e70"},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint8_t d[MODEL_DIGEST_BYTES];
        char hex[2 * MODEL_DIGEST_BYTES + 1];
        model_digest_f32(kat[i].x, kat[i].n, d);
        model_digest_hex(d, hex);
        CHECK(strcmp(hex, kat[i].hex) == 0, "known answer %zu: %s, hashlib says %s", i, hex,
              kat[i].hex);
    }
    /* The prefix is little-endian: byte 0 is the lowest. */
    uint8_t d[MODEL_DIGEST_BYTES] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88};
    CHECK(model_digest_prefix64(d) == 0x8807060504030201ull, "prefix64 is not little-endian");
}

/* The dense weights as little-endian bytes in a file; their hash and full
 * digest as this build computes them from the floats. */
static int dump_weights(model *m, const char *path, uint64_t *hash_host,
                        char hex[2 * MODEL_DIGEST_BYTES + 1]) {
    const model_layout *l = model_get_layout(m);
    float *dense = malloc((size_t)l->total * sizeof(float));
    unsigned char *bytes = malloc((size_t)l->total * 4);
    int64_t n = 0;
    for (int i = 0; i < l->n_params; i++) n += l->params[i].numel;
    int rc = !dense || !bytes || !CHECK_OK(model_download_weights(m, dense));
    for (int64_t i = 0; !rc && i < n; i++) {
        uint32_t u;
        memcpy(&u, &dense[i], 4);
        for (int b = 0; b < 4; b++) bytes[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
    if (!rc) rc = mt_write_file(path, bytes, (size_t)n * 4);
    if (!rc) {
        uint8_t d[MODEL_DIGEST_BYTES];
        model_digest_f32(dense, n, d);
        model_digest_hex(d, hex);
        *hash_host = model_hash_host(l, dense);
    }
    free(dense);
    free(bytes);
    return rc;
}

/* A buffer laid out like the weights, filled with values that differ per
 * group (so a group hashed in another's place fails). */
static dt_buffer *state_group(model *m, float scale) {
    dt_buffer *b = NULL;
    size_t bytes = dt_buffer_size(model_weights_buffer(m));
    float *v = calloc(bytes / 4, sizeof(float));
    if (!v || !CHECK_OK(dt_buffer_alloc(model_get_device(m), bytes, &b))) {
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < bytes / 4; i++) v[i] = scale * (float)((i * 2654435761u) % 1000) / 999;
    CHECK_OK(dt_buffer_upload(b, 0, v, bytes));
    free(v);
    return b;
}

int main(int argc, char **argv) {
    known_answers();
    if (mt_failures) return mt_finish("test_param_hash");
    char *python = argc > 2 ? argv[1] : "", *script = argc > 2 ? argv[2] : "";
    char *probe[] = {python, "-c", "import hashlib; hashlib.blake2b(digest_size=32)", NULL};
    if (!*python || mt_run(probe) != 0) {
        printf("SKIP: no python3 with hashlib (\"%s\") to cross-check BLAKE2b against; the "
               "known answers passed\n",
               python);
        return 77;
    }
    char dir[256], weights[300], ck[300];
    if (mt_make_temp_dir(dir, sizeof dir) != 0) return 1;
    snprintf(weights, sizeof weights, "%s/weights.bin", dir);
    snprintf(ck, sizeof ck, "%s/ck.safetensors", dir);

    dt_device *dev = NULL;
    model *m = NULL;
    model_config cfg;
    if (!CHECK_OK(dt_device_open("cpu", &dev)) || !CHECK_OK(model_config_preset("tiny", &cfg)) ||
        !CHECK_OK(model_create(dev, &cfg, 1, &m)) || !CHECK_OK(model_init_weights(m)))
        return mt_finish("test_param_hash");

    uint64_t hash = 0, host = 0;
    char hex[2 * MODEL_DIGEST_BYTES + 1] = "", prefix[17];
    CHECK_OK(model_param_hash(m, &hash));
    CHECK(dump_weights(m, weights, &host, hex) == 0, "cannot dump the weights to %s", weights);
    CHECK(hash == host, "model_param_hash %016llx, model_hash_host %016llx",
          (unsigned long long)hash, (unsigned long long)host);
    snprintf(prefix, sizeof prefix, "%016llx", (unsigned long long)hash);
    char *raw[] = {python, script, "raw", weights, hex, prefix, NULL};
    CHECK(mt_run(raw) == 0, "hashlib disagrees with the parameter hash (see above)");

    dt_buffer *m1 = state_group(m, 1.0f), *m2 = state_group(m, -3.0f);
    model_state_group groups[] = {{"adamw.m", m1}, {"worker1.adamw.m", m2}};
    if (m1 && m2 && CHECK_OK(model_checkpoint_save(ck, m, "adamw", 7, groups, 2, NULL, 0))) {
        char *cp[] = {python, script, "checkpoint", ck, NULL};
        CHECK(mt_run(cp) == 0, "hashlib disagrees with the checkpoint's hashes (see above)");
    }
    dt_buffer_free(m1);
    dt_buffer_free(m2);
    model_destroy(m);
    dt_device_close(dev);
    mt_remove_dir(dir);
    return mt_finish("test_param_hash");
}
