/* Cross-check with the reference implementation: distro writes a file that
 * the Python `safetensors` package must read back exactly (names, shapes,
 * value bits, metadata), and reads a file that package wrote.
 *
 * usage: test_safetensors_python PYTHON SCRIPT
 * Skips (exit 77) when PYTHON is missing or cannot import safetensors and
 * numpy; scripts/setup.sh creates that venv. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "model_test_util.h"

#define SKIP 77

static uint32_t lcg(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return *x;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The tensors read_safetensors.py expects (same formulas there). */
static dt_status write_known_file(const char *path) {
    static float emb[35], norm[5], bits[72], scalar[1] = {3.25f}, four[12];
    for (int i = 0; i < 35; i++) emb[i] = (float)((i * 37) % 101) / 64.0f - 0.75f;
    for (int i = 0; i < 5; i++) norm[i] = 1.0f + (float)i / 8.0f;
    uint32_t x = 12345;
    for (int i = 0; i < 72; i++) bits[i] = from_bits(lcg(&x)); /* NaNs, denormals and all */
    for (int i = 0; i < 12; i++) four[i] = -(float)i;
    const st_tensor_ref tensors[] = {
        {"tok_embedding", 2, {7, 5}, emb}, {"layers.0.attn_norm", 1, {5}, norm},
        {"bits", 3, {3, 4, 6}, bits},      {"scalar", 0, {0}, scalar},
        {"empty", 2, {0, 4}, NULL},        {"four_d", 4, {2, 3, 1, 2}, four},
    };
    const st_metadata meta[] = {
        {"config", "{\"dim\": 128, \"name\": \"tiny \\\"quoted\\\"\"}"},
        {"step", "1234"},
        {"optimizer", "demo"},
        {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"},
    };
    return st_write(path, meta, 4, tensors, 6);
}

static void check_python_file(const char *path) {
    st_file *f = NULL;
    if (!CHECK_OK(st_open(path, &f))) return;
    CHECK(st_tensor_count(f) == 3, "%d tensors in the Python file", st_tensor_count(f));
    const char *writer = st_metadata_get(f, "writer");
    CHECK(writer && strcmp(writer, "python") == 0, "metadata writer");

    float a[12], b[8], s[1];
    int64_t shape_a[2] = {3, 4}, shape_b[3] = {2, 2, 2};
    if (CHECK_OK(st_read_f32(f, "py.a", 2, shape_a, a)))
        for (int i = 0; i < 12; i++) CHECK(a[i] == (float)i / 4.0f, "py.a[%d] = %g", i, a[i]);
    if (CHECK_OK(st_read_f32(f, "py.bits", 3, shape_b, b))) {
        uint32_t x = 777;
        for (int i = 0; i < 8; i++) {
            uint32_t want = lcg(&x), got;
            memcpy(&got, &b[i], sizeof got);
            CHECK(got == want, "py.bits[%d] = 0x%08x, expected 0x%08x", i, got, want);
        }
    }
    if (CHECK_OK(st_read_f32(f, "py.scalar", 0, NULL, s)))
        CHECK(s[0] == -1.5f, "py.scalar = %g", s[0]);
    st_close(f);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PYTHON SCRIPT\n", argv[0]);
        return 2;
    }
    char *python = argv[1], *script = argv[2];
    if (access(python, X_OK) != 0) {
        printf("SKIP: no Python test venv at %s (scripts/setup.sh creates it with "
               "safetensors and numpy)\n",
               python);
        return SKIP;
    }
    char *probe[] = {python, "-c", "import safetensors.numpy, numpy", NULL};
    if (mt_run(probe) != 0) {
        printf("SKIP: %s cannot import safetensors and numpy (pip install safetensors numpy)\n",
               python);
        return SKIP;
    }

    char dir[512], ours[600], theirs[600];
    if (mt_make_temp_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "cannot create a temporary directory\n");
        return 1;
    }
    snprintf(ours, sizeof ours, "%s/distro.safetensors", dir);
    snprintf(theirs, sizeof theirs, "%s/python.safetensors", dir);

    if (CHECK_OK(write_known_file(ours))) {
        char *check[] = {python, script, "check", ours, NULL};
        CHECK(mt_run(check) == 0, "the Python safetensors package disagrees with %s", ours);
    }
    char *write[] = {python, script, "write", theirs, NULL};
    if (mt_run(write) == 0)
        check_python_file(theirs);
    else
        CHECK(0, "%s write %s failed", script, theirs);

    mt_remove_dir(dir);
    return mt_finish("test_safetensors_python");
}
