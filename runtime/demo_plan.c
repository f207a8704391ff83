/* Tile plans, DCT basis, reciprocal and RoPE tables: host arithmetic that
 * every replica must agree on, so it is done here once, in double. */
#include <math.h>

#include "distro/demo_plan.h"

int64_t dt_demo_chunk(int64_t n, int64_t target) {
    if (n <= target) return n;
    for (int64_t c = target; c > 1; c--)
        if (n % c == 0) return c;
    return 1;
}

dt_status dt_demo_tile_plan(int ndim, const int64_t *shape, int64_t chunk, dt_tile_plan *out) {
    if (ndim < 1 || ndim > 8)
        return dt_error(DT_ERR_INVALID, "demo tile plan: %d dimensions (1 to 8 supported)", ndim);
    if (chunk < 1)
        return dt_error(DT_ERR_INVALID, "demo tile plan: chunk %lld must be >= 1",
                        (long long)chunk);
    int64_t rows = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return dt_error(DT_ERR_INVALID, "demo tile plan: dimension %d is %lld", i,
                            (long long)shape[i]);
        if (i < ndim - 1) rows *= shape[i];
    }
    dt_tile_plan p;
    p.rows = rows;
    p.cols = shape[ndim - 1];
    /* Leading dimensions beyond the last two are batch: chunk(n1) divides n1,
     * so tiles of the flattened rows never straddle two batch items. */
    p.tile_rows = ndim == 1 ? 1 : dt_demo_chunk(shape[ndim - 2], chunk);
    p.tile_cols = dt_demo_chunk(p.cols, chunk);
    p.tiles_per_row = p.cols / p.tile_cols;
    p.n_tiles = (p.rows / p.tile_rows) * p.tiles_per_row;
    p.tile_size = p.tile_rows * p.tile_cols;
    *out = p;
    return DT_OK;
}

void dt_dct_basis(int64_t n, float *out) {
    const double pi = 3.14159265358979323846;
    for (int64_t s = 0; s < n; s++) {
        for (int64_t j = 0; j < n; j++) {
            double c = j == 0 ? sqrt(1.0 / (double)n) : sqrt(2.0 / (double)n);
            out[s * n + j] =
                (float)(c * cos(pi * (double)(2 * s + 1) * (double)j / (2.0 * (double)n)));
        }
    }
}

void dt_recip_table(int max_count, float *out) {
    out[0] = 0.0f;
    for (int c = 1; c <= max_count; c++) out[c] = (float)(1.0 / (double)c);
}

void dt_rope_table(int64_t seq_len, int64_t head_dim, double theta, float *out) {
    int64_t half = head_dim / 2;
    for (int64_t t = 0; t < seq_len; t++) {
        for (int64_t i = 0; i < half; i++) {
            double freq = pow(theta, -2.0 * (double)i / (double)head_dim);
            double angle = (double)t * freq;
            out[(t * half + i) * 2 + 0] = (float)cos(angle);
            out[(t * half + i) * 2 + 1] = (float)sin(angle);
        }
    }
}
