/* distro-cli run: play a scenario on this machine. A coordinator and the
 * peers run as separate processes over loopback (ephemeral port, CURVE by
 * default); peers join, get killed, and the coordinator gets killed and
 * resumed at the steps the scenario names; then a summary. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_args.h"
#include "cli/commands.h"
#include "cli/run_report.h"
#include "net/keys.h"
#include "web/report.h"

static const cli_opt run_opts[] = {
    {"steps", "N", "override the scenario's step count (a shorter run)"},
    {"keep", "DIR", "keep the run's files (logs, keys, checkpoint, summary) in DIR"},
    {"summary", "FILE", "write the summary as JSON"},
    {"no-baseline", NULL, "skip the AdamW single-device baseline"},
    {"http", "[HOST:]PORT",
     "serve a live dashboard while the run plays (loopback unless HOST says otherwise)"},
    {"report", "FILE",
     "where report.html goes (default: beside --summary, else in --keep DIR, else ./report.html)"},
    {NULL, NULL, NULL},
};

static const cli_cmd run_cmd = {
    "run",
    "[SCENARIO.json]",
    "Play a networked run on this machine: a coordinator and peers as separate processes.",
    "Without a scenario it plays the embedded default: the shakespeare preset on the\n"
    "embedded corpus with one peer per backend found here (CPU, OpenCL, Vulkan), then a\n"
    "summary: final validation loss next to AdamW on one device over the same tokens,\n"
    "bytes per peer per step against a dense fp32 ring all-reduce, replica hash agreement,\n"
    "throughput per peer, and a text sample. A scenario file can name peers, devices, join\n"
    "and kill steps, link shaping, and a coordinator restart (see the README). A\n"
    "scenario the run could never finish (duplicate peer names, a join or kill step\n"
    "outside the run, a step with no peer in it) is refused before anything starts; a\n"
    "peer that dies on its own stops the run, naming its exit status or signal.",
    run_opts,
    0,
    1,
};

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Whether a device spec names a device this build can see (without opening it). */
static bool device_exists(const char *spec) {
    if (strcmp(spec, "auto") == 0 || strcmp(spec, "cpu") == 0) return true;
    const char *colon = strchr(spec, ':');
    if (!colon) return false;
    int index = atoi(colon + 1);
    for (int b = 0; b < dt_backend_count(); b++) {
        if (strncmp(dt_backend_name(b), spec, (size_t)(colon - spec)) != 0 ||
            strlen(dt_backend_name(b)) != (size_t)(colon - spec))
            continue;
        int count = 0;
        return dt_backend_devices(b, &count, NULL, 0) == DT_OK && index < count;
    }
    return false;
}

