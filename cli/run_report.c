/* Progress and the final summary of `distro-cli run`. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/run_baseline.h"
#include "cli/printable_text.h"
#include "cli/run_report.h"
#include "cli/sampler.h"
#include "model/checkpoint.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void clear_line(const run_ctx *r) {
    if (r->tty) fprintf(stderr, "\r\033[K");
}

void run_note(run_ctx *r, const char *fmt, ...) {
    char text[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    clear_line(r);
    printf("[run %6.1fs] %s\n", now_s() - r->started, text);
    fflush(stdout);
    if (r->tty) run_progress(r);
}

void run_banner(run_ctx *r) {
    const net_run_config *c = &r->s.run;
    printf("distro run: %s model (%lld parameters), %lld steps of %lld tokens, %s\n", c->model_name,
           (long long)model_config_param_count(&c->model), (long long)c->steps,
           (long long)(net_run_micro_batches(c) * c->micro_batch * c->model.seq_len),
           r->s.open ? "open (no authentication)" : "CURVE-authenticated");
    for (int i = 0; i < r->s.n_peers; i++) {
        const scenario_peer *p = &r->s.peers[i];
        if (r->skipped[i]) {
            printf("  peer %-10s %-10s skipped: no such device in this build or machine\n", p->name,
                   p->device);
            continue;
        }
        printf("  peer %-10s %-10s", p->name, p->device);
        if (p->join_step) printf(" joins at step %lld", (long long)p->join_step);
        if (p->kill_step >= 0) printf(" killed at step %lld", (long long)p->kill_step);
        if (p->up_mbit > 0) printf(" up %g Mbit/s", p->up_mbit);
        if (p->down_mbit > 0) printf(" down %g Mbit/s", p->down_mbit);
        if (p->latency_ms > 0) printf(" latency %g ms", p->latency_ms);
        printf("\n");
    }
    if (r->s.restart_coordinator_at >= 0)
        printf("  the coordinator is killed at step %lld and resumed from its checkpoint\n",
               (long long)r->s.restart_coordinator_at);
    fflush(stdout);
}

void run_progress(run_ctx *r) {
    int64_t total = r->s.run.steps;
    double elapsed = now_s() - r->started;
    if (r->tty) {
        double eta = r->step > 0 ? elapsed / (double)r->step * (double)(total - r->step) : 0;
        fprintf(stderr, "\r\033[Kstep %lld/%lld  loss %.4f  %d peer%s  %.0fs elapsed  ETA %.0fs",
                (long long)r->step, (long long)total, r->loss, r->peers_in_step,
                r->peers_in_step == 1 ? "" : "s", elapsed, eta);
        fflush(stderr);
        return;
    }
    int64_t every = total / 10 > 0 ? total / 10 : 1;
    if (r->step % every == 0 || r->step == total)
        printf("[run %6.1fs] step %lld/%lld  loss %.4f  %d peers\n", elapsed, (long long)r->step,
               (long long)total, r->loss, r->peers_in_step);
    fflush(stdout);
}

void run_progress_done(run_ctx *r) {
    clear_line(r);
}

void run_remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[PATH_MAX + 256];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0) run_remove_dir(path);
    }
    closedir(d);
    remove(dir);
}

static cJSON *load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n > 0 ? malloc((size_t)n + 1) : NULL;
    cJSON *j = NULL;
    if (text && fread(text, 1, (size_t)n, f) == (size_t)n) {
        text[n] = '\0';
        j = cJSON_Parse(text);
    }
    free(text);
    fclose(f);
    return j;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : "";
}

/* A sample from the coordinator's final checkpoint. */
static dt_status sample(run_ctx *r, char *out, size_t cap) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/checkpoint/coordinator.safetensors", r->dir);
    model_checkpoint ck;
    dt_status st = model_checkpoint_open(path, &ck);
    if (st != DT_OK) return st;
    dt_device *dev = NULL;
    model *m = NULL;
    sampler s = {0};
    const char *prompt = "ROMEO:";
    size_t n = 0;
    st = dt_device_open("cpu", &dev);
    if (st == DT_OK) st = model_create(dev, &ck.config, 1, &m);
    if (st == DT_OK) st = model_checkpoint_load(&ck, m, NULL, model_weights_buffer(m));
    if (st == DT_OK) st = sampler_init(&s, m, 0.8, 40, 1);
    int32_t tok[8];
    int64_t np = model_tokenize_bytes(prompt, tok, 8);
    if (st == DT_OK) st = sampler_feed(&s, tok, np);
    /* A byte-level model's bytes, as text: its output is anything. */
    const size_t want = (size_t)r->s.sample_tokens < cap ? (size_t)r->s.sample_tokens : cap - 1;
    char *raw = calloc(want + 1, 1);
    if (st == DT_OK && !raw) st = dt_error(DT_ERR_OOM, "sample: %zu bytes", want + 1);
    for (size_t i = 0; st == DT_OK && i < want; i++) {
        int32_t t;
        st = sampler_next(&s, &t);
        if (st == DT_OK && ck.config.vocab_size == 256) raw[n++] = (char)t;
    }
    if (raw) printable_text(prompt, raw, n, out, cap);
    free(raw);
    sampler_free(&s);
    model_destroy(m);
    dt_device_close(dev);
    model_checkpoint_close(&ck);
    return st;
}

