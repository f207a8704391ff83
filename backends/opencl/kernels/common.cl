// Shared by every program: compiled in front of each kernel file.
//
// Vectors of VW floats. Kernels whose work-items loop over a row use them so
// that CPU devices (PoCL) get SIMD code, which they cannot get by running
// work-items side by side when the work-item body has a loop; on GPUs a
// vector per work-item is just more independent arithmetic. Nothing here
// computes: loads and stores only, so the floating-point rules of each file
// (FP_CONTRACT OFF in demo_apply.cl) stay the file's own.

#define VW 8
typedef float8 floatv;

// VW consecutive floats from p, of which the first `avail` (1..VW) exist;
// the others read as 0.
static inline floatv load_part_g(__global const float *p, int avail) {
    if (avail >= VW) return vload8(0, p);
    float t[VW] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < avail; i++) t[i] = p[i];
    return vload8(0, t);
}

static inline floatv load_part_l(__local const float *p, int avail) {
    if (avail >= VW) return vload8(0, p);
    float t[VW] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < avail; i++) t[i] = p[i];
    return vload8(0, t);
}

// Stores the first min(avail, VW) lanes of v at p, p + stride, p + 2 stride...
static inline void store_lanes_l(__local float *p, int stride, floatv v, int avail) {
    float t[VW];
    vstore8(v, 0, t);
    for (int i = 0; i < min(avail, VW); i++) p[i * stride] = t[i];
}

static inline void store_part_g(__global float *p, floatv v, int avail) {
    if (avail >= VW) {
        vstore8(v, 0, p);
        return;
    }
    float t[VW];
    vstore8(v, 0, t);
    for (int i = 0; i < avail; i++) p[i] = t[i];
}

// First element of tile t of a rows x cols matrix cut into n1 x n2 tiles in
// row-major tile order.
#define TILE_ORIGIN(t, n1, n2, cols, tiles_per_row)                                                \
    (((t) / (tiles_per_row)) * (n1) * (cols) + ((t) % (tiles_per_row)) * (n2))
