/* ZAP handler thread (see zap.h). The only thread net/ starts.
 *
 * A ZAP request (RFC 27) is a multipart message: version "1.0", request id,
 * domain, address, routing id, mechanism, then the credentials — for CURVE
 * one frame, the client's 32-byte long-term public key. The reply is
 * version, request id, status code ("200" admits, "400" refuses), status
 * text, user id and metadata. The user id we return is the client's key in
 * Z85: libzmq attaches it to every message from that connection as the
 * "User-Id" property, which is how the server knows who sent a frame. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "net/zap.h"

#define ZAP_ENDPOINT  "inproc://zeromq.zap.01"
#define ZAP_MAX_PARTS 8

struct net_zap {
    void *sock;
    pthread_t thread;
    net_keys allowed; /* only its peer list: a copy of the keys file's */

    pthread_mutex_t lock; /* guards what follows: written by the thread, read by the server */
    uint64_t n_refused;
    net_refusal recent[NET_REFUSALS_KEPT]; /* most recent first, distinct keys */
    int n_recent;
};

static void record_refusal(net_zap *z, const char *key, const char *address) {
    pthread_mutex_lock(&z->lock);
    z->n_refused++;
    int at = -1;
    for (int i = 0; i < z->n_recent; i++)
        if (strcmp(z->recent[i].key, key) == 0) at = i;
    net_refusal r;
    if (at >= 0) {
        r = z->recent[at];
    } else {
        memset(&r, 0, sizeof r);
        snprintf(r.key, sizeof r.key, "%s", key);
        at = z->n_recent < NET_REFUSALS_KEPT ? z->n_recent++ : NET_REFUSALS_KEPT - 1;
    }
    r.count++;
    snprintf(r.address, sizeof r.address, "%s", address);
    memmove(&z->recent[1], &z->recent[0], sizeof r * (size_t)at); /* move it to the front */
    z->recent[0] = r;
    pthread_mutex_unlock(&z->lock);
}

uint64_t net_zap_refusals(net_zap *z, net_refusal *out, int max, int *n_out) {
    pthread_mutex_lock(&z->lock);
    int n = out && max > 0 ? (z->n_recent < max ? z->n_recent : max) : 0;
    if (n > 0) memcpy(out, z->recent, sizeof *out * (size_t)n);
    uint64_t total = z->n_refused;
    pthread_mutex_unlock(&z->lock);
    if (n_out) *n_out = n;
    return total;
}

static bool part_is(const uint8_t *data, size_t len, const char *s) {
    size_t n = strlen(s);
    return len == n && memcmp(data, s, n) == 0;
}

static void part_text(const uint8_t *data, size_t len, char *out, size_t cap) {
    size_t n = len < cap ? len : cap - 1;
    if (n > 0) memcpy(out, data, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) /* it ends up in logs: keep it printable */
        if ((unsigned char)out[i] < ' ' || (unsigned char)out[i] > '~') out[i] = '?';
}

void net_zap_decide(const net_keys *allowed, const uint8_t *const parts[], const size_t lens[],
                    int n, net_zap_decision *out) {
    memset(out, 0, sizeof *out);
    out->status = "400";
    if (n < 7 || !part_is(parts[0], lens[0], "1.0")) {
        out->text = "malformed ZAP request";
        return;
    }
    part_text(parts[3], lens[3], out->address, sizeof out->address);
    out->refused = true; /* from here on every refusal is remembered */
    if (!part_is(parts[5], lens[5], "CURVE")) {
        out->text = "only CURVE is accepted";
        return;
    }
    if (lens[6] != NET_KEY_BYTES) {
        out->text = "CURVE credentials are not a 32-byte key";
        return;
    }
    char key[NET_KEY_Z85 + 1];
    if (!zmq_z85_encode(key, parts[6], NET_KEY_BYTES)) {
        out->text = "key does not encode";
        return;
    }
    if (net_keys_find_peer(allowed, key) < 0) {
        out->text = "key not in the coordinator's keys file";
        memcpy(out->key, key, sizeof key);
        return;
    }
    out->refused = false;
    out->status = "200";
    out->text = "OK";
    memcpy(out->user_id, key, sizeof key);
}

