/* The wire format between coordinator and peers (DESIGN.md section 5).
 *
 * Every message is one ZeroMQ frame: a 24-byte header, then a body whose
 * layout depends on the type. Little-endian, fixed-width fields, strings as
 * u16 length + bytes (no NUL on the wire, at most the field's capacity).
 * Anything larger than NET_MAX_CHUNK (weights, payloads, results) travels in
 * chunks of at most that many data bytes, so ZMTP heartbeats keep ticking.
 *
 *   header: u32 magic "DSTR" | u16 version | u16 type | u64 run id | u64 step
 *
 * The decoder trusts nothing: lengths, counts, chunk ranges and strings are
 * checked against the frame and the limits below before any field is used;
 * a bad frame is DT_ERR_FORMAT with a reason. Decoded views (data pointers)
 * point into the frame and live as long as it does. */
#ifndef DISTRO_NET_WIRE_H
#define DISTRO_NET_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "distro/error.h"

#define NET_MAGIC        0x52545344u /* "DSTR" little-endian */
#define NET_VERSION      2           /* 2: REJECT carries a reason code; WELCOME's config a view */
#define NET_HEADER_BYTES 24
#define NET_MAX_CHUNK    (4u << 20)                    /* data bytes per chunk */
#define NET_MAX_FRAME    (NET_MAX_CHUNK + 64u * 1024u) /* ZMQ_MAXMSGSIZE */
#define NET_MAX_PEERS    256
#define NET_NAME_MAX     64
#define NET_TEXT_MAX     512   /* reasons, device descriptions */
#define NET_CONFIG_MAX   65535 /* the run config JSON (a u16 length on the wire) */

typedef enum net_type {
    NET_HELLO = 1,     /* peer -> coordinator: who I am, what I run */
    NET_WELCOME = 2,   /* coordinator -> peer: your id, the run config, the state to pull */
    NET_REJECT = 3,    /* coordinator -> peer: not admitted, and why */
    NET_STATE_REQ = 4, /* peer -> coordinator: send bytes [offset, offset+length) of the state */
    NET_STATE = 5,     /* coordinator -> peer: one chunk of the weights */
    NET_ROUND = 6,     /* coordinator -> peer: train this step */
    NET_SUBMIT = 7,    /* peer -> coordinator: one chunk of my payload for the step */
    NET_REFUSED = 8,   /* coordinator -> peer: your payload was refused, and why */
    NET_RESULT = 9,    /* coordinator -> peer: one chunk of the applied payloads */
    NET_HASH = 10,     /* peer -> coordinator: my parameter hash after applying step */
    NET_RESYNC = 11,   /* coordinator -> peer: your replica diverged; pull the state again */
    NET_LEAVE = 12,    /* peer -> coordinator: leaving cleanly */
} net_type;

const char *net_type_name(net_type t);

typedef struct net_header {
    net_type type;
    uint64_t run_id; /* 0 in HELLO (the peer does not know it yet) */
    int64_t step;    /* the step the message is about */
} net_header;

typedef struct net_hello {
    char name[NET_NAME_MAX + 1];
    char device[NET_TEXT_MAX + 1]; /* "cuda:0 NVIDIA GeForce RTX 3060" */
    char backend[16 + 1];
    double tokens_per_s; /* measured training throughput on this device */
    /* A reconnecting peer says what it holds, so a coordinator that resumed
     * from a checkpoint can tell whether it must send weights again. */
    uint64_t have_run_id;
    int64_t have_step;
    uint64_t have_hash;
} net_hello;

typedef struct net_welcome {
    uint32_t peer_id;
    int64_t state_step;   /* the step the state snapshot is taken after */
    uint64_t state_bytes; /* size of the weights snapshot to pull (0: keep yours) */
    uint64_t state_hash;  /* parameter hash of that snapshot */
    /* The run config, JSON: a view like net_chunk's data (into the frame
     * when decoded), config_len bytes, not NUL-terminated, no NUL inside. */
    const char *config;
    uint16_t config_len;
} net_welcome;

