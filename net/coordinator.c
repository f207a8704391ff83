/* The coordinator's lifecycle and event loop. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/checkpoint.h"
#include "runtime/file_io.h"
#include "net/coordinator_internal.h"

double coord_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

dt_status coord_send(coord *c, coord_peer *p, const net_msg *m) {
    size_t len = 0;
    dt_status st = net_encode(m, c->frame, NET_MAX_FRAME, &len);
    if (st != DT_OK) return st;
    /* Never wait: one peer that does not read must not hold up the others. */
    return net_server_send(c->server, &p->route, c->frame, len, 0);
}

static uint64_t random_run_id(void) {
    uint64_t id = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &id, sizeof id) != (ssize_t)sizeof id) id = 0;
        close(fd);
    }
    if (!id) id = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    return id ? id : 1;
}

/* "endpoint\npublic-key\n", written atomically once the socket is bound so
 * a launcher (distro-cli run, tests) can start peers against it. */
static dt_status write_ready_file(const coord *c) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->o->ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f) return dt_error(DT_ERR_IO, "ready file %s: cannot create", tmp);
    fprintf(f, "%s\n%s\n", net_server_endpoint(c->server),
            c->o->keys ? c->o->keys->public_key : "open");
    int bad = fflush(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, c->o->ready_file) != 0) {
        remove(tmp);
        return dt_error(DT_ERR_IO, "ready file %s: cannot write", c->o->ready_file);
    }
    return DT_OK;
}

/* Writes and removes a probe file in dir: the one test that also catches a
 * read-only mount or a full quota, which permission bits do not show. */
static dt_status probe_folder(const char *what, const char *path, const char *dir) {
    static int probes;
    char probe[4352];
    snprintf(probe, sizeof probe, "%s/.distro-probe-%ld-%d", dir, (long)getpid(), probes++);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return dt_error(DT_ERR_IO, "%s %s: cannot write in the folder %s: %s", what, path, dir,
                        strerror(errno));
    close(fd);
    unlink(probe);
    return DT_OK;
}

/* The checkpoint folder exists and takes files before the first round
 * (created when its parent exists): a typo shows now, not when the first
 * checkpoint is due. */
static dt_status check_checkpoint_dir(const char *dir) {
    struct stat sb;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dt_error(DT_ERR_IO, "--checkpoint-dir %s: cannot create it: %s", dir,
                        errno == ENOENT ? "its parent folder does not exist" : strerror(errno));
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return dt_error(DT_ERR_IO, "--checkpoint-dir %s: not a folder", dir);
    return probe_folder("--checkpoint-dir", dir, dir);
}

/* A file written at the end (--summary, replaced by a rename) or appended
 * to each round (--record): its folder exists and takes files, and the path
 * is not a device, folder or other non-regular file, which a rename would
 * replace. */
static dt_status check_output_file(const char *what, const char *path) {
    struct stat sb;
    if (!path[0]) return dt_error(DT_ERR_INVALID, "%s: empty path", what);
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return dt_error(DT_ERR_INVALID, "%s %s: not a regular file", what, path);
    char dir[4096];
    dt_path_folder(path, dir, sizeof dir);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return dt_error(DT_ERR_IO, "%s %s: the folder %s does not exist", what, path, dir);
    return probe_folder(what, path, dir);
}

/* Everything the run will write is checked before any model is built or
 * the port bound, so a run never dies at its first checkpoint or its end. */
static dt_status check_outputs(const net_coordinator_options *o) {
    dt_status st = o->checkpoint_dir ? check_checkpoint_dir(o->checkpoint_dir) : DT_OK;
    if (st == DT_OK && o->summary_file) st = check_output_file("--summary", o->summary_file);
    if (st == DT_OK && o->record_file) st = check_output_file("--record", o->record_file);
    return st;
}

static dt_status setup(coord *c) {
    const net_run_config *cfg = c->cfg;
    dt_status st = check_outputs(c->o);
    if (st == DT_OK) st = dt_device_open(c->o->device, &c->dev);
    if (st == DT_OK) st = model_create(c->dev, &cfg->model, cfg->micro_batch, &c->m);
    if (st == DT_OK) st = model_init_weights(c->m);
    if (st == DT_OK) st = model_demo_create(c->m, &cfg->demo, &c->demo);
    if (st == DT_OK) st = model_dataset_open(cfg->data, cfg->model.vocab_size, &c->ds);
    if (st == DT_OK) st = model_dataset_check(c->ds, cfg->model.seq_len);
    if (st != DT_OK) return st;
    c->payload_bytes = model_demo_payload_bytes(c->demo);
    c->run_id = random_run_id();
    if (c->o->resume) {
        st = coord_resume(c);
        if (st != DT_OK) return st;
    }
    c->records = calloc((size_t)cfg->steps, sizeof *c->records);
    c->frame = malloc(NET_MAX_FRAME);
    c->msg = malloc(sizeof *c->msg);
    c->history_cap = 64;
    c->history = calloc((size_t)c->history_cap, sizeof *c->history);
    if (!c->records || !c->frame || !c->msg || !c->history)
        return dt_error(DT_ERR_OOM, "coordinator: cannot allocate bookkeeping");
    if (c->o->record_file && c->o->resume && (st = coord_record_trim(c)) != DT_OK) return st;
    if (c->o->record_file && !(c->record = fopen(c->o->record_file, "ab")))
        return dt_error(DT_ERR_IO, "record file %s: cannot open", c->o->record_file);
    net_server_config sc = {c->o->listen, c->o->keys, c->o->open != 0, 0};
    st = net_server_open(&sc, &c->server);
    if (st == DT_OK && c->o->ready_file) st = write_ready_file(c);
    return st;
}

