/* hostile_peer: a peer that speaks the protocol directly (net/transport.h +
 * net/wire.h) and sends crafted SUBMITs, one per round, to check that the
 * coordinator refuses each with a reason naming the problem and that the
 * run is unaffected (issue 6: "malformed payloads ... each refused with its
 * reason, the run's hashes unaffected").
 *
 *   hostile_peer ADDRESS (--open | --keys FILE --server-key KEY) [--name N]
 *
 * It joins like a real peer: HELLO, WELCOME, the weights pulled with
 * STATE_REQ and checked against the announced hash. It keeps a real replica
 * (cpu): every RESULT is applied with model_demo_apply and acknowledged with
 * its true hash, so the coordinator checks this replica too, and a RESULT
 * that ever lists this peer's id fails the run. On each ROUND it starts from
 * a payload built with the model layer (demo_payload_encode over the run's
 * own geometry, checked valid with demo_payload_decode) and corrupts it in
 * exactly one way; the REFUSED that must come back before that step's
 * RESULT is checked for the words that name the problem.
 *
 * The last case, a frame larger than NET_MAX_FRAME, cannot be sent through
 * net_client (it refuses such frames), and cannot come back as REFUSED:
 * libzmq on the coordinator drops a frame over ZMQ_MAXMSGSIZE by closing
 * the connection before anything reads it. So a second connection, a raw
 * libzmq DEALER, joins and syncs the same way, answers its first ROUND with
 * the oversized frame, and the check is that the coordinator closed that
 * connection (and, in the calling script, that the run went on).
 *
 * Prints one line per case; exit 0 when every case behaved as expected, 1
 * otherwise, 2 on bad usage. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "model/demo.h"
#include "net/run_config.h"
#include "net/transport.h"
#include "net/wire.h"
#include "test_session.h"

/* ---- the cases --------------------------------------------------------------- */

typedef enum kind {
    K_TRUNCATED,
    K_RUN_ID,
    K_STEP,
    K_INDEX_RANGE,
    K_REPEATED,
    K_DESCENDING,
    K_NAN,
    K_MAGIC,
    K_CHUNK_OFFSET,
    K_N_MICRO,
    K_COUNT
} kind;

static const char *const kind_names[K_COUNT] = {
    "truncated payload (wrong total length)",
    "wrong run id in the payload",
    "wrong step in the payload",
    "index out of range",
    "repeated index within a tile",
    "indices out of ascending order",
    "NaN value",
    "bad payload magic",
    "wrong chunk offset",
    "valid payload, lying about its micro-batches",
};

/* A tensor whose tile can hold an index one past its last slot in its
 * index width (so "out of range" is encodable), with k >= 2. */
static int tensor_for_range(const demo_geometry *g) {
    for (int t = 0; t < g->n; t++) {
        const demo_tensor_geometry *tg = &g->t[t];
        int64_t max = tg->index_bits == 8 ? 255 : tg->index_bits == 12 ? 4094 : 65535;
        if (tg->plan.tile_size <= max && tg->k >= 2) return t;
    }
    return -1;
}

/* Builds and sends the SUBMIT for a case; `expect` gets the phrases the
 * REFUSED text must contain. */
