/* The CPU backend's private interface: the device struct and the op entry
 * points, one file per family of ops. Every op runs synchronously on the
 * calling thread plus an OpenMP team. */
#ifndef DISTRO_CPU_BACKEND_H
#define DISTRO_CPU_BACKEND_H

#include "runtime/backend.h"

typedef enum cpu_gemm_path {
    CPU_GEMM_BLAS = 0, /* cblas_sgemm (OpenBLAS) */
    CPU_GEMM_OWN = 1,  /* cpu_gemm_blocked.c */
} cpu_gemm_path;

/* Device options (cpu:threads=N:gemm=PATH), by position in cpu_options. */
enum { CPU_OPT_THREADS = 0, CPU_OPT_GEMM = 1 };

typedef struct cpu_device {
    dt_device base;
    cpu_gemm_path gemm_path;
    /* threads=N: every op runs on N OpenMP threads (set around each op,
     * restored after); 0: the process's OpenMP default. */
    int threads;
} cpu_device;

typedef struct cpu_buffer {
    dt_buffer base;
    void *data;
} cpu_buffer;

/* Below this many elements an elementwise, norm or DeMo op runs on the
 * calling thread: waking a passively waiting thread (issue 10) costs more
 * than such an op takes. Measured at 2^17 against 2^15 on a 2-core Zen 4
 * (4 interleaved rounds): the shakespeare preset's DeMo workers at batch 4
 * (the default run's micro-batch) 10% faster on an idle machine and the
 * same beside a busy process; small, whose ops are larger, unchanged. No
 * result depends on it (column stripes and fixed reduction chunks). */
#define CPU_PARALLEL_MIN 131072

/* Host pointer to the first element of a view. */
static inline float *cpu_f32(const dt_tensor *t) {
    return (float *)((char *)((const cpu_buffer *)t->buf)->data + t->offset);
}
static inline int32_t *cpu_i32(const dt_tensor *t) {
    return (int32_t *)((char *)((const cpu_buffer *)t->buf)->data + t->offset);
}

/* The op entries: cpu_<op> for every op of runtime/op_list.h, one file per
 * family of ops: cpu_gemm.c (cpu_gemm: dispatch between CBLAS and the own
 * kernel), cpu_nn.c, cpu_attention.c, cpu_elementwise.c, cpu_demo.c. */
#define CPU_DECLARE_OP(ret, name, params, args) ret cpu_##name params;
DT_DEVICE_OPS(CPU_DECLARE_OP)
#undef CPU_DECLARE_OP

/* cpu_gemm.c: cpu_gemm_init runs once per device opened with the CBLAS path
 * (it makes OpenBLAS single-threaded: the OpenMP team splits GEMMs instead,
 * see cpu_gemm.c). */
void cpu_gemm_init(void);
/* The same on host pointers with a given path (cpu_gemm_select.c times it). */
void cpu_gemm_host(cpu_gemm_path path, const dt_gemm_desc *d, const float *a, const float *b,
                   float *c);

/* cpu_gemm_select.c: which path a device uses. request: "own", "blas",
 * "auto" or NULL (auto: measured at first use, cached on disk); origin
 * names where an explicit request came from, for the reason and errors. */
typedef enum cpu_gemm_source {
    CPU_GEMM_EXPLICIT, /* asked for */
    CPU_GEMM_MEASURED, /* measured now (and cached) */
    CPU_GEMM_CACHED,   /* read from the cache file */
    CPU_GEMM_ONLY,     /* the only correct one (no CBLAS, or a path gave wrong results) */
} cpu_gemm_source;
typedef struct cpu_gemm_choice {
    cpu_gemm_path path;
    cpu_gemm_source source;
    double ratio;     /* own / BLAS time at model shapes when measured, else 0 */
    char reason[144]; /* "own kernel (measured 3.10x OpenBLAS 0.3.21 (Prescott) ...)" */
} cpu_gemm_choice;
/* Once per process for auto, with the cache file and key of this machine. */
dt_status cpu_gemm_choose(const char *request, const char *origin, cpu_gemm_choice *out);
/* One selection against the given cache file and key (NULL: no cache). */
dt_status cpu_gemm_select(const char *request, const char *origin, const char *cache_file,
                          const char *key, cpu_gemm_choice *out);
void cpu_gemm_cache_key(char *out, size_t len);
int cpu_gemm_cache_file(char *out, size_t len); /* 0: no cache directory */
int cpu_gemm_cache_store(const char *file, const char *key, cpu_gemm_path path, double ratio);
int cpu_gemm_cache_load(const char *file, const char *key, cpu_gemm_path *path, double *ratio);

/* cpu_gemm_blocked.c: the own cache-blocked kernel, one (piece of a batch
 * item of a) GEMM on host pointers with the conventions of dt_gemm_desc, on
 * the calling thread. */
void cpu_gemm_blocked(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc);

#endif
