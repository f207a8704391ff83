// The canonical DeMo aggregate-decode-sign-apply (DESIGN.md section 4).
//
// Every replica on every vendor must produce the same bits, so this program
// follows the reference (runtime/demo_apply_host.c) operation for operation:
// - no fused multiply-add: the pragma below, no -cl-mad-enable and no
//   -cl-fast-relaxed-math in the build options, and each product is a
//   statement of its own before it is added;
// - no division and no cos: the reciprocal table and the DCT bases come from
//   the host;
// - every sum starts at 0.0f and adds one rounded product at a time in
//   ascending index order. Units of VW outputs are computed as vectors
//   (common.cl), but each lane is one output with its own sum in that order:
//   lane-wise IEEE multiplies and adds give the same bits as scalar code.
// The device is additionally checked against the host when it is opened
// (opencl_demo_selftest.c); a mismatch sends this op to the host.
#pragma OPENCL FP_CONTRACT OFF

// One work-group per tile. acc and yt are tile_size floats of local memory;
// the counts live in yt until the first IDCT stage needs it. `scaled`
// selects the update rule (dt_demo_update): 0 steps W by lr * sign(X)
// (DeMo), 1 by lr * X (the outer step of local steps).
__kernel __attribute__((reqd_work_group_size(WG_TILE, 1, 1))) void
demo_apply(__global const int *idx, ulong i_off, __global const float *vals, ulong v_off,
           __global const float *recip, ulong r_off, __global const float *f1, ulong f1_off,
           __global const float *f2, ulong f2_off, __global float *w, ulong w_off, long cols,
           int n1, int n2, long tiles_per_row, long n_tiles, int k, int n_contrib, float lr,
           float decay, int scaled, __local float *acc, __local float *yt) {
    __local int *cnt = (__local int *)yt;
    int lid = get_local_id(0), S = n1 * n2;
    int row_groups = (n2 + VW - 1) / VW, col_groups = (n1 + VW - 1) / VW;
    long t = get_group_id(0);
    f1 += f1_off;
    f2 += f2_off;
    for (int i = lid; i < S; i += WG_TILE) {
        acc[i] = 0.0f;
        cnt[i] = 0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // acc[i] += v, cnt[i] += 1 over contributions in order, entries in stored
    // order. Item lid owns the slots i with i % WG_TILE == lid and applies
    // exactly those, so each slot sees its additions in the reference order
    // without atomics, whatever the indices.
    for (int c = 0; c < n_contrib; c++) {
        long base = ((long)c * n_tiles + t) * k;
        __global const int *ci = idx + i_off + base;
        __global const float *cv = vals + v_off + base;
        for (int e = 0; e < k; e++) {
            int i = ci[e];
            if (i < 0 || i >= S || i % WG_TILE != lid) continue;
            acc[i] = acc[i] + cv[e];
            cnt[i] = cnt[i] + 1;
        }
    }
    // A = acc * recip[cnt]: the mean without a division. The clamp only
    // matters for inputs the wire layer rejects (repeated indices).
    for (int i = lid; i < S; i += WG_TILE) {
        int c = min(cnt[i], n_contrib);
        acc[i] = acc[i] * recip[r_off + c];
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // Y[h][b..] = sum_a F1[h][a] * A[a][b..], stored transposed (yt[b][h]).
    for (int u = lid; u < n1 * row_groups; u += WG_TILE) {
        int h = u / row_groups, b = (u % row_groups) * VW, avail = n2 - b;
        floatv sum = (floatv)(0.0f);
        for (int a = 0; a < n1; a++) {
            floatv prod = f1[h * n1 + a] * load_part_l(acc + a * n2 + b, avail);
            sum = sum + prod;
        }
        store_lanes_l(yt + b * n1 + h, n1, sum, avail);
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    // X[h..][x] = sum_b Y[h..][b] * F2[x][b], then per element
    // W = (W * decay) - (lr * s) with s = sign(X) or X itself. Under the
    // scaled rule lr * s is inexact, so a fused step would show in W: the
    // two products are statements of their own, rounded before the
    // subtraction.
    __global float *wt = w + w_off + TILE_ORIGIN(t, n1, n2, cols, tiles_per_row);
    for (int u = lid; u < col_groups * n2; u += WG_TILE) {
        int h = (u / n2) * VW, x = u % n2, avail = n1 - h;
        floatv sum = (floatv)(0.0f);
        for (int b = 0; b < n2; b++) {
            floatv prod = load_part_l(yt + b * n1 + h, avail) * f2[x * n2 + b];
            sum = sum + prod;
        }
        float lanes[VW];
        vstore8(sum, 0, lanes);
        for (int i = 0; i < min(avail, VW); i++) {
            float s = lanes[i];
            if (!scaled) s = s > 0.0f ? 1.0f : (s < 0.0f ? -1.0f : 0.0f);
            __global float *wp = wt + (long)(h + i) * cols + x;
            float kept = *wp * decay;
            float step = lr * s;
            *wp = kept - step;
        }
    }
}
