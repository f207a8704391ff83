// Transformer ops other than GEMM and attention: embedding, RMSNorm, RoPE,
// SwiGLU and the fused softmax cross-entropy. Views arrive as (pointer,
// element offset). Row kernels run one work-group of WG_ROW items per row
// and fold partial sums with a fixed tree, so results are deterministic.
// No atomics anywhere.

// Folds acc[0..WG_ROW) into acc[0] with `op`; every item must call it.
#define TREE_FOLD(acc, lid, op)                                                                    \
    do {                                                                                           \
        barrier(CLK_LOCAL_MEM_FENCE);                                                              \
        for (int half_ = WG_ROW / 2; half_ > 0; half_ >>= 1) {                                     \
            if ((lid) < half_) acc[lid] = op(acc[lid], acc[(lid) + half_]);                        \
            barrier(CLK_LOCAL_MEM_FENCE);                                                          \
        }                                                                                          \
    } while (0)

#define OP_ADD(a, b) ((a) + (b))
#define OP_MAX(a, b) fmax((a), (b))

// ---- embedding --------------------------------------------------------------

// Global (dim, n): out[t, c] = table[tokens[t], c], a zero row for a token
// outside [0, vocab).
__kernel void embedding_fwd(__global const int *tokens, ulong tok_off, __global const float *table,
                            ulong tab_off, __global float *out, ulong out_off, long n, long dim,
                            long vocab) {
    long c = get_global_id(0), t = get_global_id(1);
    if (c >= dim || t >= n) return;
    int tok = tokens[tok_off + t];
    out[out_off + t * dim + c] = (tok >= 0 && tok < vocab) ? table[tab_off + tok * dim + c] : 0.0f;
}

// dtable[tokens[t]] += dout[t] for t in order, without atomics: work-item
// (c, b) owns column c of the rows whose token is b modulo `buckets`, and
// scans all tokens in order. Each dtable element therefore receives its
// contributions in token order, exactly as the contract writes it, and no
// two work-items ever touch the same element. Global: (dim, buckets).
__kernel void embedding_bwd(__global const int *tokens, ulong tok_off, __global const float *dout,
                            ulong dout_off, __global float *dtable, ulong dt_off, long n, long dim,
                            long vocab, int buckets) {
    long c = get_global_id(0);
    int b = get_global_id(1);
    if (c >= dim) return;
    for (long t = 0; t < n; t++) {
        int tok = tokens[tok_off + t];
        if (tok < 0 || tok >= vocab || tok % buckets != b) continue;
        long at = dt_off + tok * dim + c;
        dtable[at] = dtable[at] + dout[dout_off + t * dim + c];
    }
}

// ---- RMSNorm ----------------------------------------------------------------

// One group per row: rstd = 1/sqrt(mean(x^2) + eps), y = x * rstd * w.
// y may alias x: an item reads each of its elements before writing it.
__kernel __attribute__((reqd_work_group_size(WG_ROW, 1, 1))) void
rmsnorm_fwd(__global const float *x, ulong x_off, __global const float *w, ulong w_off,
            __global float *y, ulong y_off, __global float *rstd, ulong r_off, long cols,
            float eps) {
    __local float acc[WG_ROW];
    int lid = get_local_id(0);
    long row = get_group_id(0);
    __global const float *xr = x + x_off + row * cols;
    float s = 0.0f;
    for (long c = lid; c < cols; c += WG_ROW) s += xr[c] * xr[c];
    acc[lid] = s;
    TREE_FOLD(acc, lid, OP_ADD);
    float r = 1.0f / sqrt(acc[0] / (float)cols + eps);
    if (lid == 0) rstd[r_off + row] = r;
    __global float *yr = y + y_off + row * cols;
    for (long c = lid; c < cols; c += WG_ROW) yr[c] = xr[c] * r * w[w_off + c];
}

// dw[c] += sum over rows (in order) of dy * x * rstd. One item per column;
// runs before rmsnorm_bwd_dx because dx may alias dy.
__kernel void rmsnorm_bwd_dw(__global const float *x, ulong x_off, __global const float *rstd,
                             ulong r_off, __global const float *dy, ulong dy_off,
                             __global float *dw, ulong dw_off, long rows, long cols) {
    long c = get_global_id(0);
    if (c >= cols) return;
    float s = 0.0f;
    for (long r = 0; r < rows; r++)
        s += dy[dy_off + r * cols + c] * x[x_off + r * cols + c] * rstd[r_off + r];
    dw[dw_off + c] += s;
}

// dx = rstd * w * dy - x * rstd^3 * (sum_c dy w x) / cols; one group per row.
__kernel __attribute__((reqd_work_group_size(WG_ROW, 1, 1))) void
rmsnorm_bwd_dx(__global const float *x, ulong x_off, __global const float *w, ulong w_off,
               __global const float *rstd, ulong r_off, __global const float *dy, ulong dy_off,
               __global float *dx, ulong dx_off, long cols) {
    __local float acc[WG_ROW];
    int lid = get_local_id(0);
    long row = get_group_id(0);
    __global const float *xr = x + x_off + row * cols;
    __global const float *dyr = dy + dy_off + row * cols;
    float s = 0.0f;
    for (long c = lid; c < cols; c += WG_ROW) s += dyr[c] * w[w_off + c] * xr[c];
    acc[lid] = s;
    TREE_FOLD(acc, lid, OP_ADD);
    float r = rstd[r_off + row];
    float coef = r * r * r * acc[0] / (float)cols;
    __global float *dxr = dx + dx_off + row * cols;
    for (long c = lid; c < cols; c += WG_ROW) dxr[c] = r * w[w_off + c] * dyr[c] - xr[c] * coef;
}

