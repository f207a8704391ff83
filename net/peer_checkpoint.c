/* A peer's own optimizer state on disk (`join --state FILE`): its DeMo
 * momentum, or under local steps its error feedback, inner AdamW moments and
 * inner update count. Nobody else holds them: a peer restarted without them
 * starts its optimizer from zero. The file is a safetensors checkpoint
 * (weights, state groups, and the run id, round and inner count in its
 * metadata), written atomically after every `state_every` applied rounds. A
 * restarted peer welcomed into the same run, with the same model and
 * optimizer, loads the state back; any other file is left alone with a log
 * line, never an error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/checkpoint.h"
#include "net/peer_internal.h"

dt_status peer_state_save(peer *p) {
    const net_peer_options *o = p->o;
    if (!o->state_file) return DT_OK;
    int64_t every = o->state_every > 0 ? o->state_every : 1;
    if (p->version % every != 0 && p->version != p->cfg.steps) return DT_OK;
    model_worker_state ws[3];
    model_state_group g[3];
    int n = model_worker_state_groups(p->worker, ws);
    for (int i = 0; i < n; i++) g[i] = (model_state_group){ws[i].prefix, ws[i].buf};
    char run[24], inner[24];
    snprintf(run, sizeof run, "%016" PRIx64, p->run_id);
    snprintf(inner, sizeof inner, "%" PRId64, model_worker_inner_count(p->worker));
    st_metadata extra[] = {{"run_id", run}, {"inner_count", inner}};
    dt_status st = model_checkpoint_save(
        o->state_file, p->m, model_optimizer_name(p->cfg.optimizer), p->version, g, n, extra, 2);
    return st == DT_OK ? st : dt_error_wrap(st, "--state: ");
}

/* Why the file cannot serve this run, or NULL when it can. */
static const char *mismatch(peer *p, const model_checkpoint *c, char *why, size_t cap) {
    char run[24];
    snprintf(run, sizeof run, "%016" PRIx64, p->run_id);
    const char *have = st_metadata_get(c->file, "run_id");
    if (!have || strcmp(have, run) != 0) {
        snprintf(why, cap, "it belongs to run %s, this is run %s", have ? have : "?", run);
        return why;
    }
    if (strcmp(c->optimizer, model_optimizer_name(p->cfg.optimizer)) != 0) {
        snprintf(why, cap, "it holds %s state, this run uses %s", c->optimizer,
                 model_optimizer_name(p->cfg.optimizer));
        return why;
    }
    return NULL;
}

void peer_state_restore(peer *p) {
    const char *path = p->o->state_file;
    if (!path) return;
    FILE *f = fopen(path, "rb");
    if (!f) return; /* the first start: nothing saved yet */
    fclose(f);
    model_checkpoint c;
    if (model_checkpoint_open(path, &c) != DT_OK) {
        peer_log(p, "--state %s: unreadable, starting my optimizer from zero (%s)", path,
                 dt_last_error());
        return;
    }
    char why[160];
    const char *bad = mismatch(p, &c, why, sizeof why);
    model_worker_state ws[3];
    int n = model_worker_state_groups(p->worker, ws);
    dt_status st = DT_OK;
    for (int i = 0; !bad && st == DT_OK && i < n; i++)
        st = model_checkpoint_load(&c, p->m, ws[i].prefix, ws[i].buf);
    const char *inner = st_metadata_get(c.file, "inner_count");
    if (!bad && st == DT_OK) {
        model_worker_set_inner_count(p->worker, inner ? strtoll(inner, NULL, 10) : 0);
        peer_log(p, "--state %s: restored my optimizer state of round %lld (%lld inner updates)",
                 path, (long long)c.step, (long long)model_worker_inner_count(p->worker));
    } else {
        /* A half-loaded state is worse than none: zero it again. */
        for (int i = 0; i < n; i++)
            dt_fill(model_get_device(p->m),
                    dt_tensor_1d(ws[i].buf, 0, DT_F32, (int64_t)(dt_buffer_size(ws[i].buf) / 4)),
                    0.0f);
        peer_log(p, "--state %s: not used (%s); starting my optimizer from zero", path,
                 bad ? bad : dt_last_error());
    }
    model_checkpoint_close(&c);
}
