/* CURVE keys and keys files (DESIGN.md section 5: security).
 *
 * A keys file is text, one entry per line, `#` starts a comment:
 *
 *   public <z85>          this node's public key
 *   secret <z85>          this node's secret key (the file is mode 0600)
 *   peer <z85> [name]     a peer the coordinator admits (any number)
 *
 * Keys are 32-byte Curve25519 keys in Z85 (40 characters). A node has both
 * halves of its keypair or neither; when both are there the public key must
 * be the one the secret derives (a mismatched pair would fail every
 * handshake with no clue why). A peer's file holds only its keypair; a
 * coordinator's adds the allow-list. */
#ifndef DISTRO_NET_KEYS_H
#define DISTRO_NET_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "distro/error.h"
#include "net/wire.h"

#define NET_KEY_BYTES 32
#define NET_KEY_Z85   40 /* characters */

typedef struct net_peer_key {
    char key[NET_KEY_Z85 + 1];
    char name[NET_NAME_MAX + 1]; /* "" when the line gives none */
} net_peer_key;

typedef struct net_keys {
    bool has_keypair;
    char public_key[NET_KEY_Z85 + 1];
    char secret_key[NET_KEY_Z85 + 1];
    net_peer_key *peers; /* the allow-list, in file order */
    int n_peers;
} net_keys;

/* Checks that z85 is a 40-character Z85 string decoding to 32 bytes; out
 * (may be NULL) gets the bytes. DT_ERR_FORMAT names the problem. */
dt_status net_key_decode(const char *z85, uint8_t out[NET_KEY_BYTES]);

/* A fresh keypair (zmq_curve_keypair) and no peers. DT_ERR_UNSUPPORTED when
 * libzmq was built without CURVE. */
dt_status net_keys_generate(net_keys *out);

/* Parses a keys file. Errors name "path:line". On failure *out is empty. */
dt_status net_keys_load(const char *path, net_keys *out);
/* The same from text; `origin` names it in errors. */
dt_status net_keys_parse(const char *text, const char *origin, net_keys *out);

/* Writes the file atomically (temp file in the same folder, fsync, rename)
 * with mode 0600. Without `overwrite` an existing file is an error
 * (DT_ERR_IO naming it), checked atomically: the temp file is linked into
 * place, which fails if the name exists. */
dt_status net_keys_save(const char *path, const net_keys *k, bool overwrite);

/* Adds an admitted peer (validated key, name of at most NET_NAME_MAX
 * characters without whitespace; NULL or "" for none). A key already
 * listed is DT_ERR_INVALID. */
dt_status net_keys_add_peer(net_keys *k, const char *key, const char *name);

/* Index of the peer with this Z85 public key, or -1. */
int net_keys_find_peer(const net_keys *k, const char *key);

void net_keys_free(net_keys *k);

#endif