// ---- RoPE ---------------------------------------------------------------------

// One item per rotated pair, in place. Pair i of a head sits at columns
// (2i, 2i+1) of that head; the row's position is row % seq_len.
__kernel void rope(__global float *x, ulong x_off, __global const float *table, ulong t_off,
                   long rows, long width, long seq_len, long head_dim, long rot_cols,
                   int inverse) {
    long pairs = rot_cols / 2;
    long gid = get_global_id(0);
    if (gid >= rows * pairs) return;
    long row = gid / pairs, col = (gid % pairs) * 2;
    long i = (col % head_dim) / 2, pos = row % seq_len;
    float c = table[t_off + (pos * (head_dim / 2) + i) * 2];
    float s = table[t_off + (pos * (head_dim / 2) + i) * 2 + 1];
    __global float *p = x + x_off + row * width + col;
    float x0 = p[0], x1 = p[1];
    if (inverse) {
        p[0] = x0 * c + x1 * s;
        p[1] = -x0 * s + x1 * c;
    } else {
        p[0] = x0 * c - x1 * s;
        p[1] = x0 * s + x1 * c;
    }
}

// ---- SwiGLU ---------------------------------------------------------------------

// h = [gate | up] per row; out = silu(gate) * up.
__kernel void swiglu_fwd(__global const float *h, ulong h_off, __global float *out, ulong o_off,
                         long n, long f) {
    long gid = get_global_id(0);
    if (gid >= n * f) return;
    long r = gid / f, c = gid % f;
    float g = h[h_off + r * 2 * f + c], u = h[h_off + r * 2 * f + f + c];
    out[o_off + gid] = g / (1.0f + exp(-g)) * u;
}

// d gate = dout * up * silu'(gate), d up = dout * silu(gate), with
// silu'(g) = sig(g) (1 + g (1 - sig(g))).
__kernel void swiglu_bwd(__global const float *h, ulong h_off, __global const float *dout,
                         ulong d_off, __global float *dh, ulong dh_off, long n, long f) {
    long gid = get_global_id(0);
    if (gid >= n * f) return;
    long r = gid / f, c = gid % f;
    float g = h[h_off + r * 2 * f + c], u = h[h_off + r * 2 * f + f + c];
    float dy = dout[d_off + gid];
    float sig = 1.0f / (1.0f + exp(-g));
    dh[dh_off + r * 2 * f + c] = dy * u * (sig * (1.0f + g * (1.0f - sig)));
    dh[dh_off + r * 2 * f + f + c] = dy * (g * sig);
}

// ---- softmax cross-entropy ------------------------------------------------------

// One group per row. loss = logsumexp(logits) - logits[target]; with a
// gradient, dlogits = (softmax - onehot) * grad_scale. dlogits may alias
// logits, so the target's logit is read before the first barrier and every
// item writes only the elements it read. A target outside [0, V) gives a
// NaN loss and a zero gradient row.
__kernel __attribute__((reqd_work_group_size(WG_ROW, 1, 1))) void
softmax_xent(__global const float *logits, ulong l_off, __global const int *targets, ulong t_off,
             __global float *losses, ulong loss_off, __global float *dlogits, ulong d_off,
             long vocab, float grad_scale, int with_grad) {
    __local float acc[WG_ROW];
    int lid = get_local_id(0);
    long row = get_group_id(0);
    __global const float *lr = logits + l_off + row * vocab;
    int target = targets[t_off + row];
    int valid = target >= 0 && target < vocab;
    float picked = valid ? lr[target] : 0.0f;

    float m = -INFINITY;
    for (long c = lid; c < vocab; c += WG_ROW) m = fmax(m, lr[c]);
    acc[lid] = m;
    TREE_FOLD(acc, lid, OP_MAX);
    m = acc[0];
    barrier(CLK_LOCAL_MEM_FENCE); // everyone has read acc[0] before it is reused

    float s = 0.0f;
    for (long c = lid; c < vocab; c += WG_ROW) s += exp(lr[c] - m);
    acc[lid] = s;
    TREE_FOLD(acc, lid, OP_ADD);
    s = acc[0];

    if (lid == 0) losses[loss_off + row] = valid ? log(s) + m - picked : NAN;
    if (!with_grad) return;
    __global float *dr = dlogits + d_off + row * vocab;
    float inv = 1.0f / s;
    for (long c = lid; c < vocab; c += WG_ROW) {
        float g = exp(lr[c] - m) * inv - (c == target ? 1.0f : 0.0f);
        dr[c] = valid ? g * grad_scale : 0.0f;
    }
}
