// test_cuda_emulated: the CUDA backend's kernels (backends/cuda/*.cu, turned
// into C++ by to_cpu.sed) run under the CPU emulation of cuda_emu.h, against
// the CPU backend: the canonical update and AdamW bit for bit (the canonical
// one against dt_demo_apply_host, subnormals and out-of-range indices
// included), top-k exactly (ties), the rest within float tolerances. Runs
// without a GPU; it checks the kernels' logic, not a GPU's arithmetic.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
#include "distro/distro.h"
#include "distro/ops.h"
#include "emu_cuda_kernels.h"
extern "C" {
#include "backends/cpu/cpu_backend.h"
#include "runtime/backend.h"
}

static dt_device *cpu;
static std::vector<dt_tensor> made; // every tensor mk() allocated, freed at exit
static std::mt19937 rng(42);
static int fails = 0;
static float rnd() {
    return std::uniform_real_distribution<float>(-1, 1)(rng);
}
static std::vector<float> rv(size_t n, float scale = 1) {
    std::vector<float> v(n);
    for (auto &x : v) x = rnd() * scale;
    return v;
}
static dt_tensor mk(const void *data, dt_dtype t, std::vector<int64_t> shape) {
    dt_tensor r;
    if (dt_tensor_alloc(cpu, t, (int)shape.size(), shape.data(), &r) != DT_OK) {
        printf("alloc: %s\n", dt_last_error());
        exit(1);
    }
    if (data) dt_buffer_upload(r.buf, r.offset, data, dt_tensor_bytes(&r));
    made.push_back(r);
    return r;
}
static std::vector<float> down(dt_tensor t) {
    std::vector<float> v(dt_tensor_numel(&t));
    dt_buffer_download(t.buf, t.offset, v.data(), v.size() * 4);
    return v;
}
static void check(const char *what, const std::vector<float> &got, const std::vector<float> &want,
                  double tol) {
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < want.size(); i++) {
        double d = std::fabs((double)got[i] - want[i]) / (1e-3 + std::fabs((double)want[i]));
        if (std::isnan(got[i]) != std::isnan(want[i])) d = 1e9;
        if (!(std::isnan(got[i]) && std::isnan(want[i])) && d > worst) {
            worst = d;
            at = i;
        }
    }
    bool ok = worst <= tol;
    if (!ok) fails++;
    printf("%-4s %-28s worst rel err %.3g at %zu (got %g want %g)\n", ok ? "ok" : "FAIL", what,
           worst, at, got.empty() ? 0 : got[at], want.empty() ? 0 : want[at]);
}
static void check_bits(const char *what, const void *a, const void *b, size_t n) {
    bool ok = memcmp(a, b, n) == 0;
    if (!ok) fails++;
    printf("%-4s %-28s %s\n", ok ? "ok" : "FAIL", what, ok ? "bit-identical" : "DIFFERS");
}

static void test_apply(std::vector<int64_t> shape, int64_t chunk, int nc, int k,
                       dt_demo_update up) {
    dt_tile_plan p;
    dt_demo_tile_plan((int)shape.size(), shape.data(), chunk, &p);
    const int64_t S = p.tile_size;
    std::vector<int32_t> idx(nc * p.n_tiles * k);
    std::vector<float> vals(idx.size());
    for (int c = 0; c < nc; c++)
        for (int64_t t = 0; t < p.n_tiles; t++) {
            std::vector<int32_t> perm(S);
            for (int i = 0; i < S; i++) perm[i] = i;
            std::shuffle(perm.begin(), perm.end(), rng);
            for (int e = 0; e < k; e++) {
                int32_t i = perm[e % S];
                if (rng() % 10 == 0) i = (rng() % 2) ? -1 : (int32_t)(S + 3);
                idx[(c * p.n_tiles + t) * k + e] = i;
                vals[(c * p.n_tiles + t) * k + e] = rnd() * ((rng() % 4 == 0) ? 1e-38f : 1.0f);
            }
        }
    std::vector<float> recip(nc + 1);
    dt_recip_table(nc, recip.data());
    std::vector<float> f1(p.tile_rows * p.tile_rows), f2(p.tile_cols * p.tile_cols);
    dt_dct_basis(p.tile_rows, f1.data());
    dt_dct_basis(p.tile_cols, f2.data());
    std::vector<float> w = rv(p.rows * p.cols);
    for (size_t i = 0; i < w.size(); i += 7) w[i] *= 1e-38f;
    std::vector<float> w_dev = w, w_host = w;
    emu_cuk_tiles t = {p.cols, p.tile_rows, p.tile_cols, p.tiles_per_row, p.n_tiles, p.tile_size};
    emu_cuk_demo_apply(0, &t, idx.data(), vals.data(), k, nc, recip.data(), f1.data(), f2.data(),
                       w_dev.data(), 1e-3f, 0.999f, up == DT_DEMO_UPDATE_SIGN);
    dt_demo_apply_host(&p, idx.data(), vals.data(), k, nc, recip.data(), f1.data(), f2.data(),
                       w_host.data(), 1e-3f, 0.999f, up);
    char name[64];
    snprintf(name, sizeof name, "demo_apply %s %lldx%lld",
             up == DT_DEMO_UPDATE_SIGN ? "sign" : "scaled", (long long)p.rows, (long long)p.cols);
    check_bits(name, w_dev.data(), w_host.data(), w.size() * 4);
}