/* Why a HELLO (or a peer) was turned away: what the peer does next depends
 * on the code, never on the text, which is for people. */
typedef enum net_reject_code {
    NET_REJECT_FINISHED = 1, /* the run is over: leave quietly */
    NET_REJECT_FULL = 2,     /* every peer slot is taken */
    NET_REJECT_BUSY = 3,     /* too many peers joining at once: retry after retry_ms */
    NET_REJECT_BACKOFF = 4,  /* this key or address misbehaved recently: retry after retry_ms */
    NET_REJECT_LIMIT = 5,    /* this key or address already has its share of peers */
    NET_REJECT_EJECTED = 6,  /* dropped from the run (missed rounds, protocol abuse) */
    NET_REJECT_CODES         /* one past the last */
} net_reject_code;

typedef struct net_reject {
    uint16_t code;     /* net_reject_code */
    uint32_t retry_ms; /* BUSY and BACKOFF: when a new HELLO may be admitted; else 0 */
    char text[NET_TEXT_MAX + 1];
} net_reject;

typedef struct net_text {
    char text[NET_TEXT_MAX + 1]; /* REFUSED reasons */
} net_text;

typedef struct net_state_req {
    uint64_t offset;
    uint32_t length; /* <= NET_MAX_CHUNK */
} net_state_req;

typedef struct net_chunk {
    uint64_t offset; /* of this chunk in the whole */
    uint64_t total;  /* size of the whole */
    uint32_t length; /* <= NET_MAX_CHUNK, offset + length <= total */
    const uint8_t *data;
} net_chunk;

typedef struct net_state {
    uint64_t hash; /* parameter hash of the whole snapshot */
    net_chunk chunk;
} net_state;

typedef struct net_round {
    uint32_t lr_bits;     /* float bits of this step's learning rate */
    uint32_t decay_bits;  /* float bits of (float)(1 - lr * wd) */
    uint32_t n_micro;     /* micro-batches to train: (seed, step, peer id, 0..n_micro-1) */
    uint32_t deadline_ms; /* submit within this long after receipt */
    uint32_t n_peers;     /* peers in the round, for display */
} net_round;

typedef struct net_submit {
    float loss;       /* mean training loss over the micro-batches */
    uint32_t n_micro; /* micro-batches actually trained */
    double compute_s; /* seconds spent computing */
    net_chunk chunk;  /* of the DeMo payload */
} net_submit;

typedef struct net_result {
    uint32_t lr_bits, decay_bits;
    uint32_t n_applied; /* contributors, ascending peer id */
    uint32_t applied[NET_MAX_PEERS];
    net_chunk chunk; /* of their payloads, concatenated in that order */
} net_result;

typedef struct net_hash {
    uint64_t hash;
} net_hash;

typedef struct net_resync {
    uint64_t state_bytes;
    uint64_t state_hash;
} net_resync;

/* One decoded message; `type` selects the member that is valid. */
typedef struct net_msg {
    net_header h;
    union {
        net_hello hello;
        net_welcome welcome;
        net_reject reject;
        net_state_req state_req;
        net_state state;
        net_round round;
        net_submit submit;
        net_text refused;
        net_result result;
        net_hash hash;
        net_resync resync;
    } u;
} net_msg;

/* WELCOME's config as a NUL-terminated copy (free it); NULL when out of
 * memory. */
char *net_welcome_config(const net_welcome *w);

/* Encode into out (capacity cap); *len gets the frame size. The encoder
 * validates what it is given (string lengths, chunk bounds, counts) with
 * the same rules as the decoder, so a peer never sends what it would refuse. */
dt_status net_encode(const net_msg *m, uint8_t *out, size_t cap, size_t *len);

/* Frame size net_encode needs for m (an upper bound is fine for buffers). */
size_t net_encoded_size(const net_msg *m);

dt_status net_decode(const uint8_t *frame, size_t len, net_msg *out);

#endif
