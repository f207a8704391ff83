/* distro-cli train: training on one device with AdamW, DeMo or local steps,
 * optionally as N simulated peers. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "cli/payload_check.h"
#include "cli/train_setup.h"
#include "model/checkpoint.h"
#include "model/trainer.h"

static const cli_opt train_opts[] = {
    TRAIN_MODEL_OPTS,
    {"steps", "N", "optimizer steps in the run (default 1000)"},
    {"batch", "B", "sequences per micro-batch (default 12)"},
    {"accum", "N", "micro-batches per step and worker (default 1)"},
    {"device", "SPEC",
     "cpu, opencl:N, vulkan:N, cuda:N or auto (default auto), with :OPTION=VALUE device "
     "options (cpu:threads=2, vulkan:0:kernels=gpu; 'distro-cli devices' lists them)"},
    {"save", "FILE", "write a checkpoint here at the end (and with --save-every)"},
    {"save-every", "N", "also checkpoint every N steps (needs --save)"},
    {"resume", "FILE",
     "continue bit-exactly from a checkpoint, with its model, optimizer and schedule"},
    {"eval-every", "N", "validation loss every N steps (default 100; 0: only at the end)"},
    {"eval-batches", "N", "validation batches per evaluation (default 20)"},
    {"json", NULL, "one JSON object per round on stdout"},
    {"hashes", NULL, "with --json: the parameter hash after every round (a download each)"},
    {"dry-run", NULL, "print parameters and memory per device, allocate nothing"},
    {NULL, NULL, NULL},
};

static const cli_cmd train_cmd = {
    "train",
    "",
    "Train a model on one device, optionally as --workers N simulated peers.",
    "DeMo and local steps run exactly the networked path: each worker (peer id 1..N,\n"
    "its own data, momentum or error feedback and inner state) compresses a payload,\n"
    "all payloads are applied with the canonical update, each worker confirms its\n"
    "error feedback. The payload size is what a peer would send each round.\n"
    "Local steps: each round is --inner-steps H AdamW steps per worker from the shared\n"
    "weights; the compressed difference moves them (--outer scaled or sign).\n"
    "AdamW trains on every worker's micro-batches at once: the dense baseline on the\n"
    "same tokens.\n"
    "Ctrl-C stops after the current round and writes the --save checkpoint.\n"
    "--resume takes the model, the optimizer, its settings and the schedule from the\n"
    "checkpoint: an option given as well must agree with it (it is refused, named,\n"
    "otherwise), except --data and --steps; a --steps that makes the learning rate\n"
    "jump at the resume step is warned about.",
    train_opts,
    0,
    0,
};

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void format_duration(double s, char *out, size_t len) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = s > 1e7 ? 10000000L : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, len, "%lds", t);
}

/* Throughput leaves out the first round of the process: it pays for one-time
 * work such as a driver compiling kernels on their first launch (PoCL takes
 * seconds), which llm.c's timing leaves out too. Until a second round has
 * run, the first is all there is. */
typedef struct train_clock {
    double tokens, seconds; /* from the second round on */
    double first_tokens, first_seconds;
    int64_t steps; /* steps in tokens and seconds */
} train_clock;

static void train_clock_add(train_clock *c, const model_step_report *r, bool tty) {
    if (c->first_seconds == 0.0) {
        c->first_tokens = (double)r->tokens;
        c->first_seconds = r->seconds > 0 ? r->seconds : 1e-9;
        if (r->seconds > 1.0)
            fprintf(stderr,
                    "%sthe first step took %.1f s (one-time work, such as kernels compiled "
                    "on first launch); tokens/s leaves it out\n",
                    tty ? "\r\033[K" : "", r->seconds);
        return;
    }
    c->tokens += (double)r->tokens;
    c->seconds += r->seconds;
    c->steps += r->steps;
}

static double train_clock_tps(const train_clock *c) {
    if (c->seconds > 0) return c->tokens / c->seconds;
    return c->first_seconds > 0 ? c->first_tokens / c->first_seconds : 0.0;
}

/* "steps" (the total) and "t" (seconds since training began) let a report
 * show progress and time for a train log as for a coordinator's. */