static void test_demo_ops() {
    int64_t shape[2] = {24, 40};
    dt_tile_plan p;
    dt_demo_tile_plan(2, shape, 8, &p);
    const int64_t S = p.tile_size, k = 7;
    std::vector<float> f1(p.tile_rows * p.tile_rows), f2(p.tile_cols * p.tile_cols);
    dt_dct_basis(p.tile_rows, f1.data());
    dt_dct_basis(p.tile_cols, f2.data());
    emu_cuk_tiles t = {p.cols, p.tile_rows, p.tile_cols, p.tiles_per_row, p.n_tiles, p.tile_size};
    auto x = rv(p.rows * p.cols);
    dt_tensor X = mk(x.data(), DT_F32, {p.rows, p.cols}),
              F1 = mk(f1.data(), DT_F32, {p.tile_rows, p.tile_rows}),
              F2 = mk(f2.data(), DT_F32, {p.tile_cols, p.tile_cols});
    dt_tensor C = mk(nullptr, DT_F32, {p.n_tiles, S});
    dt_demo_encode(cpu, &p, X, F1, F2, C);
    std::vector<float> c(p.n_tiles * S);
    emu_cuk_demo_encode(0, &t, x.data(), f1.data(), f2.data(), c.data());
    check("demo_encode", c, down(C), 1e-3);
    // top-k on coefficients with many ties (few levels, random signs)
    for (auto &v : c) v = (float)(rng() % 5) * ((rng() % 2) ? 1.0f : -1.0f) * 0.25f;
    dt_buffer_upload(C.buf, C.offset, c.data(), c.size() * 4);
    dt_tensor I = mk(nullptr, DT_I32, {p.n_tiles, k}), V = mk(nullptr, DT_F32, {p.n_tiles, k});
    dt_demo_topk(cpu, C, k, I, V);
    std::vector<int32_t> idx(p.n_tiles * k), want_idx(idx.size());
    std::vector<float> vals(idx.size());
    emu_cuk_demo_topk(0, c.data(), p.n_tiles, S, k, idx.data(), vals.data());
    dt_buffer_download(I.buf, I.offset, want_idx.data(), want_idx.size() * 4);
    check_bits("demo_topk idx (ties)", idx.data(), want_idx.data(), idx.size() * 4);
    check("demo_topk vals", vals, down(V), 0);
    { // k = S: every coefficient, in index order
        std::vector<int32_t> all(p.n_tiles * S), want(all.size());
        std::vector<float> av(all.size());
        dt_tensor IA = mk(nullptr, DT_I32, {p.n_tiles, S}),
                  VA = mk(nullptr, DT_F32, {p.n_tiles, S});
        dt_demo_topk(cpu, C, S, IA, VA);
        emu_cuk_demo_topk(0, c.data(), p.n_tiles, S, S, all.data(), av.data());
        dt_buffer_download(IA.buf, IA.offset, want.data(), want.size() * 4);
        check_bits("demo_topk k = tile size", all.data(), want.data(), all.size() * 4);
    }
    // decode-sub
    auto d = rv(p.rows * p.cols);
    for (size_t i = 0; i < vals.size(); i++) vals[i] = rnd();
    idx[3] = -1;
    dt_tensor D = mk(d.data(), DT_F32, {p.rows, p.cols});
    dt_buffer_upload(I.buf, I.offset, idx.data(), idx.size() * 4);
    dt_buffer_upload(V.buf, V.offset, vals.data(), vals.size() * 4);
    dt_demo_decode_sub(cpu, &p, I, V, F1, F2, D);
    emu_cuk_demo_decode_sub(0, &t, idx.data(), vals.data(), k, f1.data(), f2.data(), d.data());
    check("demo_decode_sub", d, down(D), 1e-4);
}