static bool write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Keys for everyone: the coordinator's file admits every peer's key. */
static bool make_keys(run_ctx *r) {
    net_keys coord;
    if (net_keys_generate(&coord) != DT_OK) return false;
    for (int i = 0; i < r->s.n_peers; i++) {
        net_keys pk;
        char path[PATH_MAX];
        if (net_keys_generate(&pk) != DT_OK) return false;
        snprintf(path, sizeof path, "%s/%s.keys", r->dir, r->s.peers[i].name);
        bool ok = net_keys_save(path, &pk, true) == DT_OK &&
                  net_keys_add_peer(&coord, pk.public_key, r->s.peers[i].name) == DT_OK;
        net_keys_free(&pk);
        if (!ok) return false;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/coordinator.keys", r->dir);
    bool ok = net_keys_save(path, &coord, true) == DT_OK;
    net_keys_free(&coord);
    return ok;
}

static bool start_coordinator(run_ctx *r, bool resume) {
    char config[PATH_MAX], keys[PATH_MAX], ready[PATH_MAX], summary[PATH_MAX], record[PATH_MAX];
    char ck[PATH_MAX], err[PATH_MAX], listen[64];
    snprintf(config, sizeof config, "%s/run.json", r->dir);
    snprintf(keys, sizeof keys, "%s/coordinator.keys", r->dir);
    snprintf(ready, sizeof ready, "%s/ready", r->dir);
    snprintf(summary, sizeof summary, "%s/summary.json", r->dir);
    snprintf(record, sizeof record, "%s/record.bin", r->dir);
    snprintf(ck, sizeof ck, "%s/checkpoint", r->dir);
    snprintf(err, sizeof err, "%s/coordinator.err", r->dir);
    snprintf(listen, sizeof listen, "tcp://127.0.0.1:%d", r->port);
    mkdir(ck, 0755);
    remove(ready);
    char *argv[24];
    int n = 0;
    argv[n++] = r->exe;
    argv[n++] = "coordinator";
    argv[n++] = "--config", argv[n++] = config;
    argv[n++] = "--listen", argv[n++] = listen;
    if (r->s.open)
        argv[n++] = "--open";
    else
        argv[n++] = "--keys", argv[n++] = keys;
    argv[n++] = "--device", argv[n++] = r->s.coordinator_device;
    argv[n++] = "--ready-file", argv[n++] = ready;
    argv[n++] = "--summary", argv[n++] = summary;
    argv[n++] = "--record", argv[n++] = record;
    argv[n++] = "--checkpoint-dir", argv[n++] = ck;
    if (resume) argv[n++] = "--resume";
    argv[n++] = "--json";
    argv[n] = NULL;
    char *env[] = {"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", NULL};
    if (!run_child_start(&r->coord, r->exe, argv, env, true, NULL, err)) return false;
    /* Wait for the socket: the ready file holds the endpoint and key. */
    for (double t0 = now_s(); now_s() - t0 < 60.0 && !interrupted;) {
        FILE *f = fopen(ready, "r");
        if (f) {
            char endpoint[256] = "", key[64] = "";
            bool ok = fscanf(f, "%255s %63s", endpoint, key) == 2;
            fclose(f);
            const char *colon = strrchr(endpoint, ':');
            if (ok && colon) {
                r->port = atoi(colon + 1);
                snprintf(r->server_key, sizeof r->server_key, "%s", key);
                return true;
            }
        }
        if (run_child_poll(&r->coord)) return false;
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

static bool start_peer(run_ctx *r, int i) {
    const scenario_peer *sp = &r->s.peers[i];
    char address[64], keys[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
    char up[32], down[32], lat[32];
    snprintf(address, sizeof address, "127.0.0.1:%d", r->port);
    snprintf(keys, sizeof keys, "%s/%s.keys", r->dir, sp->name);
    snprintf(out, sizeof out, "%s/peer-%s.log", r->dir, sp->name);
    snprintf(err, sizeof err, "%s/peer-%s.err", r->dir, sp->name);
    snprintf(up, sizeof up, "%g", sp->up_mbit);
    snprintf(down, sizeof down, "%g", sp->down_mbit);
    snprintf(lat, sizeof lat, "%g", sp->latency_ms);
    char *argv[24];
    int n = 0;
    argv[n++] = r->exe;
    argv[n++] = "join";
    argv[n++] = address;
    argv[n++] = "--device", argv[n++] = (char *)sp->device;
    argv[n++] = "--name", argv[n++] = (char *)sp->name;
    if (!r->s.open) {
        argv[n++] = "--keys", argv[n++] = keys;
        argv[n++] = "--server-key", argv[n++] = r->server_key;
    }
    if (sp->up_mbit > 0) argv[n++] = "--up-mbit", argv[n++] = up;
    if (sp->down_mbit > 0) argv[n++] = "--down-mbit", argv[n++] = down;
    if (sp->latency_ms > 0) argv[n++] = "--latency-ms", argv[n++] = lat;
    argv[n++] = "--json";
    argv[n] = NULL;
    /* Every runtime that starts threads (OpenMP, OpenBLAS, PoCL, lavapipe)
     * may use every core, waiting passively: peers finish their shares of a
     * round at different times, and the slowest one should not be left on
     * one core while the others idle. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = sp->threads ? sp->threads : (int)(cores > 0 ? cores : 1);
    static char env_store[SCENARIO_MAX_PEERS][5][64];
    char(*e)[64] = env_store[i];
    snprintf(e[0], 64, "OMP_NUM_THREADS=%d", threads);
    snprintf(e[1], 64, "OPENBLAS_NUM_THREADS=%d", threads);
    snprintf(e[2], 64, "POCL_CPU_MAX_CU_COUNT=%d", threads);
    snprintf(e[3], 64, "LP_NUM_THREADS=%d", threads);
    snprintf(e[4], 64, "OMP_WAIT_POLICY=PASSIVE");
    char *env[] = {e[0], e[1], e[2], e[3], e[4], NULL};
    r->peer_started[i] = run_child_start(&r->peers[i], r->exe, argv, env, false, out, err);
    if (r->peer_started[i]) run_note(r, "started peer %s on %s", sp->name, sp->device);
    return r->peer_started[i];
}

/* One line of the coordinator's JSON log; true when it ended a step. */
static bool on_coordinator_line(run_ctx *r, const char *line) {
    if (r->coord_log) {
        fprintf(r->coord_log, "%s\n", line);
        fflush(r->coord_log);
    }
    cJSON *o = cJSON_Parse(line);
    if (!o) return false;
    run_view_add_event(r->view, r->view_run, o); /* what it cannot read, it leaves out */
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    /* Per-peer round figures and hash arrivals are for the dashboard. */
    bool quiet = cJSON_IsString(ev) && (strcmp(ev->valuestring, "peer_step") == 0 ||
                                        strcmp(ev->valuestring, "hash") == 0);
    bool step_done = cJSON_IsString(ev) && strcmp(ev->valuestring, "step") == 0;
    if (step_done) {
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
        const cJSON *loss = cJSON_GetObjectItemCaseSensitive(o, "loss");
        const cJSON *peers = cJSON_GetObjectItemCaseSensitive(o, "peers");
        if (cJSON_IsNumber(step)) r->step = (int64_t)step->valuedouble + 1;
        if (cJSON_IsNumber(loss)) r->loss = loss->valuedouble;
        if (cJSON_IsNumber(peers)) r->peers_in_step = (int)peers->valuedouble;
        r->last_progress = now_s();
        run_progress(r);
    } else if (cJSON_IsString(ev) && !quiet) { /* log, joined, left, resync, refused, ... */
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
        if (cJSON_IsString(text)) run_note(r, "coordinator: %s", text->valuestring);
    }
    cJSON_Delete(o);
    return step_done;
}

/* Joins, kills and the coordinator restart, as the run reaches their steps. */
static bool scenario_events(run_ctx *r) {
    for (int i = 0; i < r->s.n_peers; i++) {
        const scenario_peer *sp = &r->s.peers[i];
        if (r->skipped[i]) continue;
        if (!r->peer_started[i] && r->step >= sp->join_step && !start_peer(r, i)) return false;
        if (r->peer_started[i] && sp->kill_step >= 0 && r->step >= sp->kill_step &&
            !r->peer_killed[i]) {
            /* Reaped before anything else is read, so the peer is gone
             * (its connection closed) before the run goes on. */
            run_child_kill(&r->peers[i], SIGKILL);
            run_child_wait(&r->peers[i], 5.0);
            r->peer_killed[i] = true;
            run_note(r, "killed peer %s with SIGKILL at step %lld", sp->name, (long long)r->step);
        }
    }
    if (r->s.restart_coordinator_at >= 0 && r->step >= r->s.restart_coordinator_at &&
        !r->restarted) {
        run_child_kill(&r->coord, SIGKILL);
        run_child_wait(&r->coord, 10.0);
        r->restarted = true;
        run_note(r, "killed the coordinator with SIGKILL at step %lld; restarting it with --resume",
                 (long long)r->step);
        if (!start_coordinator(r, true)) return false;
        r->last_progress = now_s();
    }
    return true;
}

/* Every coordinator line there is, each handled in order: a step's joins
 * and kills fire on the very line that ends the step before it, not after
 * a batch of later lines (which would kill a peer steps late). */
static bool read_coordinator(run_ctx *r) {
    char line[8192];
    while (run_child_read_line(&r->coord, line, sizeof line))
        if (on_coordinator_line(r, line) && !scenario_events(r)) return false;
    return true;
}

/* A peer that ended without being killed by the scenario: an error exit or
 * a signal is a broken run (named, with the signal); a clean exit before
 * the run's end leaves one peer fewer. */
static bool check_peers(run_ctx *r, int *live) {
    *live = 0;
    for (int i = 0; i < r->s.n_peers; i++) {
        if (!r->peer_started[i] || r->peer_killed[i]) continue;
        if (!run_child_poll(&r->peers[i])) {
            (*live)++;
            continue;
        }
        if (r->peer_reported[i]) continue;
        r->peer_reported[i] = true;
        int ps = r->peers[i].status;
        if (WIFEXITED(ps) && WEXITSTATUS(ps) == 0) continue;
        char how[160];
        run_child_describe(&r->peers[i], how, sizeof how);
        fprintf(stderr, "distro-cli run: peer '%s' %s at step %lld (see %s/peer-%s.err)\n",
                r->s.peers[i].name, how, (long long)r->step, r->dir, r->s.peers[i].name);
        return false;
    }
    return true;
}

/* No peer left while steps remain: nothing can finish a round again. */
static void report_no_peers(run_ctx *r) {
    fprintf(stderr,
            "distro-cli run: every peer is gone at step %lld of %lld, so the run cannot go on:",
            (long long)r->step, (long long)r->s.run.steps);
    for (int i = 0; i < r->s.n_peers; i++) {
        const scenario_peer *sp = &r->s.peers[i];
        char how[160];
        if (r->skipped[i]) continue;
        if (!r->peer_started[i]) {
            fprintf(stderr, " '%s' would join at step %lld;", sp->name, (long long)sp->join_step);
            continue;
        }
        run_child_describe(&r->peers[i], how, sizeof how);
        fprintf(stderr, " '%s' %s%s;", sp->name,
                r->peer_killed[i] ? "was killed by the scenario, it " : "", how);
    }
    fprintf(stderr, " (see %s)\n", r->dir);
}

/* The view of the run (report.html, and the dashboard with --http), with
 * each peer's link shaping, which no event carries. */
static bool open_view(run_ctx *r, const char *http) {
    /* Unlabelled, the run is named by its run id once the coordinator says it. */
    if (run_view_create(http != NULL, &r->view) != DT_OK ||
        run_view_add_run(r->view, "", &r->view_run) != DT_OK) {
        fprintf(stderr, "distro-cli run: %s\n", dt_last_error());
        return false;
    }
    for (int i = 0; i < r->s.n_peers; i++) {
        const scenario_peer *p = &r->s.peers[i];
        char link[128] = "";
        if (p->up_mbit > 0 || p->down_mbit > 0 || p->latency_ms > 0)
            snprintf(link, sizeof link, "%g/%g Mbit/s, %g ms", p->up_mbit, p->down_mbit,
                     p->latency_ms);
        if (!r->skipped[i] && link[0]) run_view_set_link(r->view, r->view_run, p->name, link);
    }
    if (!http) return true;
    if (web_dashboard_start(http, r->view, &r->dashboard) != DT_OK) {
        fprintf(stderr, "distro-cli run: %s\n", dt_last_error());
        return false;
    }
    fprintf(stderr, "distro-cli run: live dashboard at %s\n", web_dashboard_url(r->dashboard));
    if (!web_dashboard_loopback(r->dashboard))
        fprintf(stderr,
                "distro-cli run: warning: the dashboard listens beyond this machine (%s) "
                "and has no authentication\n",
                http);
    return true;
}

/* report.html: --report, else beside --summary, else in --keep DIR, else
 * in the current folder. Written whatever the outcome: a failed run's
 * curves are what tell why. */
static void write_report(run_ctx *r, const char *report, const char *summary, const char *keep) {
    char path[PATH_MAX];
    if (report) {
        snprintf(path, sizeof path, "%s", report);
    } else if (summary || keep) {
        const char *base = summary ? summary : keep;
        const char *slash = summary ? strrchr(summary, '/') : NULL;
        int dir_len = summary ? (slash ? (int)(slash - summary) : 0) : (int)strlen(keep);
        snprintf(path, sizeof path, "%.*s%sreport.html", dir_len, base, dir_len ? "/" : "");
    } else {
        snprintf(path, sizeof path, "report.html");
    }
    if (run_view_events(r->view) == 0) return;
    if (web_report_write(r->view, path) != DT_OK)
        fprintf(stderr, "distro-cli run: %s\n", dt_last_error());
    else
        printf("\nreport: %s (loss curves, bytes, throughput, hashes; open it in a browser)\n",
               path);
}

static int play(run_ctx *r) {
    if (!start_coordinator(r, false)) {
        fprintf(stderr, "distro-cli run: the coordinator did not start (see %s/coordinator.err)\n",
                r->dir);
        return 1;
    }
    run_note(r, "coordinator listening on 127.0.0.1:%d (%s)", r->port,
             r->s.open ? "open" : "CURVE");
    r->last_progress = now_s();
    double stall = 3.0 * r->s.run.round_deadline_s + 120.0;
    bool ok = scenario_events(r);
    while (ok && !interrupted) {
        ok = read_coordinator(r);
        if (!ok) break;
        if (run_child_poll(&r->coord)) {
            ok = read_coordinator(r);
            break;
        }
        int live = 0;
        if (!check_peers(r, &live)) return 1;
        /* A peer that left after the last step was written (the run's end)
         * may be seen before that line: read what the coordinator said. */
        if (live == 0 && (ok = read_coordinator(r)) && r->step < r->s.run.steps &&
            !run_child_poll(&r->coord)) {
            report_no_peers(r);
            return 1;
        }
        if (now_s() - r->last_progress > stall) {
            fprintf(stderr, "distro-cli run: no step finished for %.0f s; stopping\n", stall);
            return 1;
        }
        /* Woken by the coordinator's next line, so a step's events fire
         * as soon as it is reported. */
        run_child_wait_fd(&r->coord, 0.05);
    }
    if (!ok) {
        fprintf(stderr, "distro-cli run: could not start a process\n");
        return 1;
    }
    run_progress_done(r);
    if (interrupted) return 130;
    if (!WIFEXITED(r->coord.status) || WEXITSTATUS(r->coord.status) != 0) {
        char how[160];
        run_child_describe(&r->coord, how, sizeof how);
        fprintf(stderr, "distro-cli run: the coordinator %s (see %s/coordinator.err)\n", how,
                r->dir);
        return 1;
    }
    for (int i = 0; i < r->s.n_peers; i++) run_child_wait(&r->peers[i], 15.0);
    return 0;
}

int cmd_run(int argc, char **argv) {
    cli_args args;
    int rc = cli_parse(&run_cmd, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    run_ctx *r = calloc(1, sizeof *r);
    if (!r) return 1;
    r->tty = cli_isatty_stderr();
    r->started = now_s();
    int64_t steps = 0;
    if (!cli_get_int(&args, "steps", 1, 1000000000, 0, &steps)) return free(r), 2;
    if (scenario_load(args.n_positional ? args.positional[0] : NULL, &r->s) != DT_OK) {
        fprintf(stderr, "distro-cli run: %s\n", dt_last_error());
        free(r);
        return 1;
    }
    if (steps) {
        r->s.run.steps = r->s.run.schedule.total = steps;
        if (r->s.run.schedule.warmup > steps) r->s.run.schedule.warmup = steps / 10;
    }
    if (cli_flag(&args, "no-baseline")) r->s.baseline = 0;
    for (int i = 0; i < r->s.n_peers; i++) {
        r->skipped[i] = !device_exists(r->s.peers[i].device);
        if (r->skipped[i] && !r->s.peers[i].optional) {
            fprintf(stderr,
                    "distro-cli run: peer %s: no device %s here (mark it \"optional\" to "
                    "skip it)\n",
                    r->s.peers[i].name, r->s.peers[i].device);
            scenario_free(&r->s);
            free(r);
            return 1;
        }
        r->n_active += !r->skipped[i];
        r->n_initial += !r->skipped[i] && r->s.peers[i].join_step == 0;
    }
    /* Refused here rather than found out by waiting: a run that no peer can
     * start or finish would wait forever. */
    dt_status checked = scenario_check(&r->s, r->skipped);
    if (checked == DT_OK && r->s.run.min_peers > r->n_initial)
        checked = dt_error(DT_ERR_INVALID,
                           "the run config's min_peers is %lld, but only %d peer%s start%s at "
                           "step 0: the coordinator would wait for the others forever",
                           (long long)r->s.run.min_peers, r->n_initial,
                           r->n_initial == 1 ? "" : "s", r->n_initial == 1 ? "s" : "");
    if (checked != DT_OK) {
        fprintf(stderr, "distro-cli run: %s%s\n", args.n_positional ? "" : "the default ",
                dt_last_error());
        scenario_free(&r->s);
        free(r);
        return 1;
    }
    /* The peers that start with the run train from its first step. */
    if (r->s.run.min_peers < r->n_initial) r->s.run.min_peers = r->n_initial;
    const char *keep = cli_get(&args, "keep");
    if (keep && strlen(keep) >= sizeof r->dir) {
        fprintf(stderr, "distro-cli run: --keep: the path is longer than %zu bytes\n",
                sizeof r->dir - 1);
        return 2;
    }
    if (keep) {
        snprintf(r->dir, sizeof r->dir, "%s", keep);
        mkdir(r->dir, 0755);
    } else {
        snprintf(r->dir, sizeof r->dir, "/tmp/distro-run-XXXXXX");
        if (!mkdtemp(r->dir)) {
            perror("distro-cli run: mkdtemp");
            return 1;
        }
    }
    ssize_t len = readlink("/proc/self/exe", r->exe, sizeof r->exe - 1);
    r->exe[len > 0 ? len : 0] = '\0';
    char *run_json = net_run_config_to_json(&r->s.run, 1);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/run.json", r->dir);
    if (!run_json || !write_text(path, run_json) || (!r->s.open && !make_keys(r))) {
        fprintf(stderr, "distro-cli run: cannot prepare %s: %s\n", r->dir, dt_last_error());
        free(run_json);
        return 1;
    }
    free(run_json);
    run_banner(r);
    if (!open_view(r, cli_get(&args, "http"))) return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    char log_path[PATH_MAX];
    snprintf(log_path, sizeof log_path, "%s/coordinator.log", r->dir);
    r->coord_log = fopen(log_path, "a"); /* best effort: the run does not need it */
    rc = play(r);
    run_child_kill(&r->coord, SIGTERM);
    run_child_wait(&r->coord, 10.0);
    for (int i = 0; i < r->s.n_peers; i++) {
        run_child_kill(&r->peers[i], SIGTERM);
        run_child_wait(&r->peers[i], 5.0);
    }
    if (rc == 0) rc = run_report(r, cli_get(&args, "summary"));
    write_report(r, cli_get(&args, "report"), cli_get(&args, "summary"), keep);
    web_dashboard_stop(r->dashboard);
    run_view_destroy(r->view);
    if (rc != 0 || keep)
        fprintf(stderr, "distro-cli run: files of this run are in %s\n", r->dir);
    else
        run_remove_dir(r->dir);
    if (r->coord_log) fclose(r->coord_log);
    scenario_free(&r->s);
    free(r);
    return rc;
}
