/* The protocol side of the e2e test peers (test_session.c). */
#ifndef DISTRO_TESTS_E2E_TEST_SESSION_H
#define DISTRO_TESTS_E2E_TEST_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "model/demo.h"
#include "net/run_config.h"
#include "net/transport.h"
#include "net/wire.h"

#define WAIT_S 30.0 /* the longest any single step of the exchange may take */

extern const char *tool_name; /* prefixes every line printed */
extern int failures;
extern bool json_lines; /* say() and fail() print JSON objects ({"event":"log"}) */

double now_s(void);
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- a connection: net_client, or a raw DEALER for the oversized frame -- */

typedef struct conn {
    net_client *client;
    void *ctx, *sock, *mon; /* raw */
    zmq_msg_t last;
    bool have_last, connected, closed;
} conn;

dt_status conn_open(conn *c, bool raw, const char *endpoint, const net_keys *keys,
                    const char *server_key);
void conn_events(conn *c);
void conn_close(conn *c);
dt_status conn_send(conn *c, const void *data, size_t len);
dt_status conn_recv(conn *c, int timeout_ms, const uint8_t **data, size_t *len, bool *arrived);

/* ---- a session: one joined peer with a real replica ----------------------- */

typedef struct session {
    conn c;
    const char *name;
    uint8_t *frame;
    net_msg *msg;
    net_run_config cfg;
    uint64_t run_id;
    uint32_t id;
    dt_device *dev;
    model *m;
    model_demo *demo;
    const demo_geometry *g;
    size_t pb;
    int64_t version;
    /* a RESULT being assembled */
    net_result meta;
    uint8_t *result;
    size_t result_got;
    int64_t result_step;
    int64_t results_applied;
    bool zero_hash;     /* acknowledge results with a hash of 0 (a lie) */
    bool submits;       /* sends valid payloads: a RESULT may apply its own */
    int64_t flip_after; /* flips one weight bit after applying this step (-1: never) */
} session;

dt_status send_msg(session *s, const net_msg *m);
/* The next message (decoded into s->msg) within timeout_ms; false if none. */
bool next_msg(session *s, int timeout_ms);
void send_hash(session *s, int64_t version);
/* HELLO -> WELCOME -> the weights pulled, checked, loaded -> HASH. */
bool join(session *s);
bool session_pull(session *s, int64_t state_step, uint64_t state_bytes, uint64_t state_hash);
/* Assembles RESULT chunks and applies a complete one; the step, or -1. */
int64_t on_result(session *s);
void session_close(session *s);
/* The arguments every test peer takes: ADDRESS (--open | --keys FILE
 * --server-key KEY) [--name NAME]. */
typedef struct peer_args {
    const char *address, *keys_file, *server_key, *name;
    bool open;
    char endpoint[256]; /* "tcp://..." once checked */
    net_keys keys;      /* loaded from keys_file */
} peer_args;

/* Takes argv[*i] (and its value) when it is one of those; false if not. */
bool peer_args_take(peer_args *a, int argc, char **argv, int *i);
/* Checks the combination, builds the endpoint and loads the keys; prints
 * what is wrong and returns false. */
bool peer_args_finish(peer_args *a);
/* The keys for conn_open: NULL when open. */
const net_keys *peer_args_keys(const peer_args *a);

/* Entries of a valid payload in geometry order. */
void valid_entries(const demo_geometry *g, int32_t *idx, float *vals);

#endif
