/* Stand-ins for the OpenCL C library functions the attention kernels call,
 * for compiling them with clang for a GPU without the vendor's device
 * library (tests/ocl_gpu_registers.sh). Without one, clang leaves every
 * such function an external call, and for a call the AMDGPU backend
 * reserves a 16 KiB stack, which would hide the kernels' own use of
 * per-thread memory. The stand-ins are the GPUs' own intrinsics, so what is
 * measured is the kernels' code; the results are not used. */
#if defined(__AMDGCN__)
#define WI_ID_X()   __builtin_amdgcn_workitem_id_x()
#define WG_ID_X()   __builtin_amdgcn_workgroup_id_x()
#define WG_ID_Y()   __builtin_amdgcn_workgroup_id_y()
#define WG_SIZE_X() __builtin_amdgcn_workgroup_size_x()
#define barrier(fl) __builtin_amdgcn_s_barrier()
#define exp(x)      __builtin_expf(x)
#define log(x)      __builtin_logf(x)
#elif defined(__NVPTX__)
#define WI_ID_X()   __nvvm_read_ptx_sreg_tid_x()
#define WG_ID_X()   __nvvm_read_ptx_sreg_ctaid_x()
#define WG_ID_Y()   __nvvm_read_ptx_sreg_ctaid_y()
#define WG_SIZE_X() __nvvm_read_ptx_sreg_ntid_x()
#define barrier(fl) __nvvm_bar_sync(0)
#define exp(x)      __nvvm_ex2_approx_f((x)*1.442695f)
#define log(x)      (__nvvm_lg2_approx_f(x) * 0.6931472f)
#endif
/* The kernels launch 2-D grids with one work-item per group along y. */
#define get_local_id(i)  ((i) == 0 ? WI_ID_X() : 0)
#define get_group_id(i)  ((i) == 0 ? WG_ID_X() : WG_ID_Y())
#define get_global_id(i) ((i) == 0 ? WG_ID_X() * WG_SIZE_X() + WI_ID_X() : WG_ID_Y())
#define min(a, b)        ((a) < (b) ? (a) : (b))
#define max(a, b)        ((a) > (b) ? (a) : (b))
#define fma(a, b, c)     __builtin_fmaf(a, b, c)
#define fmin(a, b)       __builtin_fminf(a, b)
#define fmax(a, b)       __builtin_fmaxf(a, b)
#define sqrt(x)          __builtin_sqrtf(x)
#define isfinite(x)      __builtin_isfinite(x)
#define vload8(o, p)                                                                               \
    ((float8)((p)[8 * (o)], (p)[8 * (o) + 1], (p)[8 * (o) + 2], (p)[8 * (o) + 3],                  \
              (p)[8 * (o) + 4], (p)[8 * (o) + 5], (p)[8 * (o) + 6], (p)[8 * (o) + 7]))
#define vstore8(v, o, p)                                                                           \
    do {                                                                                           \
        const float8 v8_ = (v);                                                                    \
        (p)[8 * (o)] = v8_.s0, (p)[8 * (o) + 1] = v8_.s1, (p)[8 * (o) + 2] = v8_.s2;               \
        (p)[8 * (o) + 3] = v8_.s3, (p)[8 * (o) + 4] = v8_.s4, (p)[8 * (o) + 5] = v8_.s5;           \
        (p)[8 * (o) + 6] = v8_.s6, (p)[8 * (o) + 7] = v8_.s7;                                      \
    } while (0)
/* vstore16 into private memory, for any element type. */
#define vstore16(v, o, p)                                                                          \
    do {                                                                                           \
        __typeof__(v) v16_ = (v);                                                                  \
        for (int i_ = 0; i_ < 16; i_++) (p)[16 * (o) + i_] = ((__typeof__((p)[0]) *)&v16_)[i_];    \
    } while (0)