static void test_attention(int64_t B, int64_t T, int64_t H, int64_t hd) {
    const int64_t D = H * hd;
    float scale = 1.0f / std::sqrt((float)hd);
    auto qkv = rv(B * T * 3 * D), dout = rv(B * T * D);
    dt_tensor Q = mk(qkv.data(), DT_F32, {B, T, 3 * D}), O = mk(nullptr, DT_F32, {B, T, D}),
              L = mk(nullptr, DT_F32, {B, H, T});
    dt_attention_fwd(cpu, Q, O, L, H, scale);
    std::vector<float> out(B * T * D), lse(B * H * T), dq(B * T * 3 * D), delta(B * H * T);
    emu_cuk_attention_fwd(0, qkv.data(), out.data(), lse.data(), B, T, H, hd, scale);
    char n1[64];
    snprintf(n1, sizeof n1, "attention_fwd hd=%lld", (long long)hd);
    check(n1, out, down(O), 1e-4);
    check("attention lse", lse, down(L), 1e-5);
    dt_tensor DO = mk(dout.data(), DT_F32, {B, T, D}), DQ = mk(nullptr, DT_F32, {B, T, 3 * D}),
              SC = mk(nullptr, DT_F32, {B, H, T});
    dt_attention_bwd(cpu, Q, O, DO, L, DQ, SC, H, scale);
    emu_cuk_attention_bwd(0, qkv.data(), out.data(), dout.data(), lse.data(), dq.data(),
                          delta.data(), B, T, H, hd, scale);
    check("attention_bwd dqkv", dq, down(DQ), 1e-3);
}

