// DeMo tile ops: DCT encode, per-tile top-k and the sparse decode-and-
// subtract of error feedback. One work-group of WG_TILE items per tile.
//
// A parameter viewed as rows x cols is cut into n1 x n2 tiles in row-major
// tile order; tile t starts at row (t / tiles_per_row) * n1 and column
// (t % tiles_per_row) * n2. Inside a tile, coefficient (a, b) has index
// a * n2 + b. f1 [n1, n1] and f2 [n2, n2] are the orthonormal DCT-II bases
// from the host, rows indexed by sample: encode X = F1^T x F2, decode
// x = F1 X F2^T. Vector helpers and TILE_ORIGIN come from common.cl.

// Work is split into units of VW consecutive outputs of one tile row (see
// common.cl), so each unit is a vector multiply-add loop.

// coeffs[t][a n2 + b] = sum_s F1[s][a] sum_m x[s][m] F2[m][b], in two
// stages through local memory: Y = x F2 (n1 x n2), then X = F1^T Y.
__kernel __attribute__((reqd_work_group_size(WG_TILE, 1, 1))) void
demo_encode(__global const float *x, ulong x_off, __global const float *f1, ulong f1_off,
            __global const float *f2, ulong f2_off, __global float *coeffs, ulong c_off, long cols,
            int n1, int n2, long tiles_per_row, __local float *y) {
    int lid = get_local_id(0), S = n1 * n2, groups = (n2 + VW - 1) / VW;
    long t = get_group_id(0);
    __global const float *xt = x + x_off + TILE_ORIGIN(t, n1, n2, cols, tiles_per_row);
    f1 += f1_off;
    f2 += f2_off;
    for (int u = lid; u < n1 * groups; u += WG_TILE) {
        int s = u / groups, b = (u % groups) * VW, avail = n2 - b;
        __global const float *xr = xt + s * cols;
        floatv acc = (floatv)(0.0f);
        for (int m = 0; m < n2; m++) acc += xr[m] * load_part_g(f2 + m * n2 + b, avail);
        store_lanes_l(y + s * n2 + b, 1, acc, avail);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    __global float *out = coeffs + c_off + t * S;
    for (int u = lid; u < n1 * groups; u += WG_TILE) {
        int a = u / groups, b = (u % groups) * VW, avail = n2 - b;
        floatv acc = (floatv)(0.0f);
        for (int s = 0; s < n1; s++) acc += f1[s * n1 + a] * load_part_l(y + s * n2 + b, avail);
        store_part_g(out + a * n2 + b, acc, avail);
    }
}

// ---- top-k ------------------------------------------------------------------
// Order: larger |value| first, and among equal |value| the lower index. The
// key of a coefficient is the bit pattern of |value|, whose unsigned order is
// the order of |value|. The k-th largest key K is found four bits at a time
// (8 passes, each a 16-bin histogram of the next digit among the keys that
// share K's digits so far); the selection is then every key > K plus the
// (k - count(key > K)) lowest-index entries with key == K, written in
// ascending index order through two prefix sums. Exactly the reference's
// choice, deterministically.

static inline uint magnitude_key(float v) { return as_uint(v) & 0x7fffffffu; }

// Sum over the group of a 16-bin histogram (every item calls it).
static uint16 group_hist_sum(__local uint16 *h, int lid, uint16 v) {
    h[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = WG_TILE / 2; span > 0; span >>= 1) {
        if (lid < span) h[lid] += h[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    uint16 total = h[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

// Exclusive prefix of v over the items in lid order.
static uint group_prefix(__local uint *counts, int lid, uint v) {
    counts[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        uint run = 0;
        for (int i = 0; i < WG_TILE; i++) {
            uint c = counts[i];
            counts[i] = run;
            run += c;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint before = counts[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    return before;
}

__kernel __attribute__((reqd_work_group_size(WG_TILE, 1, 1))) void
demo_topk(__global const float *coeffs, ulong c_off, __global int *idx, ulong i_off,
          __global float *vals, ulong v_off, int S, int k) {
    __local uint16 hist[WG_TILE];
    __local uint counts[WG_TILE];
    int lid = get_local_id(0);
    long t = get_group_id(0);
    __global const float *c = coeffs + c_off + t * S;
    const uint16 digits = (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    uint kth = 0, above = 0; // above = count(key > kth) on the digits fixed so far
    for (int shift = 28; shift >= 0; shift -= 4) {
        uint fixed = shift == 28 ? 0u : 0xffffffffu << (shift + 4);
        uint16 h = (uint16)(0);
        for (int i = lid; i < S; i += WG_TILE) {
            uint key = magnitude_key(c[i]);
            if ((key & fixed) == (kth & fixed))
                h -= as_uint16(digits == (uint16)((key >> shift) & 15u)); // true is all ones
        }
        h = group_hist_sum(hist, lid, h);
        uint bins[16];
        vstore16(h, 0, bins);
        // The largest digit j with count(key >= K | j << shift) >= k.
        uint cum = above;
        int j = 15;
        for (; j > 0; j--) {
            if (cum + bins[j] >= (uint)k) break;
            cum += bins[j];
        }
        above = cum;
        kth |= (uint)j << shift;
    }
    uint ties_wanted = (uint)k - above;

    // Each item takes a contiguous run of indices so that "lower index" and
    // "ascending output" follow from prefix sums over items.
    int chunk = (S + WG_TILE - 1) / WG_TILE;
    int begin = min(lid * chunk, S), end = min(begin + chunk, S);
    uint ties = 0;
    for (int i = begin; i < end; i++) ties += magnitude_key(c[i]) == kth;
    uint tie_rank = group_prefix(counts, lid, ties);
    uint chosen = 0;
    for (int i = begin; i < end; i++) {
        uint key = magnitude_key(c[i]);
        if (key > kth || (key == kth && tie_rank++ < ties_wanted)) chosen++;
    }
    uint pos = group_prefix(counts, lid, chosen);
    tie_rank = tie_rank - ties; // back to this item's first tie rank
    __global int *out_i = idx + i_off + t * k;
    __global float *out_v = vals + v_off + t * k;
    for (int i = begin; i < end; i++) {
        float v = c[i];
        uint key = magnitude_key(v);
        if (key > kth || (key == kth && tie_rank++ < ties_wanted)) {
            out_i[pos] = i;
            out_v[pos] = v;
            pos++;
        }
    }
}

// ---- decode and subtract ----------------------------------------------------
// D -= F1 A F2^T per tile, A zero except A[idx[e]] = vals[e] (indices outside
// [0, S) skipped). A is scattered by one item in stored order, so even
// repeated indices give one defined result (the last one wins). Stage one,
// Y = F1 A, runs in units along a row of A and is stored transposed (yt, n2
// x n1), so stage two, x = Y F2^T, runs in units down a column of Y.
__kernel __attribute__((reqd_work_group_size(WG_TILE, 1, 1))) void
demo_decode_sub(__global const int *idx, ulong i_off, __global const float *vals, ulong v_off,
                __global const float *f1, ulong f1_off, __global const float *f2, ulong f2_off,
                __global float *d, ulong d_off, long cols, int n1, int n2, long tiles_per_row,
                int k, __local float *a, __local float *yt) {
    int lid = get_local_id(0), S = n1 * n2;
    int row_groups = (n2 + VW - 1) / VW, col_groups = (n1 + VW - 1) / VW;
    long t = get_group_id(0);
    f1 += f1_off;
    f2 += f2_off;
    for (int e = lid; e < S; e += WG_TILE) a[e] = 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid == 0) {
        __global const int *ti = idx + i_off + t * k;
        __global const float *tv = vals + v_off + t * k;
        for (int e = 0; e < k; e++) {
            int i = ti[e];
            if (i >= 0 && i < S) a[i] = tv[e];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    // Y[s][b..] = sum_r F1[s][r] A[r][b..]
    for (int u = lid; u < n1 * row_groups; u += WG_TILE) {
        int s = u / row_groups, b = (u % row_groups) * VW, avail = n2 - b;
        floatv acc = (floatv)(0.0f);
        for (int r = 0; r < n1; r++) acc += f1[s * n1 + r] * load_part_l(a + r * n2 + b, avail);
        store_lanes_l(yt + b * n1 + s, n1, acc, avail);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    // x[s..][m] = sum_b Y[s..][b] F2[m][b], subtracted from D.
    __global float *dt = d + d_off + TILE_ORIGIN(t, n1, n2, cols, tiles_per_row);
    for (int u = lid; u < col_groups * n2; u += WG_TILE) {
        int s = (u / n2) * VW, m = u % n2, avail = n1 - s;
        floatv acc = (floatv)(0.0f);
        for (int b = 0; b < n2; b++) acc += load_part_l(yt + b * n1 + s, avail) * f2[m * n2 + b];
        float x[VW];
        vstore8(acc, 0, x);
        for (int i = 0; i < min(avail, VW); i++) dt[(s + i) * cols + m] -= x[i];
    }
}
