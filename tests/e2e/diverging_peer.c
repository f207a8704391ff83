/* diverging_peer: a peer whose replica goes wrong on purpose, for the
 * resync tests (issue 11 moved this fault out of the production peer).
 *
 *   diverging_peer ADDRESS (--open | --keys FILE --server-key KEY)
 *                  --flip-after STEP [--name NAME]
 *
 * It joins like a real peer (test_session.c: the weights pulled and
 * checked, a cpu replica that applies every RESULT and acknowledges it with
 * its true hash), answers every ROUND with a valid payload, and after
 * applying step STEP flips one weight bit, so its hash for that step
 * differs. The coordinator must then RESYNC it; it pulls the weights again
 * and must agree from then on. It prints one JSON object per applied step
 * ({"event":"step","step":S,"hash":"..."}) like `distro-cli join --json`,
 * and log lines; it leaves when the coordinator ends the run. Exit 0 when
 * the exchange went as the protocol says, 1 otherwise, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_session.h"

/* A valid payload for the round, with the micro-batches it was assigned. */
static void submit(session *s, int64_t step, uint32_t n_micro) {
    int32_t *idx = malloc((size_t)s->g->total_entries * sizeof *idx);
    float *vals = malloc((size_t)s->g->total_entries * sizeof *vals);
    uint8_t *pay = malloc(s->pb);
    if (idx && vals && pay) {
        valid_entries(s->g, idx, vals);
        demo_payload_encode(s->g, s->run_id, step, idx, vals, pay);
        net_msg m = {.h = {NET_SUBMIT, s->run_id, step}};
        m.u.submit = (net_submit){1.0f, n_micro, 0.01, (net_chunk){0, s->pb, (uint32_t)s->pb, pay}};
        if (send_msg(s, &m) != DT_OK) fail("SUBMIT: %s", dt_last_error());
    } else {
        fail("out of memory");
    }
    free(idx);
    free(vals);
    free(pay);
}

static void print_step(session *s, int64_t step) {
    uint64_t hash = 0;
    if (model_param_hash(s->m, &hash) != DT_OK) fail("hash: %s", dt_last_error());
    printf("{\"event\":\"step\",\"step\":%lld,\"hash\":\"%016llx\"}\n", (long long)step,
           (unsigned long long)hash);
    fflush(stdout);
}

static void follow(session *s) {
    for (double quiet_since = now_s(); failures == 0 && now_s() - quiet_since < 4 * WAIT_S;) {
        if (!next_msg(s, 200)) continue;
        quiet_since = now_s();
        net_msg *m = s->msg;
        if (m->h.run_id != s->run_id) continue;
        if (m->h.type == NET_ROUND && m->h.step == s->version) {
            submit(s, m->h.step, m->u.round.n_micro);
        } else if (m->h.type == NET_RESULT) {
            int64_t step = on_result(s);
            if (step >= 0) print_step(s, step);
        } else if (m->h.type == NET_RESYNC) {
            say("the coordinator asks me to resync from step %lld", (long long)m->h.step);
            if (!session_pull(s, m->h.step, m->u.resync.state_bytes, m->u.resync.state_hash))
                return;
        } else if (m->h.type == NET_LEAVE) {
            say("the run finished at step %lld", (long long)m->h.step);
            return;
        } else if (m->h.type == NET_REJECT) {
            return fail("rejected: %s", m->u.reject.text);
        }
    }
    if (failures == 0) fail("the coordinator went quiet for %.0f s", 4 * WAIT_S);
}

int main(int argc, char **argv) {
    tool_name = "diverging_peer";
    json_lines = true; /* its output reads like `distro-cli join --json` */
    peer_args args = {.name = "diverging"};
    long long flip_after = -1;
    bool ok = true;
    for (int i = 1; i < argc && ok; i++) {
        if (strcmp(argv[i], "--flip-after") == 0 && i + 1 < argc)
            flip_after = atoll(argv[++i]);
        else
            ok = peer_args_take(&args, argc, argv, &i);
    }
    if (!ok || flip_after < 0 || !peer_args_finish(&args)) {
        fprintf(stderr, "usage: diverging_peer ADDRESS (--open | --keys FILE --server-key KEY) "
                        "--flip-after STEP [--name NAME]\n");
        return 2;
    }
    session s;
    memset(&s, 0, sizeof s);
    s.name = args.name;
    s.frame = malloc(NET_MAX_FRAME);
    s.msg = calloc(1, sizeof *s.msg);
    s.result_step = -1;
    s.submits = true;
    s.flip_after = flip_after;
    if (!s.frame || !s.msg ||
        conn_open(&s.c, false, args.endpoint, peer_args_keys(&args), args.server_key) != DT_OK)
        fail("%s: cannot connect: %s", s.name, dt_last_error());
    else if (join(&s))
        follow(&s);
    session_close(&s);
    net_keys_free(&args.keys);
    return failures ? 1 : 0;
}