static void test_rows() {
    const int64_t n = 6, V = 300;
    auto l = rv(n * V, 4);
    std::vector<int32_t> tg = {1, 299, 0, 77, -1, 150};
    dt_tensor Lg = mk(l.data(), DT_F32, {n, V}), Tg = mk(tg.data(), DT_I32, {n}),
              Ls = mk(nullptr, DT_F32, {n}), DL = mk(nullptr, DT_F32, {n, V});
    dt_softmax_xent(cpu, Lg, Tg, Ls, DL, 0.5f);
    std::vector<float> loss(n), dl = l; // dlogits aliases logits
    emu_cuk_softmax_xent(0, dl.data(), tg.data(), loss.data(), dl.data(), n, V, 0.5f);
    check("softmax_xent loss", loss, down(Ls), 1e-5);
    check("softmax_xent dlogits (alias)", dl, down(DL), 1e-4);
    std::vector<float> loss_only(n);
    emu_cuk_softmax_xent(0, l.data(), tg.data(), loss_only.data(), nullptr, n, V, 0.5f);
    check("softmax_xent forward only", loss_only, down(Ls), 1e-5);
    auto x = rv(n * V), w = rv(V), dy = rv(n * V), dw0 = rv(V);
    dt_tensor X = mk(x.data(), DT_F32, {n, V}), W = mk(w.data(), DT_F32, {V}),
              Y = mk(nullptr, DT_F32, {n, V}), R = mk(nullptr, DT_F32, {n});
    dt_rmsnorm_fwd(cpu, X, W, Y, R, 1e-5f);
    std::vector<float> y(n * V), r(n), dx(n * V), dw = dw0;
    emu_cuk_rmsnorm_fwd(0, x.data(), w.data(), y.data(), r.data(), n, V, 1e-5f);
    check("rmsnorm_fwd", y, down(Y), 1e-5);
    std::vector<float> xin = x; // y aliasing x
    emu_cuk_rmsnorm_fwd(0, xin.data(), w.data(), xin.data(), r.data(), n, V, 1e-5f);
    check("rmsnorm_fwd in place", xin, down(Y), 1e-5);
    check("rmsnorm rstd", r, down(R), 1e-6);
    dt_tensor DY = mk(dy.data(), DT_F32, {n, V}), DX = mk(nullptr, DT_F32, {n, V}),
              DW = mk(dw0.data(), DT_F32, {V});
    dt_rmsnorm_bwd(cpu, X, W, R, DY, DX, DW);
    emu_cuk_rmsnorm_bwd(0, x.data(), w.data(), r.data(), dy.data(), dx.data(), dw.data(), n, V);
    check("rmsnorm_bwd dx", dx, down(DX), 1e-4);
    check("rmsnorm_bwd dw", dw, down(DW), 1e-5);
    // rope on [B*T, width] with rot_cols < width
    const int64_t T = 3, hd = 8, width = 40, rot = 32, rows = 2 * T;
    std::vector<float> tab(T * hd);
    dt_rope_table(T, hd, 10000.0, tab.data());
    auto rx = rv(rows * width);
    dt_tensor RX = mk(rx.data(), DT_F32, {rows, width}),
              TB = mk(tab.data(), DT_F32, {T, hd / 2, 2});
    dt_rope_fwd(cpu, RX, TB, hd, rot);
    auto ry = rx;
    emu_cuk_rope(0, ry.data(), tab.data(), rows, width, T, hd, rot, 0);
    check("rope_fwd", ry, down(RX), 1e-6);
    dt_rope_bwd(cpu, RX, TB, hd, rot);
    emu_cuk_rope(0, ry.data(), tab.data(), rows, width, T, hd, rot, 1);
    check("rope_bwd", ry, down(RX), 1e-6);
    // swiglu
    const int64_t F = 45;
    auto h = rv(n * 2 * F, 3), dout = rv(n * F);
    dt_tensor Hh = mk(h.data(), DT_F32, {n, 2 * F}), SO = mk(nullptr, DT_F32, {n, F}),
              SD = mk(dout.data(), DT_F32, {n, F}), DH = mk(nullptr, DT_F32, {n, 2 * F});
    dt_swiglu_fwd(cpu, Hh, SO);
    dt_swiglu_bwd(cpu, Hh, SD, DH);
    std::vector<float> so(n * F), dh(n * 2 * F);
    emu_cuk_swiglu_fwd(0, h.data(), so.data(), n, F);
    emu_cuk_swiglu_bwd(0, h.data(), dout.data(), dh.data(), n, F);
    check("swiglu_fwd", so, down(SO), 1e-5);
    check("swiglu_bwd", dh, down(DH), 1e-4);
    // embedding with a repeated and an out-of-range token
    const int64_t vocab = 11, dim = 70;
    std::vector<int32_t> tok = {3, 5, 3, 12, 0, 10};
    auto tabv = rv(vocab * dim), dtab0 = rv(vocab * dim), eo = rv(n * dim);
    dt_tensor TK = mk(tok.data(), DT_I32, {n}), TT = mk(tabv.data(), DT_F32, {vocab, dim}),
              EO = mk(nullptr, DT_F32, {n, dim}), ED = mk(eo.data(), DT_F32, {n, dim}),
              DT = mk(dtab0.data(), DT_F32, {vocab, dim});
    dt_embedding_fwd(cpu, TK, TT, EO);
    dt_embedding_bwd(cpu, TK, ED, DT);
    std::vector<float> out(n * dim), dtab = dtab0;
    emu_cuk_embedding_fwd(0, tok.data(), tabv.data(), out.data(), n, vocab, dim);
    emu_cuk_embedding_bwd(0, tok.data(), eo.data(), dtab.data(), n, vocab, dim);
    check("embedding_fwd", out, down(EO), 0);
    check("embedding_bwd", dtab, down(DT), 1e-6);
}

