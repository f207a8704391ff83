/* Small inline kernels the CPU ops share, written so GCC and Clang vectorise
 * them without -ffast-math.
 *
 * Floating-point sums are not reassociated by the compiler, so a plain
 * `s += a[i]` loop stays scalar. These helpers keep CPU_LANES independent
 * partial sums instead (a vector register's worth) and combine them in a
 * fixed order at the end: vector speed, and the same bits for the same input
 * on every run and thread count. */
#ifndef DISTRO_CPU_VEC_MATH_H
#define DISTRO_CPU_VEC_MATH_H

#include <stdint.h>
#include <string.h>

#define CPU_LANES 16

/* Fixed-order pairwise combination of CPU_LANES partial sums. */
static inline float cpu_lanes_sum(float *acc) {
    for (int w = CPU_LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

static inline float cpu_dot(const float *a, const float *b, int64_t n) {
    float acc[CPU_LANES] = {0};
    int64_t i = 0;
    for (; i + CPU_LANES <= n; i += CPU_LANES)
        for (int j = 0; j < CPU_LANES; j++) acc[j] += a[i + j] * b[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += a[i + j] * b[i + j];
    return cpu_lanes_sum(acc);
}

static inline float cpu_sum_sq(const float *a, int64_t n) {
    return cpu_dot(a, a, n);
}

/* exp(x) to about 1 ulp for x in [-87.3, 88]: Cody-Waite reduction
 * x = n ln2 + r, |r| <= ln2/2, and the degree-7 minimax polynomial of the
 * Cephes library (S. Moshier) for exp(r). Branch-free so loops over it
 * vectorise. Below -87.3 the result is 0, above 88 it saturates at exp(88)
 * (callers only pass x <= ~0), and NaN stays NaN. The integer n is read from
 * the low bits of x*log2(e) + 1.5*2^23, which avoids a float-to-int
 * conversion (undefined for NaN). */
static inline float cpu_expf(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    const int underflow = x < -87.336544f;
    float xc = x < -87.336544f ? -87.336544f : x;
    xc = xc > 88.0f ? 88.0f : xc;
    float t = xc * 1.44269504088896341f + magic;
    float n = t - magic;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    uint32_t tb, nb;
    memcpy(&tb, &t, sizeof tb);
    const float magic_v = magic;
    memcpy(&nb, &magic_v, sizeof nb);
    uint32_t e = (tb - nb + 127u) << 23; /* 2^n: n + bias into the exponent field */
    float scale;
    memcpy(&scale, &e, sizeof scale);
    float y = p * scale;
    return underflow ? 0.0f : y;
}

/* 1 / (1 + exp(-g)) without overflow for either sign of g. */
static inline float cpu_sigmoidf(float g) {
    float e = cpu_expf(g < 0.0f ? g : -g); /* exp(-|g|) <= 1 */
    float r = 1.0f / (1.0f + e);
    return g >= 0.0f ? r : e * r;
}

#endif