static void teardown(coord *c) {
    for (int i = 0; i < NET_MAX_PEERS; i++) free(c->peers[i].submit);
    for (int i = 0; i < c->history_len; i++) free(c->history[i].payloads);
    free(c->history);
    free(c->snapshot);
    free(c->prev_snapshot);
    free(c->records);
    free(c->frame);
    free(c->msg);
    if (c->record) fclose(c->record);
    net_server_close(c->server);
    model_dataset_close(c->ds);
    model_demo_destroy(c->demo);
    model_destroy(c->m);
    dt_device_close(c->dev);
}

static void log_refusals(coord *c, uint64_t *seen) {
    net_refusal r[NET_REFUSALS_KEPT];
    int n = 0;
    uint64_t total = net_server_refusals(c->server, r, NET_REFUSALS_KEPT, &n);
    if (total == *seen) return;
    if (n > 0)
        coord_event(c, NET_EVENT_REJECTED, 0,
                    "refused a peer key not in the keys file: %s from %s (%llu refusals so far)",
                    r[0].key[0] ? r[0].key : "(none)", r[0].address[0] ? r[0].address : "?",
                    (unsigned long long)total);
    *seen = total;
}

static dt_status dispatch(coord *c, const net_frame *f) {
    net_msg *m = c->msg;
    char route[2 * NET_ROUTE_MAX + 1];
    if (net_decode(f->data, f->len, m) != DT_OK) {
        net_route_format(&f->from, route, sizeof route);
        coord_log(c, "ignored a malformed frame from connection %s: %s", route, dt_last_error());
        return DT_OK;
    }
    if (m->h.type == NET_HELLO) return coord_on_hello(c, f, m);
    coord_peer *p = coord_peer_by_route(c, &f->from);
    if (!p) return DT_OK; /* a stale connection (e.g. from before a restart): it will HELLO */
    /* LEAVE is about the connection, whatever the peer knew of the run. */
    if (m->h.type == NET_LEAVE) {
        coord_on_leave(c, p, "left");
        return DT_OK;
    }
    if (m->h.run_id != c->run_id) {
        coord_log(c, "peer %u sent %s for run %016llx; this run is %016llx", p->id,
                  net_type_name(m->h.type), (unsigned long long)m->h.run_id,
                  (unsigned long long)c->run_id);
        return DT_OK;
    }
    switch (m->h.type) {
    case NET_STATE_REQ:
        return coord_on_state_req(c, p, m);
    case NET_SUBMIT:
        return coord_on_submit(c, p, m);
    case NET_HASH:
        return coord_on_hash(c, p, m);
    default:
        coord_log(c, "peer %u sent an unexpected %s; ignored", p->id, net_type_name(m->h.type));
        return DT_OK;
    }
}

/* Peers whose send queue was full when results went out get them now. */
static dt_status retry_backlogs(coord *c) {
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (p->state != PEER_SYNCED || p->blocked_since == 0) continue;
        dt_status st = coord_catch_up(c, p);
        if (st != DT_OK) return st;
    }
    return DT_OK;
}

/* The replica's mean loss over the first eval_batches validation batches:
 * the same batches at every evaluation, so the curve compares like with
 * like. */
dt_status coord_eval(coord *c, float *val) {
    int64_t b = c->cfg->micro_batch, seq = c->cfg->model.seq_len;
    int32_t *tok = malloc((size_t)(b * seq) * 4), *tgt = malloc((size_t)(b * seq) * 4);
    dt_status st = tok && tgt ? DT_OK : dt_error(DT_ERR_OOM, "coordinator: eval buffers");
    double sum = 0.0;
    for (int64_t i = 0; st == DT_OK && i < c->cfg->eval_batches; i++) {
        float loss = 0.0f;
        st = model_dataset_val_batch(c->ds, i, b, seq, tok, tgt);
        if (st == DT_OK) st = model_forward_loss(c->m, tok, tgt, b, &loss);
        sum += loss;
    }
    free(tok);
    free(tgt);
    if (st == DT_OK) *val = (float)(sum / (double)c->cfg->eval_batches);
    return st;
}

