// Elementwise ops, AdamW, the DeMo momentum and the two reductions.
//
// Every view arrives as (pointer, element offset): views start anywhere in a
// buffer. Global sizes are rounded up to the work-group size, so every kernel
// checks its index. Outputs may alias inputs (ops.h): each work-item reads
// its own elements before writing them and touches no other.
//
// WG_1D, WG_REDUCE and REDUCE_GROUPS come from the build options.

__kernel void add_f32(__global const float *a, ulong a_off, __global const float *b, ulong b_off,
                      __global float *y, ulong y_off, long n) {
    long i = get_global_id(0);
    if (i >= n) return;
    y[y_off + i] = a[a_off + i] + b[b_off + i];
}

__kernel void scale_f32(__global const float *x, ulong x_off, float alpha, __global float *y,
                        ulong y_off, long n) {
    long i = get_global_id(0);
    if (i >= n) return;
    y[y_off + i] = alpha * x[x_off + i];
}

__kernel void fill_f32(__global float *y, ulong y_off, float value, long n) {
    long i = get_global_id(0);
    if (i >= n) return;
    y[y_off + i] = value;
}

// The rows x cols block of each batch item of a strided matrix (the C of a
// GEMM with beta == 0, which must not be read). Global: (cols, rows, batch).
__kernel void fill_matrix_f32(__global float *y, ulong y_off, long rows, long cols, long ld,
                              long stride, float value) {
    long c = get_global_id(0), r = get_global_id(1), b = get_global_id(2);
    if (c >= cols || r >= rows) return;
    y[y_off + b * stride + r * ld + c] = value;
}

// m = b1 m + (1 - b1) g',  v = b2 v + (1 - b2) g'^2,  g' = grad_scale g
// p = p (1 - lr wd) - lr (m / bias1) / (sqrt(v / bias2) + eps)
__kernel void adamw_f32(__global float *p, ulong p_off, __global const float *g, ulong g_off,
                        __global float *m, ulong m_off, __global float *v, ulong v_off, long n,
                        float lr, float beta1, float beta2, float eps, float weight_decay,
                        float bias1, float bias2, float grad_scale) {
    long i = get_global_id(0);
    if (i >= n) return;
    float gi = grad_scale * g[g_off + i];
    float mi = beta1 * m[m_off + i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[v_off + i] + (1.0f - beta2) * gi * gi;
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    float step = (mi / bias1) / (sqrt(vi / bias2) + eps);
    p[p_off + i] = p[p_off + i] * (1.0f - lr * weight_decay) - lr * step;
}

// D = beta D + lr g (the learning rate folded into the momentum).
__kernel void demo_momentum_f32(__global float *d, ulong d_off, __global const float *g,
                                ulong g_off, long n, float beta, float lr) {
    long i = get_global_id(0);
    if (i >= n) return;
    d[d_off + i] = beta * d[d_off + i] + lr * g[g_off + i];
}

// ---- deterministic two-pass reductions ------------------------------------
// Pass 1 runs exactly REDUCE_GROUPS work-groups of WG_REDUCE items: item j
// of the grid sums elements j, j + grid, j + 2 grid, ... in order, then each
// group folds its items with a fixed tree. Pass 2 folds the REDUCE_GROUPS
// partials with a fixed tree in one group. The same input always gives the
// same bits, whatever the timing.

#define GRID (REDUCE_GROUPS * WG_REDUCE)

__kernel __attribute__((reqd_work_group_size(WG_REDUCE, 1, 1))) void
sum_squares_partial(__global const float *x, ulong x_off, long n, __global float *partials) {
    __local float acc[WG_REDUCE];
    int lid = get_local_id(0);
    float s = 0.0f;
    for (long i = get_global_id(0); i < n; i += GRID) {
        float xi = x[x_off + i];
        s += xi * xi;
    }
    acc[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = WG_REDUCE / 2; span > 0; span >>= 1) {
        if (lid < span) acc[lid] += acc[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) partials[get_group_id(0)] = acc[0];
}

// 1.0 where every element this group saw is finite, else 0.0.
__kernel __attribute__((reqd_work_group_size(WG_REDUCE, 1, 1))) void
finite_partial(__global const float *x, ulong x_off, long n, __global float *partials) {
    __local float acc[WG_REDUCE];
    int lid = get_local_id(0);
    float ok = 1.0f;
    for (long i = get_global_id(0); i < n; i += GRID)
        if (!isfinite(x[x_off + i])) ok = 0.0f;
    acc[lid] = ok;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = WG_REDUCE / 2; span > 0; span >>= 1) {
        if (lid < span) acc[lid] = fmin(acc[lid], acc[lid + span]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) partials[get_group_id(0)] = acc[0];
}

__kernel __attribute__((reqd_work_group_size(REDUCE_GROUPS, 1, 1))) void
sum_final(__global const float *partials, __global float *out, ulong out_off) {
    __local float acc[REDUCE_GROUPS];
    int lid = get_local_id(0);
    acc[lid] = partials[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = REDUCE_GROUPS / 2; span > 0; span >>= 1) {
        if (lid < span) acc[lid] += acc[lid + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[out_off] = acc[0];
}

__kernel __attribute__((reqd_work_group_size(REDUCE_GROUPS, 1, 1))) void
min_final(__global const float *partials, __global float *out, ulong out_off) {
    __local float acc[REDUCE_GROUPS];
    int lid = get_local_id(0);
    acc[lid] = partials[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = REDUCE_GROUPS / 2; span > 0; span >>= 1) {
        if (lid < span) acc[lid] = fmin(acc[lid], acc[lid + span]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[out_off] = acc[0];
}