static void test_elementwise() {
    const int64_t n = 5000;
    auto p = rv(n), g = rv(n), m = rv(n, 0.1f), v = rv(n, 0.1f);
    for (auto &x : v) x = std::fabs(x);
    dt_tensor P = mk(p.data(), DT_F32, {n}), G = mk(g.data(), DT_F32, {n}),
              M = mk(m.data(), DT_F32, {n}), Vv = mk(v.data(), DT_F32, {n});
    dt_adamw_params hp = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.19f, 0.0975f, 0.5f};
    dt_adamw(cpu, P, G, M, Vv, &hp);
    emu_cuk_adamw(0, p.data(), g.data(), m.data(), v.data(), n, hp.lr, hp.beta1, hp.beta2, hp.eps,
                  hp.weight_decay, hp.bias1, hp.bias2, hp.grad_scale);
    auto wp = down(P), wm = down(M), wv = down(Vv);
    check_bits("adamw p", p.data(), wp.data(), n * 4);
    check_bits("adamw m", m.data(), wm.data(), n * 4);
    check_bits("adamw v", v.data(), wv.data(), n * 4);
    double scratch[CUK_REDUCE_BLOCKS];
    float ss = 0, fin = 0;
    dt_tensor OUT = mk(nullptr, DT_F32, {1});
    dt_sum_squares(cpu, G, OUT);
    emu_cuk_sum_squares(0, g.data(), n, scratch, &ss);
    check("sum_squares", {ss}, down(OUT), 1e-6);
    g[4321] = NAN;
    dt_buffer_upload(G.buf, G.offset, g.data(), n * 4);
    dt_check_finite(cpu, G, OUT);
    emu_cuk_check_finite(0, g.data(), n, scratch, &fin);
    check("check_finite (NaN)", {fin}, down(OUT), 0);
    emu_cuk_check_finite(0, p.data(), n, scratch, &fin);
    check("check_finite (finite)", {fin}, {1.0f}, 0);
    auto md = rv(n), mg = rv(n);
    dt_tensor MD = mk(md.data(), DT_F32, {n}), MG = mk(mg.data(), DT_F32, {n});
    dt_demo_momentum(cpu, MD, MG, 0.999f, 3e-3f);
    emu_cuk_demo_momentum(0, md.data(), mg.data(), n, 0.999f, 3e-3f);
    check("demo_momentum", md, down(MD), 1e-6);
}

// The runtime's shared exactness probe (runtime/canonical_probe.c), run on
// the cpu device with its demo_apply entry replaced by the emulated CUDA
// kernel: the same problems a CUDA device faces at its first dt_demo_apply.
static dt_status emu_apply(dt_device *, const dt_tile_plan *p, const dt_tensor *idx,
                           const dt_tensor *vals, int64_t k, int64_t n_contrib,
                           const dt_tensor *recip, const dt_tensor *f1, const dt_tensor *f2,
                           const dt_tensor *w, float lr, float decay, dt_demo_update update) {
    emu_cuk_tiles t = {p->cols,          p->tile_rows, p->tile_cols,
                       p->tiles_per_row, p->n_tiles,   p->tile_size};
    emu_cuk_demo_apply(0, &t, cpu_i32(idx), cpu_f32(vals), k, n_contrib, cpu_f32(recip),
                       cpu_f32(f1), cpu_f32(f2), cpu_f32(w), lr, decay,
                       update == DT_DEMO_UPDATE_SIGN);
    return DT_OK;
}

static void test_shared_probe() {
    static dt_device_ops ops;
    ops = *cpu->ops;
    ops.demo_apply = emu_apply;
    const dt_device_ops *orig = cpu->ops;
    cpu->ops = &ops;
    int exact = 0;
    dt_status st = dt_canonical_probe(cpu, &exact);
    cpu->ops = orig;
    bool ok = st == DT_OK && exact;
    if (!ok) fails++;
    printf("%-4s %-28s %s\n", ok ? "ok" : "FAIL", "shared exactness probe",
           st != DT_OK ? dt_last_error()
           : exact     ? "exact"
                       : "INEXACT");
}

int main() {
    if (dt_device_open("cpu", &cpu) != DT_OK) {
        printf("%s\n", dt_last_error());
        return 1;
    }
    test_shared_probe();
    test_apply({24, 40}, 8, 3, 6, DT_DEMO_UPDATE_SIGN);
    test_apply({24, 40}, 8, 3, 6, DT_DEMO_UPDATE_SCALED);
    test_apply({64, 64}, 64, 4, 32, DT_DEMO_UPDATE_SCALED);
    test_apply({50}, 8, 2, 3, DT_DEMO_UPDATE_SIGN);
    test_demo_ops();
    test_attention(2, 7, 3, 40);
    test_attention(1, 5, 2, 256);
    test_rows();
    test_elementwise();
    printf("%s: %d checks failed (CUDA kernels under CPU emulation, not on a GPU)\n",
           fails ? "FAIL" : "PASS", fails);
    for (dt_tensor &t : made) dt_tensor_free(&t);
    dt_device_close(cpu);
    return fails != 0;
}