static void fmt_bytes(double b, char *out, size_t cap) {
    if (b >= 1e6)
        snprintf(out, cap, "%.2f MB", b / 1e6);
    else
        snprintf(out, cap, "%.1f KB", b / 1e3);
}

/* What a run moved, per peer and optimizer step (a round of local steps
 * holds several), from the summary's step records, and what a dense fp32
 * all-reduce of the same steps would have moved. */
typedef struct run_traffic {
    double up, down, payload, allreduce;
    double opt_steps;    /* optimizer steps in all */
    double contributors; /* mean peers applied per round */
} run_traffic;

static run_traffic sum_traffic(const cJSON *sum) {
    run_traffic t = {0};
    double n_rec = 0;
    const cJSON *rec;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItemCaseSensitive(sum, "step_records")) {
        double k = num(rec, "peers_in_round"), h = num(rec, "optimizer_steps");
        if (!(k > 0) || !(h > 0)) continue;
        t.up += num(rec, "bytes_up") / k;
        t.down += num(rec, "bytes_down") / k;
        t.payload += num(rec, "payload_up") / k;
        t.allreduce += num(rec, "allreduce_bytes_per_peer") * h;
        t.contributors += num(rec, "applied");
        t.opt_steps += h;
        n_rec++;
    }
    if (t.opt_steps > 0) {
        t.up /= t.opt_steps, t.down /= t.opt_steps;
        t.payload /= t.opt_steps, t.allreduce /= t.opt_steps;
    }
    if (n_rec > 0) t.contributors /= n_rec;
    return t;
}

/* The one-device AdamW baseline on the same tokens, its curve added beside
 * the run's in report.html and the dashboard. On failure base->val_loss
 * stays NaN and the report says why. */
static void run_report_baseline(run_ctx *r, const cJSON *sum, run_baseline_result *base) {
    const net_run_config *c = &r->s.run;
    run_baseline_config bc = {c, r->s.baseline_lr};
    if (run_baseline(&bc, sum, r->tty, base) != DT_OK) {
        fprintf(stderr, "distro-cli run: baseline failed: %s\n", dt_last_error());
        base->val_loss = NAN;
    }
    for (int64_t i = 0; base->round_loss && i < c->steps; i++)
        if (isfinite(base->round_loss[i]))
            run_view_add_baseline(r->view, r->view_run, "baseline_train_loss", i,
                                  base->round_loss[i]);
    if (isfinite(base->val_loss))
        run_view_add_baseline(r->view, r->view_run, "baseline_val_loss", c->steps - 1,
                              base->val_loss);
    free(base->round_loss);
    base->round_loss = NULL;
}

static void print_peers(const cJSON *sum) {
    printf("\n%-10s %-40s %6s %10s %10s %10s %10s\n", "peer", "device", "rounds", "tokens",
           "tokens/s", "up/round", "down/round");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(sum, "peers")) {
        double applied = num(p, "steps_applied");
        char u[32], d[32];
        fmt_bytes(applied > 0 ? num(p, "bytes_up") / applied : 0, u, sizeof u);
        fmt_bytes(applied > 0 ? num(p, "bytes_down") / applied : 0, d, sizeof d);
        printf("%-10.10s %-40.40s %6.0f %10.0f %10.0f %10s %10s%s%s\n", str(p, "name"),
               str(p, "device"), applied, num(p, "tokens"), num(p, "tokens_per_s"), u, d,
               str(p, "left")[0] ? "  left: " : "", str(p, "left"));
    }
}

static void print_traffic(const run_traffic *t, double params) {
    char bu[32], bd[32], bp[32], bar[32];
    fmt_bytes(t->up, bu, sizeof bu);
    fmt_bytes(t->down, bd, sizeof bd);
    fmt_bytes(t->payload, bp, sizeof bp);
    fmt_bytes(t->allreduce, bar, sizeof bar);
    printf("\nbytes per peer per optimizer step: %s up (%s payload), %s down\n", bu, bp, bd);
    printf("dense fp32 ring all-reduce: %s per peer per step (2(N-1)/N x 4 B x %.0f params, "
           "N = %.1f)\n",
           bar, params, t->contributors);
    if (t->allreduce > 0 && t->up > 0)
        printf("reduction per optimizer step: %.0fx on the upload, %.0fx on the download\n",
               t->allreduce / t->up, t->allreduce / (t->down > 0 ? t->down : 1));
    else
        printf("reduction against it:       n/a (a single contributor moves nothing in an "
               "all-reduce)\n");
}