static void print_json_step(const model_step_report *r, int64_t total, double t, double tps,
                            float val_loss, const uint64_t *hash) {
    printf("{\"t\":%.3f,\"step\":%lld,\"steps\":%lld,\"loss\":%.6f,\"lr\":%.6g,\"grad_norm\":%.6g,"
           "\"tokens\":%lld,"
           "\"tokens_per_s\":%.1f,\"payload_bytes\":%zu,\"payload_bytes_per_step\":%.1f",
           t, (long long)r->step, (long long)total, (double)r->loss, (double)r->lr, r->grad_norm,
           (long long)r->tokens, tps, r->payload_bytes,
           (double)r->payload_bytes / (double)r->steps);
    if (!isnan(val_loss)) printf(",\"val_loss\":%.6f", (double)val_loss);
    if (hash) printf(",\"hash\":\"%016llx\"", (unsigned long long)*hash);
    printf("}\n");
    fflush(stdout);
}

/* The line before the first step: what is trained, on what, from where. */
static void print_header(FILE *out, const train_setup *s, const model_dataset *ds, dt_device *dev,
                         bool resuming, int64_t next_step, uint64_t hash) {
    const dt_device_info *info = dt_device_get_info(dev);
    const model_train_options *o = &s->options;
    fprintf(out, "model %s: %lld parameters; data %s; device %s (%s); optimizer %s", s->model_name,
            (long long)model_config_param_count(&s->config), model_dataset_name(ds), info->spec,
            info->name, model_optimizer_name(o->optimizer));
    if (o->optimizer == MODEL_OPT_LOCAL)
        fprintf(out, " (%lld inner steps, outer %s lr %g)", (long long)o->inner_steps,
                o->demo.update == DT_DEMO_UPDATE_SIGN ? "sign" : "scaled", (double)o->outer_lr);
    if (o->optimizer != MODEL_OPT_ADAMW)
        fprintf(out, " (top-k %lld, %s values, chunk %lld, beta %g)", (long long)o->demo.topk,
                demo_values_name(o->demo.values), (long long)o->demo.chunk, (double)o->demo.beta);
    if (o->workers > 1) fprintf(out, "; %lld workers", (long long)o->workers);
    fprintf(out, "; %s step %lld; param hash %016llx\n", resuming ? "resuming at" : "starting at",
            (long long)next_step, (unsigned long long)hash);
}

/* Text progress after a step: on a terminal one line redrawn in place (with
 * an ETA), and a kept line at each evaluation; elsewhere a kept line every
 * twentieth of the run and at each evaluation. */
static void print_progress(const model_step_report *r, int64_t total, const train_clock *clock,
                           double tps, float step_val, bool tty, int64_t plain_every) {
    const int64_t done_steps = r->step + 1, before = done_steps - r->steps;
    char eta[48];
    double per_step = clock->steps ? clock->seconds / (double)clock->steps
                                   : clock->first_seconds / (double)r->steps;
    format_duration((double)(total - done_steps) * per_step, eta, sizeof eta);
    if (tty)
        fprintf(stderr,
                "\r\033[Kstep %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  payload %zu B  ETA %s",
                (long long)r->step, (long long)total, (double)r->loss, (double)r->lr, tps,
                r->payload_bytes, eta);
    if (!isnan(step_val) || (!tty && done_steps / plain_every != before / plain_every)) {
        if (tty) fprintf(stderr, "\r\033[K");
        /* The step index, as in the JSON output (0-based). */
        printf("step %lld/%lld  loss %.4f", (long long)r->step, (long long)total, (double)r->loss);
        if (!isnan(step_val)) printf("  val loss %.4f", (double)step_val);
        printf("  %.0f tok/s  payload %zu B\n", tps, r->payload_bytes);
        fflush(stdout);
    }
}

