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

typedef struct cpu_device {
    dt_device base;
    cpu_gemm_path gemm_path;
} cpu_device;

typedef struct cpu_buffer {
    dt_buffer base;
    void *data;
} cpu_buffer;

/* Host pointer to the first element of a view. */
static inline float *cpu_f32(const dt_tensor *t) {
    return (float *)((char *)((const cpu_buffer *)t->buf)->data + t->offset);
}
static inline int32_t *cpu_i32(const dt_tensor *t) {
    return (int32_t *)((char *)((const cpu_buffer *)t->buf)->data + t->offset);
}

/* cpu_gemm.c: dispatch between CBLAS and the own kernel. cpu_gemm_init runs
 * once per device opened with the CBLAS path (it makes OpenBLAS single-
 * threaded: the OpenMP team splits GEMMs instead, see cpu_gemm.c). */
void cpu_gemm_init(void);
dt_status cpu_gemm(dt_device *dev, const dt_gemm_desc *d, const dt_tensor *a, const dt_tensor *b,
                   const dt_tensor *c);
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

/* cpu_nn.c */
dt_status cpu_embedding_fwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *table,
                            const dt_tensor *out);
dt_status cpu_embedding_bwd(dt_device *dev, const dt_tensor *tokens, const dt_tensor *dout,
                            const dt_tensor *dtable);
dt_status cpu_rmsnorm_fwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *y, const dt_tensor *rstd, int64_t rows, int64_t cols,
                          float eps);
dt_status cpu_rmsnorm_bwd(dt_device *dev, const dt_tensor *x, const dt_tensor *w,
                          const dt_tensor *rstd, const dt_tensor *dy, const dt_tensor *dx,
                          const dt_tensor *dw, int64_t rows, int64_t cols);
dt_status cpu_rope(dt_device *dev, const dt_tensor *x, const dt_tensor *table, int64_t rows,
                   int64_t width, int64_t seq_len, int64_t head_dim, int64_t rot_cols, int inverse);
dt_status cpu_swiglu_fwd(dt_device *dev, const dt_tensor *h, const dt_tensor *out, int64_t n,
                         int64_t f);
dt_status cpu_swiglu_bwd(dt_device *dev, const dt_tensor *h, const dt_tensor *dout,
                         const dt_tensor *dh, int64_t n, int64_t f);
dt_status cpu_softmax_xent(dt_device *dev, const dt_tensor *logits, const dt_tensor *targets,
                           const dt_tensor *losses, const dt_tensor *dlogits, int64_t n,
                           int64_t vocab, float grad_scale);

/* cpu_attention.c */
dt_status cpu_attention_fwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *lse, int64_t batch, int64_t seq_len, int64_t n_heads,
                            int64_t head_dim, float scale);
dt_status cpu_attention_bwd(dt_device *dev, const dt_tensor *qkv, const dt_tensor *out,
                            const dt_tensor *dout, const dt_tensor *lse, const dt_tensor *dqkv,
                            const dt_tensor *scratch, int64_t batch, int64_t seq_len,
                            int64_t n_heads, int64_t head_dim, float scale);

/* cpu_elementwise.c */
dt_status cpu_add(dt_device *dev, const dt_tensor *a, const dt_tensor *b, const dt_tensor *y,
                  int64_t n);
dt_status cpu_scale(dt_device *dev, const dt_tensor *x, float alpha, const dt_tensor *y, int64_t n);
dt_status cpu_fill(dt_device *dev, const dt_tensor *y, float value, int64_t n);
dt_status cpu_sum_squares(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n);
dt_status cpu_check_finite(dt_device *dev, const dt_tensor *x, const dt_tensor *out, int64_t n);
dt_status cpu_adamw(dt_device *dev, const dt_tensor *p, const dt_tensor *g, const dt_tensor *m,
                    const dt_tensor *v, int64_t n, const dt_adamw_params *params);

/* cpu_demo.c */
dt_status cpu_demo_momentum(dt_device *dev, const dt_tensor *d, const dt_tensor *g, int64_t n,
                            float beta, float lr);
dt_status cpu_demo_encode(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *x,
                          const dt_tensor *f1, const dt_tensor *f2, const dt_tensor *coeffs);
dt_status cpu_demo_topk(dt_device *dev, const dt_tensor *coeffs, int64_t n_tiles, int64_t tile_size,
                        int64_t k, const dt_tensor *idx, const dt_tensor *vals);
dt_status cpu_demo_decode_sub(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                              const dt_tensor *vals, int64_t k, const dt_tensor *f1,
                              const dt_tensor *f2, const dt_tensor *d);
dt_status cpu_demo_apply(dt_device *dev, const dt_tile_plan *plan, const dt_tensor *idx,
                         const dt_tensor *vals, int64_t k, int64_t n_contrib,
                         const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                         const dt_tensor *w, float lr, float decay, dt_demo_update update);

#endif