/* The coordinator's summary with the report's figures added (--summary). */
static void write_summary(const char *path, cJSON *sum, const run_ctx *r,
                          const run_baseline_result *base, double val, const run_traffic *t,
                          const char *text) {
    cJSON_AddNumberToObject(sum, "baseline_val_loss", (double)base->val_loss);
    cJSON_AddNumberToObject(sum, "baseline_tokens", (double)base->tokens);
    cJSON_AddNumberToObject(sum, "baseline_lr", r->s.baseline_lr);
    cJSON_AddNumberToObject(sum, "gap_percent",
                            100.0 * (val - (double)base->val_loss) / (double)base->val_loss);
    cJSON_AddNumberToObject(sum, "optimizer_steps", t->opt_steps);
    cJSON_AddNumberToObject(sum, "reduction_up", t->up > 0 ? t->allreduce / t->up : 0.0);
    cJSON_AddNumberToObject(sum, "bytes_up_per_peer_per_step", t->up);
    cJSON_AddNumberToObject(sum, "bytes_down_per_peer_per_step", t->down);
    cJSON_AddNumberToObject(sum, "allreduce_bytes_per_peer_per_step", t->allreduce);
    cJSON_AddStringToObject(sum, "sample", text);
    char *j = cJSON_Print(sum);
    FILE *f = j ? fopen(path, "w") : NULL;
    if (!f || fputs(j, f) < 0 || fclose(f) != 0)
        fprintf(stderr, "distro-cli run: cannot write %s\n", path);
    free(j);
}

int run_report(run_ctx *r, const char *summary_path) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/summary.json", r->dir);
    cJSON *sum = load_json(path);
    if (!sum) {
        fprintf(stderr, "distro-cli run: the coordinator wrote no summary (%s)\n", path);
        return 1;
    }
    const net_run_config *c = &r->s.run;
    double params = num(sum, "params"), val = num(sum, "val_loss");
    double steps = num(sum, "steps"), tokens = num(sum, "tokens");
    double checked = num(sum, "steps_hash_checked"), agreeing = num(sum, "steps_hash_agreeing");
    double seconds = now_s() - r->started;
    const run_traffic t = sum_traffic(sum);
    run_baseline_result base = {NAN, 0, 0, 0, NULL};
    if (r->s.baseline) run_report_baseline(r, sum, &base);
    char text[8192] = "";
    if (r->s.sample_tokens > 0 && sample(r, text, sizeof text) != DT_OK)
        snprintf(text, sizeof text, "(no sample: %s)", dt_last_error());

    const char *opt = str(sum, "optimizer");
    char label[64];
    if (strcmp(opt, "local") == 0)
        snprintf(label, sizeof label, "local steps (H=%.0f), networked", num(sum, "inner_steps"));
    else
        snprintf(label, sizeof label, "DeMo, networked replicas");
    printf("\n== distro run summary (%.0f rounds, %.0f optimizer steps, %.0f s) ==\n", steps,
           t.opt_steps, seconds);
    printf("%-40s %10s %12s\n", "", "val loss", "tokens");
    printf("%-40s %10.4f %12.0f\n", label, val, tokens);
    if (r->s.baseline) {
        printf("%-40s %10.4f %12lld   (lr %g, %.0f s)\n", "AdamW, one device, same tokens",
               (double)base.val_loss, (long long)base.tokens, r->s.baseline_lr, base.seconds);
        printf("gap against AdamW:          %+.2f%%\n",
               100.0 * (val - (double)base.val_loss) / (double)base.val_loss);
        if (base.filled_rounds)
            printf("(the summary lacked the micro-batches of %lld rounds before a coordinator "
                   "restart; the baseline used the nearest recorded round's)\n",
                   (long long)base.filled_rounds);
    }
    print_peers(sum);
    print_traffic(&t, params);
    bool hashes_ok = checked > 0 && agreeing == checked;
    printf("replica hashes:             %s: %.0f of %.0f checked steps agreed across every "
           "reporting peer and the coordinator\n",
           hashes_ok ? "OK" : "MISMATCH", agreeing, checked);
    if (text[0]) printf("\nsample from the final model:\n%s\n", text);

    if (summary_path) write_summary(summary_path, sum, r, &base, val, &t, text);
    cJSON_Delete(sum);
    return steps == (double)c->steps && hashes_ok ? 0 : 1;
}
