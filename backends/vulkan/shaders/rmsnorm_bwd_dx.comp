#version 450
// dx = rstd * w * dy - x * k with k = sum(dy * w * x) * rstd^3 / cols, a
// workgroup per row. The two terms cancel when x dominates eps (completely
// for cols = 1), so a float result would lose every bit: where the device
// has doubles (DT_F64) the row sum and the combination are formed in
// double, as the CPU backend does; elsewhere (GPUs without shaderFloat64)
// in float-float, a pair hi + lo of about 44 bits. Its exact products use
// Dekker's split rather than fma(), which Vulkan does not require to be
// fused, and every float-float step is `precise`: correctly rounded fp32
// adds and multiplies in the order written, which Vulkan guarantees.
// dx may alias dy: the row's reduction completes in every invocation
// before any element is written, and each invocation rewrites only what it
// read.
#extension GL_GOOGLE_include_directive : require
#if DT_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer W { float w[]; };
layout(set = 0, binding = 2) readonly buffer Rstd { float rstd[]; };
layout(set = 0, binding = 3) buffer Dy { float dy[]; };
layout(set = 0, binding = 4) buffer Dx { float dx[]; };
layout(push_constant) uniform Params {
    uint off_x, off_w, off_rstd, off_dy, off_dx;
    uint rows, cols;
} p;

#if DT_F64
#define real double
#include "reduce.glsl"

void main() {
    const uint lid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
        const uint xr = p.off_x + r * p.cols, dyr = p.off_dy + r * p.cols;
        const uint dxr = p.off_dx + r * p.cols;
        real s = 0.0;
        for (uint c = lid; c < p.cols; c += WG)
            s += real(dy[dyr + c]) * real(w[p.off_w + c]) * real(x[xr + c]);
        const real rs = real(rstd[p.off_rstd + r]);
        const real k = wg_sum(s) * rs * rs * rs / real(p.cols);
        memoryBarrierBuffer();
        barrier();
        for (uint c = lid; c < p.cols; c += WG)
            dx[dxr + c] = float(rs * real(w[p.off_w + c]) * real(dy[dyr + c]) - real(x[xr + c]) * k);
    }
}

#else
// ---- float-float ---------------------------------------------------------------
struct ff {
    float hi, lo;
};

ff ff_norm(float hi, float lo) { // |hi| >= |lo|
    precise float s = hi + lo;
    precise float e = lo - (s - hi);
    return ff(s, e);
}

// a * b exactly, as hi + lo (Dekker: 12-bit halves multiply exactly).
ff ff_prod(float a, float b) {
    precise float prod = a * b;
    precise float ca = 4097.0 * a;
    precise float ah = ca - (ca - a);
    precise float al = a - ah;
    precise float cb = 4097.0 * b;
    precise float bh = cb - (cb - b);
    precise float bl = b - bh;
    precise float err = ((ah * bh - prod) + ah * bl + al * bh) + al * bl;
    return ff(prod, err);
}

// Symmetric in a and b (the same bits either way round), which the
// subgroup butterfly relies on.
ff ff_add(ff a, ff b) {
    precise float s = a.hi + b.hi;
    precise float v = s - a.hi;
    precise float e = (a.hi - (s - v)) + (b.hi - v);
    precise float t = e + (a.lo + b.lo);
    return ff_norm(s, t);
}

ff ff_mul_f(ff a, float b) {
    ff q = ff_prod(a.hi, b);
    precise float t = q.lo + a.lo * b;
    return ff_norm(q.hi, t);
}

ff ff_mul(ff a, ff b) {
    ff q = ff_prod(a.hi, b.hi);
    precise float t = q.lo + (a.hi * b.lo + a.lo * b.hi);
    return ff_norm(q.hi, t);
}

// a / b with one correction step (the quotient need not be correctly
// rounded: the correction is formed exactly).
ff ff_div_f(ff a, float b) {
    float q = a.hi / b;
    ff back = ff_prod(q, b);
    precise float rest = ((a.hi - back.hi) - back.lo) + a.lo;
    return ff_norm(q, rest / b);
}

#if DT_SUBGROUP
ff ff_wg_sum(ff v) {
    for (uint o = WG / 2; o > 0; o >>= 1)
        v = ff_add(v, ff(subgroupShuffleXor(v.hi, o), subgroupShuffleXor(v.lo, o)));
    return v;
}
#else
shared float red_hi[WG], red_lo[WG];
ff ff_wg_sum(ff v) {
    const uint lid = gl_LocalInvocationID.x;
    red_hi[lid] = v.hi;
    red_lo[lid] = v.lo;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (lid < h) {
            ff s = ff_add(ff(red_hi[lid], red_lo[lid]), ff(red_hi[lid + h], red_lo[lid + h]));
            red_hi[lid] = s.hi;
            red_lo[lid] = s.lo;
        }
        barrier();
    }
    ff r = ff(red_hi[0], red_lo[0]);
    barrier(); // the arrays are reused by the next row
    return r;
}
#endif

void main() {
    const uint lid = gl_LocalInvocationID.x;
    for (uint r = gl_WorkGroupID.x; r < p.rows; r += gl_NumWorkGroups.x) {
        const uint xr = p.off_x + r * p.cols, dyr = p.off_dy + r * p.cols;
        const uint dxr = p.off_dx + r * p.cols;
        ff s = ff(0.0, 0.0);
        for (uint c = lid; c < p.cols; c += WG)
            s = ff_add(s, ff_mul_f(ff_prod(dy[dyr + c], w[p.off_w + c]), x[xr + c]));
        const ff sum = ff_wg_sum(s);
        const float rs = rstd[p.off_rstd + r];
        const ff coef = ff_div_f(ff_mul(sum, ff_mul_f(ff_prod(rs, rs), rs)), float(p.cols));
        memoryBarrierBuffer();
        barrier();
        for (uint c = lid; c < p.cols; c += WG) {
            ff keep = ff_mul_f(ff_prod(rs, w[p.off_w + c]), dy[dyr + c]);
            ff drop = ff_mul_f(coef, x[xr + c]);
            ff d = ff_add(keep, ff(-drop.hi, -drop.lo));
            precise float v = d.hi + d.lo;
            dx[dxr + c] = v;
        }
    }
}
#endif