static bool craft(session *s, kind k, int64_t step, uint32_t n_micro, char expect[2][160],
                  int32_t *idx, float *vals, uint8_t *pay) {
    const demo_geometry *g = s->g;
    valid_entries(g, idx, vals);
    uint64_t run_id = s->run_id;
    int64_t pstep = step;
    expect[0][0] = expect[1][0] = '\0';
    int t = 0;
    const demo_tensor_geometry *tg = &g->t[0];
    switch (k) {
    case K_RUN_ID:
        run_id ^= 0x00000000DEADBEEFull;
        snprintf(expect[0], 160, "run id %016llx, expected %016llx", (unsigned long long)run_id,
                 (unsigned long long)s->run_id);
        break;
    case K_STEP:
        pstep = step + 1;
        snprintf(expect[0], 160, "step %lld, expected %lld", (long long)pstep, (long long)step);
        break;
    case K_INDEX_RANGE:
        t = tensor_for_range(g);
        tg = &g->t[t];
        idx[tg->entry_at + tg->k - 1] = (int32_t)tg->plan.tile_size;
        snprintf(expect[0], 160, "tensor %d tile 0: index %lld outside a tile of %lld slots", t,
                 (long long)tg->plan.tile_size, (long long)tg->plan.tile_size);
        break;
    case K_REPEATED:
        t = tensor_for_range(g);
        tg = &g->t[t];
        idx[tg->entry_at + 1] = idx[tg->entry_at];
        snprintf(expect[0], 160, "tensor %d tile 0: index %d repeated", t, idx[tg->entry_at]);
        break;
    case K_DESCENDING:
        t = tensor_for_range(g);
        tg = &g->t[t];
        idx[tg->entry_at] = 1;
        idx[tg->entry_at + 1] = 0;
        snprintf(expect[0], 160, "tensor %d tile 0: index 0 out of ascending order", t);
        break;
    case K_NAN:
        if (g->values == DEMO_VALUES_1BIT) return fail("NaN needs bf16 or fp32 values"), false;
        t = g->n > 1 ? 1 : 0;
        vals[g->t[t].entry_at + 3] = NAN;
        snprintf(expect[0], 160, "tensor %d entry 3: value is not finite", t);
        break;
    default:
        break;
    }
    demo_payload_encode(g, run_id, pstep, idx, vals, pay);
    bool valid = demo_payload_decode(g, pay, s->pb, s->run_id, step, NULL, NULL) == DT_OK;
    /* The corruption is exactly the intended one: everything else is valid. */
    if (valid != (k == K_TRUNCATED || k == K_MAGIC || k == K_CHUNK_OFFSET || k == K_N_MICRO))
        return fail("case '%s': the crafted payload %s locally", kind_names[k],
                    valid ? "decodes" : "fails to decode"),
               false;
    net_msg m;
    memset(&m, 0, sizeof m.h + sizeof m.u.submit);
    m.h = (net_header){NET_SUBMIT, s->run_id, step};
    m.u.submit.loss = 1.0f;
    m.u.submit.n_micro = n_micro;
    m.u.submit.compute_s = 0.01;
    net_chunk ch = {0, s->pb, (uint32_t)s->pb, pay};
    if (k == K_TRUNCATED) {
        ch.total = ch.length = (uint32_t)(s->pb - 1);
        snprintf(expect[0], 160, "payload of %zu bytes", s->pb - 1);
        snprintf(expect[1], 160, "tile plan makes %zu", s->pb);
    } else if (k == K_MAGIC) {
        pay[0] ^= 0xFF;
        snprintf(expect[0], 160, "bad magic 0x%08x", 0x314F4D44u ^ 0xFFu);
    } else if (k == K_CHUNK_OFFSET) {
        ch = (net_chunk){8, s->pb, (uint32_t)(s->pb - 8), pay + 8};
        snprintf(expect[0], 160, "chunk at offset 8, expected 0");
    } else if (k == K_N_MICRO) {
        m.u.submit.n_micro = n_micro + 1;
        snprintf(expect[0], 160, "reports %u micro-batches (assigned %u)", n_micro + 1, n_micro);
    }
    for (size_t off = 0; off < ch.length; off += NET_MAX_CHUNK) {
        net_chunk part = ch;
        part.offset = ch.offset + off;
        part.length = ch.length - off < NET_MAX_CHUNK ? (uint32_t)(ch.length - off) : NET_MAX_CHUNK;
        part.data = ch.data + off;
        m.u.submit.chunk = part;
        if (send_msg(s, &m) != DT_OK) return fail("SUBMIT: %s", dt_last_error()), false;
    }
    return true;
}

