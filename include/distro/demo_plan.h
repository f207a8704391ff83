/* Host-side arithmetic of DeMo that every replica must agree on exactly:
 * the tile plan, the DCT-II basis and the reciprocal table of the canonical
 * update (DESIGN.md sections 3 and 4). Computed on the host in double and
 * rounded to float once, so no device ever evaluates cos() or divides. */
#ifndef DISTRO_DEMO_PLAN_H
#define DISTRO_DEMO_PLAN_H

#include <stdint.h>

#include "distro/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest divisor of n that is <= target (n itself when n <= target).
 * n >= 1, target >= 1. */
int64_t dt_demo_chunk(int64_t n, int64_t target);

/* How one parameter tensor is cut into tiles. A tensor of shape
 * [..., n1, n2] is viewed as `rows` x `cols` = prod(leading dims) x n2;
 * tiles are tile_rows x tile_cols (chunk(n1) x chunk(n2)) in row-major tile
 * order. A 1-D tensor [n] is one row: tile_rows = 1, tile_cols = chunk(n).
 * Inside a tile, coefficient (a, b) has index a * tile_cols + b. */
typedef struct dt_tile_plan {
    int64_t rows, cols;
    int64_t tile_rows, tile_cols;
    int64_t tiles_per_row; /* cols / tile_cols */
    int64_t n_tiles;       /* (rows / tile_rows) * (cols / tile_cols) */
    int64_t tile_size;     /* tile_rows * tile_cols */
} dt_tile_plan;

dt_status dt_demo_tile_plan(int ndim, const int64_t *shape, int64_t chunk, dt_tile_plan *out);

/* Orthonormal DCT-II basis of size n, rows indexed by sample:
 * F[s * n + j] = c_j cos(pi (2s+1) j / 2n), c_0 = sqrt(1/n), c_j = sqrt(2/n).
 * Encoding is X = F^T x, decoding x = F X. `out` holds n*n floats. */
void dt_dct_basis(int64_t n, float *out);

/* recip[0] = 0, recip[c] = (float)(1.0 / c) for 1 <= c <= max_count. */
void dt_recip_table(int max_count, float *out);

/* RoPE table for positions 0..seq_len-1 and a head of head_dim (even):
 * out[(t * head_dim/2 + i) * 2 + {0,1}] = {cos, sin}(t * theta^(-2i/head_dim)),
 * evaluated in double. */
void dt_rope_table(int64_t seq_len, int64_t head_dim, double theta, float *out);

#ifdef __cplusplus
}
#endif
#endif