static int dry_run(const train_setup *s) {
    model_memory mem;
    uint64_t opt_bytes = 0;
    if (model_memory_estimate(&s->config, s->batch, &mem) != DT_OK) {
        fprintf(stderr, "distro-cli train: %s\n", dt_last_error());
        return 1;
    }
    if (s->options.optimizer != MODEL_OPT_ADAMW) {
        model_layout l;
        int n = (int)s->options.workers;
        if (model_layout_build(&s->config, &l) != DT_OK ||
            model_demo_state_bytes(&l, &s->options.demo, n, &opt_bytes) != DT_OK) {
            fprintf(stderr, "distro-cli train: %s\n", dt_last_error());
            return 1;
        }
        model_layout_free(&l);
        /* Per worker: inner AdamW moments and the saved global weights. */
        if (s->options.optimizer == MODEL_OPT_LOCAL) opt_bytes += 3 * mem.weights;
        opt_bytes *= (uint64_t)n;
    } else {
        opt_bytes = 2 * mem.weights;
    }
    const double mib = 1024.0 * 1024.0;
    printf("model %s: %lld parameters (%lld layers, dim %lld, %lld heads, ffn %lld, vocab %lld, "
           "seq %lld, %s embeddings)\n",
           s->model_name, (long long)model_config_param_count(&s->config),
           (long long)s->config.n_layers, (long long)s->config.dim, (long long)s->config.n_heads,
           (long long)s->config.ffn_dim, (long long)s->config.vocab_size,
           (long long)s->config.seq_len, s->config.tie_embeddings ? "tied" : "untied");
    printf("memory per device at batch %lld:\n", (long long)s->batch);
    printf("  weights          %12.1f MiB\n", (double)mem.weights / mib);
    printf("  gradients        %12.1f MiB\n", (double)mem.grads / mib);
    printf("  optimizer (%s) %*s%12.1f MiB\n", model_optimizer_name(s->options.optimizer),
           s->options.optimizer == MODEL_OPT_ADAMW ? 2 : 3, "", (double)opt_bytes / mib);
    printf("  activations      %12.1f MiB\n", (double)mem.activations / mib);
    printf("  total            %12.1f MiB\n",
           (double)(mem.weights + mem.grads + opt_bytes + mem.activations) / mib);
    return 0;
}

/* A checkpoint holds the options it was trained with ("train"), so that
 * --resume can take them instead of asking for them again. */
static dt_status save_checkpoint(model_trainer *tr, const train_setup *s, const char *path) {
    char *options = train_setup_to_json(s);
    if (!options) return dt_error(DT_ERR_OOM, "checkpoint %s: cannot describe the options", path);
    st_metadata meta[] = {{"train", options}};
    dt_status st = model_trainer_save_with(tr, path, meta, 1);
    free(options);
    return st;
}

static int fail(const char *what) {
    fprintf(stderr, "distro-cli train: %s: %s\n", what, dt_last_error());
    return 1;
}

/* What the step loop carries from one step to the next. */
typedef struct train_loop {
    model_trainer *tr;
    model *m;
    const train_setup *s;
    const char *save; /* checkpoint file, or NULL */
    int64_t save_every, eval_every;
    bool json, hashes, tty;
    int64_t total, plain_every;
    double started;
    train_clock clock;
    float val_loss; /* the latest evaluation */
} train_loop;

/* One step, then its evaluation, output and checkpoint when due. Returns
 * NULL, or the stage that failed (dt_last_error says why). */
static const char *train_one_step(train_loop *L) {
    model_step_report r = {0};
    if (model_trainer_step(L->tr, &r) != DT_OK) return "step";
    train_clock_add(&L->clock, &r, L->tty && !L->json);
    const double tps = train_clock_tps(&L->clock);
    const int64_t done_steps = r.step + 1, before = done_steps - r.steps;
    float step_val = NAN;
    if ((L->eval_every && done_steps / L->eval_every != before / L->eval_every) ||
        done_steps == L->total) {
        if (model_trainer_eval(L->tr, &step_val) != DT_OK) return "eval";
        L->val_loss = step_val;
    }
    if (L->json) {
        uint64_t hash = 0;
        if (L->hashes && model_param_hash(L->m, &hash) != DT_OK) return "hash";
        print_json_step(&r, L->total, cli_now() - L->started, tps, step_val,
                        L->hashes ? &hash : NULL);
    } else {
        print_progress(&r, L->total, &L->clock, tps, step_val, L->tty, L->plain_every);
    }
    if (L->save && L->save_every && done_steps / L->save_every != before / L->save_every &&
        save_checkpoint(L->tr, L->s, L->save) != DT_OK)
        return "checkpoint";
    return NULL;
}