static bool send_case(session *s, kind k, int64_t step, uint32_t n_micro, char expect[2][160]) {
    if (tensor_for_range(s->g) < 0)
        return fail("no tensor has tiles that can encode an out-of-range index"), false;
    int32_t *idx = malloc((size_t)s->g->total_entries * sizeof *idx);
    float *vals = malloc((size_t)s->g->total_entries * sizeof *vals);
    uint8_t *pay = malloc(s->pb);
    bool ok = idx && vals && pay ? craft(s, k, step, n_micro, expect, idx, vals, pay)
                                 : (fail("out of memory"), false);
    free(idx);
    free(vals);
    free(pay);
    return ok;
}

/* The malformed-payload cases, one per round, on a transport connection. */
static void run_cases(session *s) {
    kind k = 0;
    bool waiting = false; /* for the REFUSED of case k */
    int64_t case_step = -1;
    char expect[2][160];
    double until = now_s() + 4 * WAIT_S;
    while (now_s() < until && failures == 0) {
        if (!next_msg(s, 200)) continue;
        net_msg *m = s->msg;
        if (m->h.run_id != s->run_id) continue;
        if (m->h.type == NET_ROUND && m->h.step == s->version && !waiting) {
            if (k == K_COUNT) break; /* every case done */
            case_step = m->h.step;
            waiting = send_case(s, k, case_step, m->u.round.n_micro, expect);
        } else if (m->h.type == NET_REFUSED) {
            const char *text = m->u.refused.text;
            if (!waiting || m->h.step != case_step) {
                fail("an unexpected REFUSED for step %lld: %s", (long long)m->h.step, text);
            } else if (!strstr(text, expect[0]) || !strstr(text, expect[1])) {
                fail("case '%s': REFUSED says \"%s\"; expected \"%s\"%s%s", kind_names[k], text,
                     expect[0], expect[1][0] ? " and \"" : "", expect[1][0] ? expect[1] : "");
            } else {
                printf("hostile_peer: case '%s' at step %lld: refused: %s\n", kind_names[k],
                       (long long)case_step, text);
                fflush(stdout);
                waiting = false;
                k++;
            }
        } else if (m->h.type == NET_RESULT) {
            int64_t applied = on_result(s);
            if (waiting && applied == case_step)
                fail("case '%s': no REFUSED before the RESULT of step %lld", kind_names[k],
                     (long long)case_step);
        } else if (m->h.type == NET_RESYNC) {
            fail("the coordinator says this replica diverged (RESYNC at step %lld)",
                 (long long)m->h.step);
        } else if (m->h.type == NET_REJECT || m->h.type == NET_LEAVE) {
            fail("the coordinator ended this peer's run (%s) with %d of %d cases done",
                 net_type_name(m->h.type), (int)k, K_COUNT);
        }
    }
    if (k < K_COUNT && failures == 0) fail("timed out with %d of %d cases done", (int)k, K_COUNT);
    net_msg leave;
    memset(&leave, 0, sizeof leave.h);
    leave.h = (net_header){NET_LEAVE, s->run_id, s->version};
    send_msg(s, &leave);
    printf("hostile_peer: %s applied %lld results with hashes the coordinator accepted; left\n",
           s->name, (long long)s->results_applied);
}

/* The oversized frame, on a raw connection that joined and synced. */
static void oversized(session *s) {
    double until = now_s() + 4 * WAIT_S;
    while (now_s() < until && failures == 0) {
        if (!next_msg(s, 200)) continue;
        if (s->msg->h.type == NET_RESULT) on_result(s);
        if (s->msg->h.type != NET_ROUND || s->msg->h.step != s->version) continue;
        size_t len = NET_MAX_FRAME + 1;
        uint8_t *big = calloc(1, len);
        if (!big) return fail("out of memory");
        /* A SUBMIT header (wire.h), then more body than any frame may carry. */
        uint64_t head[3] = {NET_MAGIC | (uint64_t)NET_VERSION << 32 | (uint64_t)NET_SUBMIT << 48,
                            s->run_id, (uint64_t)s->version};
        for (int i = 0; i < 24; i++) big[i] = (uint8_t)(head[i / 8] >> (8 * (i % 8)));
        dt_status st = conn_send(&s->c, big, len);
        free(big);
        if (st != DT_OK) return fail("sending the oversized frame: %s", dt_last_error());
        int64_t step = s->version;
        for (double t = now_s() + 10.0; now_s() < t && !s->c.closed;) {
            if (next_msg(s, 100) && s->msg->h.type == NET_REFUSED)
                fail("a REFUSED after the oversized frame: %s", s->msg->u.refused.text);
        }
        if (!s->c.closed)
            return fail("case 'oversized frame': the connection stayed open after a frame of "
                        "%zu bytes (NET_MAX_FRAME is %u)",
                        len, (unsigned)NET_MAX_FRAME);
        printf("hostile_peer: case 'oversized frame (%zu bytes)' at step %lld: the coordinator "
               "closed the connection\n",
               len, (long long)step);
        return;
    }
    fail("case 'oversized frame': no ROUND arrived");
}