static dt_status finish(coord *c) {
    float val = NAN;
    dt_status st = coord_eval(c, &val);
    if (st != DT_OK) return st;
    uint64_t hash = 0;
    st = model_param_hash(c->m, &hash);
    if (st != DT_OK) return st;
    char hash_text[24];
    snprintf(hash_text, sizeof hash_text, "%016llx", (unsigned long long)hash);
    const net_event_field f[] = {{"val_loss", NET_FIELD_NUM, (double)val, NULL},
                                 {"hash", NET_FIELD_STR, 0, hash_text}};
    coord_event_with(c, NET_EVENT_FINISHED, 0, c->version, f, 2,
                     "finished %lld steps: val loss %.4f, param hash %s", (long long)c->version,
                     (double)val, hash_text);
    if (c->o->checkpoint_dir) st = coord_checkpoint(c);
    if (st == DT_OK && c->o->summary_file) st = coord_write_summary(c, val);
    /* Tell every peer the run is over (LEAVE from the coordinator). */
    for (int i = 0; i < NET_MAX_PEERS; i++) {
        coord_peer *p = &c->peers[i];
        if (!coord_live(p)) continue;
        net_msg m = {.h = {NET_LEAVE, c->run_id, c->version}};
        coord_send(c, p, &m); /* best effort: the run is over either way */
    }
    /* Sockets close with LINGER 0: give the I/O thread a moment to put the
     * goodbyes on the wire (peers also stop by themselves after the last
     * step if one is lost). */
    for (double until = coord_now() + 0.5; coord_now() < until;) {
        net_frame f;
        bool arrived = false;
        if (net_server_recv(c->server, 50, &f, &arrived) != DT_OK) break;
    }
    return st;
}

dt_status net_coordinator_run(const net_coordinator_options *o) {
    coord *c = calloc(1, sizeof *c);
    if (!c) return dt_error(DT_ERR_OOM, "coordinator: cannot allocate");
    c->o = o;
    c->cfg = o->config;
    c->next_id = 1;
    c->started_at = coord_now();
    c->max_per_key = o->max_per_key > 0 ? o->max_per_key : NET_COORDINATOR_MAX_PER_KEY;
    c->max_per_address =
        o->max_per_address > 0 ? o->max_per_address : NET_COORDINATOR_MAX_PER_ADDRESS;
    dt_status st = setup(c);
    if (st == DT_OK) coord_report_started(c);
    uint64_t refusals_seen = 0;
    while (st == DT_OK && !c->finished && !(o->stop && *o->stop)) {
        int timeout = 200;
        if (c->round_open) {
            double left = c->round_deadline - coord_now();
            timeout = left <= 0 ? 0 : left < 0.2 ? (int)(left * 1000) + 1 : 200;
        }
        net_frame f;
        bool arrived = false;
        st = net_server_recv(c->server, timeout, &f, &arrived);
        /* Whatever else is queued is read before closes are acted on: a
         * peer that sent LEAVE and closed has left, it was not dropped. */
        for (int budget = 256; st == DT_OK && arrived;) {
            st = dispatch(c, &f);
            if (st != DT_OK || --budget == 0) break; /* closes wait for the next turn */
            st = net_server_recv(c->server, 0, &f, &arrived);
        }
        if (st == DT_OK) coord_reap(c, !arrived);
        if (st == DT_OK) st = retry_backlogs(c);
        if (st == DT_OK) st = coord_maybe_close_round(c);
        if (st == DT_OK) st = coord_maybe_start_round(c);
        log_refusals(c, &refusals_seen);
    }
    /* The last round's acknowledgements are still on their way: give the
     * peers a moment so the summary covers the final hash too. */
    for (double until = coord_now() + 5.0; st == DT_OK && c->finished && coord_now() < until;) {
        bool waiting = false;
        for (int i = 0; i < NET_MAX_PEERS; i++)
            waiting |= c->peers[i].state == PEER_SYNCED && c->peers[i].sent == c->version &&
                       c->peers[i].version < c->version;
        if (!waiting || (o->stop && *o->stop)) break;
        net_frame f;
        bool arrived = false;
        st = net_server_recv(c->server, 100, &f, &arrived);
        if (st == DT_OK && arrived) st = dispatch(c, &f);
    }
    if (st == DT_OK && c->finished)
        st = finish(c);
    else if (st == DT_OK && o->checkpoint_dir && c->version > 0) {
        coord_log(c, "stopping at step %lld; writing a checkpoint", (long long)c->version);
        st = coord_checkpoint(c);
    }
    dt_status keep = st;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", dt_last_error());
    teardown(c);
    free(c);
    if (keep != DT_OK) dt_error(keep, "%s", msg);
    return keep;
}