int cmd_train(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&train_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    train_setup s;
    rc = train_setup_parse(&args, &s);
    if (rc) return rc;
    int64_t save_every = 0, eval_every = 0, eval_batches = 0;
    if (!cli_get_int(&args, "save-every", 0, INT64_MAX, 0, &save_every) ||
        !cli_get_int(&args, "eval-every", 0, INT64_MAX, 100, &eval_every) ||
        !cli_get_int(&args, "eval-batches", 1, 100000, 20, &eval_batches))
        return 2;
    const char *save = cli_get(&args, "save"), *resume = cli_get(&args, "resume");
    if (save_every && !save) return cli_fail(&train_cmd, "--save-every needs --save FILE");
    /* Before any training: a typo in --save must not cost the whole run. */
    if (save && model_checkpoint_check_path(save) != DT_OK) {
        fprintf(stderr, "distro-cli train: --save: %s\n", dt_last_error());
        return 1;
    }
    s.options.eval_batches = eval_batches;
    if (s.options.optimizer != MODEL_OPT_ADAMW)
        cli_warn_large_payload("train", &s.config, s.options.demo.chunk, s.options.demo.topk,
                               s.options.demo.values);
    if (cli_flag(&args, "dry-run")) return dry_run(&s);
    bool json = cli_flag(&args, "json"), tty = cli_isatty_stderr();
    bool hashes = cli_flag(&args, "hashes");
    if (hashes && !json) return cli_fail(&train_cmd, "--hashes needs --json");

    dt_device *dev = NULL;
    model *m = NULL;
    model_dataset *ds = NULL;
    model_trainer *tr = NULL;
    int exit_code = 1;
    if (dt_device_open(cli_get(&args, "device"), &dev) != DT_OK) {
        exit_code = fail("device");
        goto done;
    }
    if (model_dataset_open(s.data, s.config.vocab_size, &ds) != DT_OK ||
        model_dataset_check(ds, s.config.seq_len) != DT_OK) {
        exit_code = fail("data");
        goto done;
    }
    if (model_create(dev, &s.config, s.batch, &m) != DT_OK || model_init_weights(m) != DT_OK ||
        model_trainer_create(m, ds, &s.options, &tr) != DT_OK) {
        exit_code = fail("model");
        goto done;
    }
    if (resume && model_trainer_resume(tr, resume) != DT_OK) {
        exit_code = fail("resume");
        goto done;
    }
    uint64_t hash = 0;
    if (model_param_hash(m, &hash) != DT_OK) {
        exit_code = fail("hash");
        goto done;
    }
    print_header(json ? stderr : stdout, &s, ds, dev, resume != NULL, model_trainer_next_step(tr),
                 hash);

    signal(SIGINT, on_sigint);
    train_loop L = {.tr = tr,
                    .m = m,
                    .s = &s,
                    .save = save,
                    .save_every = save_every,
                    .eval_every = eval_every,
                    .json = json,
                    .hashes = hashes,
                    .tty = tty,
                    .total = s.options.schedule.total,
                    .started = cli_now(),
                    .val_loss = NAN};
    L.plain_every = L.total / 20 > 0 ? L.total / 20 : 1;
    while (model_trainer_next_step(tr) < L.total && !interrupted) {
        const char *failed = train_one_step(&L);
        if (failed) {
            exit_code = fail(failed);
            goto done;
        }
    }
    if (tty && !json) fprintf(stderr, "\r\033[K");
    if (save && save_checkpoint(tr, &s, save) != DT_OK) {
        exit_code = fail("checkpoint");
        goto done;
    }
    if (model_param_hash(m, &hash) != DT_OK) {
        exit_code = fail("hash");
        goto done;
    }
    fprintf(json ? stderr : stdout,
            "%s at step %lld: val loss %.4f, %.0f tokens/s, param hash %016llx%s%s\n",
            interrupted ? "interrupted" : "finished", (long long)model_trainer_next_step(tr),
            (double)L.val_loss, train_clock_tps(&L.clock), (unsigned long long)hash,
            save ? ", saved " : "", save ? save : "");
    exit_code = interrupted ? 130 : 0;
done:
    model_trainer_destroy(tr);
    model_destroy(m);
    model_dataset_close(ds);
    dt_device_close(dev);
    return exit_code;
}