/* A replica that acknowledges results with a hash of 0: at a checked step
 * that is a missing hash, and the coordinator must ask for a resync. */
static void lying_hash(session *s) {
    s->zero_hash = true;
    double until = now_s() + 4 * WAIT_S;
    while (now_s() < until && failures == 0) {
        if (!next_msg(s, 200) || s->msg->h.run_id != s->run_id) continue;
        net_msg *m = s->msg;
        if (m->h.type == NET_RESULT) {
            on_result(s);
        } else if (m->h.type == NET_RESYNC) {
            printf("hostile_peer: case 'zero hash' at step %lld: the coordinator asked for a "
                   "resync\n",
                   (long long)m->h.step);
            fflush(stdout);
            net_msg leave;
            memset(&leave, 0, sizeof leave.h);
            leave.h = (net_header){NET_LEAVE, s->run_id, s->version};
            send_msg(s, &leave);
            return;
        } else if (m->h.type == NET_REJECT || m->h.type == NET_LEAVE) {
            return fail("case 'zero hash': the run ended (%s) without a resync",
                        net_type_name(m->h.type));
        }
    }
    fail("case 'zero hash': results acknowledged with hash 0 were accepted (no RESYNC)");
}

/* Two connections of one party in the same round send the same valid
 * payload. Whichever arrives second must come back REFUSED as a copy of
 * the other, and the other must be applied. */
static void copied_payload(session *pair[2]) {
    int64_t round[2] = {-1, -1};
    uint32_t micro[2] = {0, 0};
    int refused = -1; /* which connection's submission was refused */
    bool sent = false, applied[2] = {false, false}, result_seen = false;
    double until = now_s() + 4 * WAIT_S;
    int32_t *idx = malloc((size_t)pair[0]->g->total_entries * sizeof *idx);
    float *vals = malloc((size_t)pair[0]->g->total_entries * sizeof *vals);
    uint8_t *pay = malloc(pair[0]->pb);
    while (now_s() < until && failures == 0 && !(refused >= 0 && result_seen) && idx && vals &&
           pay) {
        for (int w = 0; w < 2; w++) {
            session *s = pair[w];
            if (!next_msg(s, 50)) continue;
            net_msg *m = s->msg;
            if (m->h.type == NET_ROUND && m->h.step == s->version) {
                round[w] = m->h.step;
                micro[w] = m->u.round.n_micro;
            } else if (m->h.type == NET_RESULT && on_result(s) == round[0] && sent && w == 0) {
                result_seen = true;
                for (uint32_t i = 0; i < s->meta.n_applied; i++)
                    for (int v = 0; v < 2; v++) applied[v] |= s->meta.applied[i] == pair[v]->id;
            } else if (m->h.type == NET_REFUSED) {
                char want[64];
                snprintf(want, sizeof want, "byte-identical copy of the payload of peer %u",
                         pair[1 - w]->id);
                if (refused >= 0 || !strstr(m->u.refused.text, want))
                    fail("case 'copied payload': REFUSED says \"%s\"", m->u.refused.text);
                say("case 'copied payload' at step %lld: refused: %s", (long long)m->h.step,
                    m->u.refused.text);
                refused = w;
            }
        }
        if (sent || round[0] < 0 || round[0] != round[1]) continue;
        valid_entries(pair[0]->g, idx, vals);
        demo_payload_encode(pair[0]->g, pair[0]->run_id, round[0], idx, vals, pay);
        for (int w = 0; w < 2; w++) {
            session *s = pair[w];
            net_msg m = {.h = {NET_SUBMIT, s->run_id, round[0]}};
            m.u.submit =
                (net_submit){1.0f, micro[w], 0.01, (net_chunk){0, s->pb, (uint32_t)s->pb, pay}};
            if (send_msg(s, &m) != DT_OK) fail("SUBMIT: %s", dt_last_error());
        }
        sent = true;
    }
    if (failures == 0 && (refused < 0 || !result_seen || applied[refused] || !applied[1 - refused]))
        fail("case 'copied payload': %s", !sent         ? "the two connections never shared a round"
                                          : refused < 0 ? "the copy was not refused"
                                          : !result_seen
                                              ? "no RESULT for the round"
                                              : "the RESULT did not apply exactly the original");
    free(idx);
    free(vals);
    free(pay);
    for (int w = 0; w < 2; w++) {
        net_msg leave = {.h = {NET_LEAVE, pair[w]->run_id, pair[w]->version}};
        send_msg(pair[w], &leave);
    }
}

