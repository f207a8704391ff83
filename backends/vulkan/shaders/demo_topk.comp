#version 450
// Per tile, the k coefficients of largest |value|, ties to the lower index,
// written in ascending index order. The magnitude's bits (sign cleared)
// order like the magnitudes, so a four-pass radix select over bytes finds
// the k-th largest key T and how many keys equal to T to take; then every
// key > T and the first such keys == T (by index) are selected, and their
// output positions come from prefix counts over per-invocation index
// ranges. Integer counts only: the same selection on every device.
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer Coeffs { float coeffs[]; };
layout(set = 0, binding = 1) writeonly buffer Idx { int idx[]; };
layout(set = 0, binding = 2) writeonly buffer Vals { float vals[]; };
layout(push_constant) uniform Params {
    uint off_c, off_idx, off_vals;
    uint n_tiles, size, k;
} p;

shared uint hist[256];
shared uint before_eq[256];
shared uint before_sel[256];
shared uint s_prefix, s_take;

uint key_of(float v) { return floatBitsToUint(v) & 0x7fffffffu; }

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint per = (p.size + 255) / 256;
    const uint i0 = min(p.size, lid * per), i1 = min(p.size, i0 + per);
    for (uint t = gl_WorkGroupID.x; t < p.n_tiles; t += gl_NumWorkGroups.x) {
        const uint base = p.off_c + t * p.size;
        uint prefix = 0, take = p.k;
        for (int shift = 24; shift >= 0; shift -= 8) {
            hist[lid] = 0;
            barrier();
            const uint hi = shift == 24 ? 0u : (0xffffffffu << uint(shift + 8));
            for (uint i = lid; i < p.size; i += 256) {
                uint key = key_of(coeffs[base + i]);
                if ((key & hi) == (prefix & hi)) atomicAdd(hist[(key >> uint(shift)) & 255u], 1u);
            }
            barrier();
            if (lid == 0) {
                // Walk bins from the largest; stop in the bin holding the
                // take-th largest remaining key.
                uint above = 0;
                for (int bin = 255; bin >= 0; bin--) {
                    uint h = hist[bin];
                    if (above + h >= take) {
                        prefix |= uint(bin) << uint(shift);
                        take -= above;
                        break;
                    }
                    above += h;
                }
                s_prefix = prefix;
                s_take = take;
            }
            barrier();
            prefix = s_prefix;
            take = s_take;
        }
        // prefix is now the k-th largest key; `take` keys equal to it are kept.
        uint n_eq = 0;
        for (uint i = i0; i < i1; i++) n_eq += key_of(coeffs[base + i]) == prefix ? 1u : 0u;
        before_eq[lid] = n_eq;
        barrier();
        if (lid == 0) {
            uint run = 0;
            for (uint j = 0; j < 256; j++) {
                uint c = before_eq[j];
                before_eq[j] = run;
                run += c;
            }
        }
        barrier();
        uint eq_seen = before_eq[lid], n_sel = 0;
        for (uint i = i0; i < i1; i++) {
            uint key = key_of(coeffs[base + i]);
            if (key > prefix || (key == prefix && eq_seen++ < take)) n_sel++;
        }
        before_sel[lid] = n_sel;
        barrier();
        if (lid == 0) {
            uint run = 0;
            for (uint j = 0; j < 256; j++) {
                uint c = before_sel[j];
                before_sel[j] = run;
                run += c;
            }
        }
        barrier();
        uint pos = before_sel[lid];
        eq_seen = before_eq[lid];
        const uint out0 = t * p.k;
        for (uint i = i0; i < i1; i++) {
            float v = coeffs[base + i];
            uint key = key_of(v);
            if (key > prefix || (key == prefix && eq_seen++ < take)) {
                idx[p.off_idx + out0 + pos] = int(i);
                vals[p.off_vals + out0 + pos] = v;
                pos++;
            }
        }
        barrier(); // shared state is reused by the next tile
    }
}