/* Sends one reply frame; false when the context is shutting down. */
static bool send_part(void *sock, const void *data, size_t len, bool more) {
    while (zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0) < 0)
        if (zmq_errno() != EINTR) return false;
    return true;
}

static void *zap_main(void *arg) {
    net_zap *z = arg;
    zmq_msg_t part[ZAP_MAX_PARTS];
    for (;;) {
        /* Read the whole request; parts beyond ZAP_MAX_PARTS are discarded
         * (a CURVE request has seven). */
        int n = 0, more = 1;
        bool term = false;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z->sock, 0) < 0) {
                zmq_msg_close(&m);
                if (zmq_errno() == EINTR) continue;
                term = true; /* ETERM: the server is closing */
                break;
            }
            more = zmq_msg_more(&m);
            if (n < ZAP_MAX_PARTS)
                part[n++] = m; /* a fresh msg, owned by the array now */
            else
                zmq_msg_close(&m);
        }
        if (term) {
            for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
            break;
        }
        const uint8_t *data[ZAP_MAX_PARTS];
        size_t len[ZAP_MAX_PARTS];
        for (int i = 0; i < n; i++) {
            data[i] = zmq_msg_data(&part[i]);
            len[i] = zmq_msg_size(&part[i]);
        }
        net_zap_decision d;
        net_zap_decide(&z->allowed, data, len, n, &d);
        if (d.refused) record_refusal(z, d.key, d.address);
        bool ok = send_part(z->sock, "1.0", 3, true);
        ok =
            ok && (n >= 2 ? send_part(z->sock, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), true)
                          : send_part(z->sock, "", 0, true));
        ok = ok && send_part(z->sock, d.status, strlen(d.status), true);
        ok = ok && send_part(z->sock, d.text, strlen(d.text), true);
        ok = ok && send_part(z->sock, d.user_id, strlen(d.user_id), true);
        ok = ok && send_part(z->sock, "", 0, false);
        for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
        if (!ok) break;
    }
    zmq_close(z->sock);
    return NULL;
}

dt_status net_zap_start(void *ctx, const net_keys *keys, net_zap **out) {
    *out = NULL;
    net_zap *z = calloc(1, sizeof *z);
    if (!z) return dt_error(DT_ERR_OOM, "ZAP handler: out of memory");
    if (keys->n_peers > 0) {
        z->allowed.peers = calloc((size_t)keys->n_peers, sizeof *z->allowed.peers);
        if (!z->allowed.peers) {
            free(z);
            return dt_error(DT_ERR_OOM, "ZAP handler: out of memory");
        }
        memcpy(z->allowed.peers, keys->peers, sizeof *keys->peers * (size_t)keys->n_peers);
        z->allowed.n_peers = keys->n_peers;
    }
    pthread_mutex_init(&z->lock, NULL);
    int linger = 0;
    dt_status st = DT_OK;
    z->sock = zmq_socket(ctx, ZMQ_REP);
    if (!z->sock)
        st = dt_error(DT_ERR_IO, "ZAP handler: zmq_socket: %s", zmq_strerror(zmq_errno()));
    else if (zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
             zmq_bind(z->sock, ZAP_ENDPOINT) != 0)
        st = dt_error(DT_ERR_IO, "ZAP handler: binding %s: %s", ZAP_ENDPOINT,
                      zmq_strerror(zmq_errno()));
    /* The socket moves to the thread; pthread_create is the memory barrier
     * libzmq asks for when a socket changes threads. */
    if (st == DT_OK && pthread_create(&z->thread, NULL, zap_main, z) != 0)
        st = dt_error(DT_ERR_IO, "ZAP handler: cannot start its thread");
    if (st != DT_OK) {
        if (z->sock) zmq_close(z->sock);
        pthread_mutex_destroy(&z->lock);
        free(z->allowed.peers);
        free(z);
        return st;
    }
    *out = z;
    return DT_OK;
}

void net_zap_join(net_zap *z) {
    if (!z) return;
    pthread_join(z->thread, NULL);
    pthread_mutex_destroy(&z->lock);
    free(z->allowed.peers);
    free(z);
}
