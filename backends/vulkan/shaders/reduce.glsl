// Workgroup-wide sum and maximum with a fixed association order, so every
// run gives the same bits. The including shader defines WG (a power of two,
// the workgroup size) and `real` (float or double).
//
// DT_SUBGROUP (CPU devices): the workgroup is exactly one subgroup and the
// reduction is an xor butterfly of shuffles; addition is commutative, so
// every lane ends with the same bits. Otherwise: a tree through shared
// memory. Either way all invocations receive the result.
#if DT_SUBGROUP
real wg_sum(real v) {
    for (uint o = WG / 2; o > 0; o >>= 1) v += subgroupShuffleXor(v, o);
    return v;
}
real wg_max(real v) {
    for (uint o = WG / 2; o > 0; o >>= 1) v = max(v, subgroupShuffleXor(v, o));
    return v;
}
#else
shared real wg_red[WG];
real wg_sum(real v) {
    const uint lid = gl_LocalInvocationID.x;
    wg_red[lid] = v;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (lid < h) wg_red[lid] += wg_red[lid + h];
        barrier();
    }
    real r = wg_red[0];
    barrier(); // wg_red is reused by the next call
    return r;
}
real wg_max(real v) {
    const uint lid = gl_LocalInvocationID.x;
    wg_red[lid] = v;
    barrier();
    for (uint h = WG / 2; h > 0; h >>= 1) {
        if (lid < h) wg_red[lid] = max(wg_red[lid], wg_red[lid + h]);
        barrier();
    }
    real r = wg_red[0];
    barrier();
    return r;
}
#endif