int main(int argc, char **argv) {
    tool_name = "hostile_peer";
    peer_args args = {.name = "hostile"};
    bool ok = true;
    for (int i = 1; i < argc && ok; i++) ok = peer_args_take(&args, argc, argv, &i);
    if (!ok || !peer_args_finish(&args)) {
        fprintf(stderr, "usage: hostile_peer ADDRESS (--open | --keys FILE --server-key KEY) "
                        "[--name NAME]\n");
        return 2;
    }
    const char *name = args.name, *endpoint = args.endpoint, *server_key = args.server_key;
    const net_keys *kp = peer_args_keys(&args);
    char big_name[NET_NAME_MAX + 1], liar_name[NET_NAME_MAX + 1], copy_name[2][NET_NAME_MAX + 1];
    snprintf(big_name, sizeof big_name, "%s-oversized", name);
    snprintf(liar_name, sizeof liar_name, "%s-zero-hash", name);
    snprintf(copy_name[0], sizeof copy_name[0], "%s-original", name);
    snprintf(copy_name[1], sizeof copy_name[1], "%s-copy", name);
    /* The copied pair first, while most of the run is ahead of it. */
    session pair[2];
    memset(pair, 0, sizeof pair);
    for (int w = 0; w < 2 && failures == 0; w++) {
        pair[w].name = copy_name[w];
        pair[w].frame = malloc(NET_MAX_FRAME);
        pair[w].msg = calloc(1, sizeof *pair[w].msg);
        pair[w].result_step = -1;
        pair[w].flip_after = -1;
        pair[w].submits = true;
        if (!pair[w].frame || !pair[w].msg ||
            conn_open(&pair[w].c, false, endpoint, kp, server_key) != DT_OK)
            fail("%s: cannot connect: %s", pair[w].name, dt_last_error());
        else
            join(&pair[w]);
    }
    session *both[2] = {&pair[0], &pair[1]};
    if (failures == 0) copied_payload(both);
    for (int w = 0; w < 2; w++) session_close(&pair[w]);
    for (int pass = 0; pass < 3 && failures == 0; pass++) {
        session s;
        memset(&s, 0, sizeof s);
        s.name = pass == 2 ? liar_name : pass ? big_name : name;
        s.frame = malloc(NET_MAX_FRAME);
        s.msg = calloc(1, sizeof *s.msg);
        s.result_step = -1;
        s.flip_after = -1;
        if (!s.frame || !s.msg || conn_open(&s.c, pass == 1, endpoint, kp, server_key) != DT_OK)
            fail("%s: cannot connect: %s", s.name, dt_last_error());
        else if (join(&s))
            pass == 2 ? lying_hash(&s) : pass ? oversized(&s) : run_cases(&s);
        session_close(&s);
    }
    net_keys_free(&args.keys);
    printf("hostile_peer: %s\n", failures ? "FAILED" : "every case behaved as expected");
    return failures ? 1 : 0;
}
