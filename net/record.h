/* The record file (`coordinator --record FILE`): every round the coordinator
 * applied, in order, so a fresh process can replay the run and check every
 * recorded hash (tests/e2e/replay_record.c). This module is the format's one
 * definition; DESIGN.md section 5 describes it for readers.
 *
 * All integers little-endian, written byte by byte (never a C struct):
 *   file header (40 bytes)
 *     "DTRECORD" | u32 version (2) | u32 0 | u64 payload bytes P |
 *     16-byte BLAKE2b-128 of the 24 bytes before it
 *   record, repeated
 *     u64 body bytes B | body | 16-byte BLAKE2b-128 of (the u64 B and body)
 *   body (B = 28 + n * (4 + P))
 *     u64 step | u32 lr bits | u32 decay bits | u64 hash after (0: none) |
 *     u32 n (1..NET_MAX_PEERS) | n x u32 peer ids, ascending | n x P bytes
 *     of payloads, in the order of the ids
 *
 * A coordinator killed while appending leaves a torn last record; a disk
 * error leaves a short one; a flipped bit anywhere fails a checksum. A
 * writer opening the file cuts such a tail off (reporting what it cut) and
 * appends after the last whole record; a reader refuses it with an error
 * naming the file, the record and its byte offset. Nothing is ever appended
 * after a damaged record. */
#ifndef DISTRO_NET_RECORD_H
#define DISTRO_NET_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "distro/error.h"

#define NET_RECORD_MAGIC        "DTRECORD"
#define NET_RECORD_VERSION      2
#define NET_RECORD_HEADER_BYTES 40
#define NET_RECORD_SUM_BYTES    16

/* One applied round. From a reader, ids and payloads point into the
 * reader's buffer and stay valid until its next call. */
typedef struct net_record_round {
    int64_t step;
    uint32_t lr_bits, decay_bits; /* the float bits every replica applied */
    uint64_t hash_after;          /* parameter hash after the round; 0: not computed */
    uint32_t n;                   /* contributions applied */
    const uint32_t *ids;          /* n peer ids, ascending */
    const uint8_t *payloads;      /* n x payload bytes */
} net_record_round;

/* What opening a file for appending found at its end. */
typedef struct net_record_tail {
    uint64_t records;   /* whole records kept */
    uint64_t cut_bytes; /* bytes cut off the end; 0 when the file was whole */
    char why[512];      /* what was wrong with the part cut off, when cut */
} net_record_tail;

/* ---- writing ----------------------------------------------------------------- */

typedef struct net_record_writer net_record_writer;

/* Makes `path` ready for appending rounds with payloads of payload_bytes:
 * creates it with its header, or walks the records already there, cutting
 * off a torn or damaged tail (described in *tail). A file that is not a
 * record file, or records another payload size, is refused (DT_ERR_FORMAT)
 * and left untouched. */
dt_status net_record_prepare(const char *path, uint64_t payload_bytes, net_record_tail *tail);

/* net_record_prepare, then the file opened for appending. */
dt_status net_record_writer_open(const char *path, uint64_t payload_bytes, net_record_writer **out,
                                 net_record_tail *tail);
/* Appends one round; every write is checked. On failure (DT_ERR_IO naming
 * the file and the system's reason) the partial record is cut off where
 * the file allows it; either way the writer must not be used again. */
dt_status net_record_append(net_record_writer *w, const net_record_round *r);
/* Closes; DT_ERR_IO when the system reports an error. Accepts NULL. */
dt_status net_record_writer_close(net_record_writer *w);

/* net_record_append on a descriptor the caller opened with O_APPEND on a
 * prepared file (the coordinator keeps its own). Unbuffered: nothing of
 * the round is left waiting in the process when this returns. */
dt_status net_record_append_fd(int fd, const char *path, uint64_t payload_bytes,
                               const net_record_round *r);

/* ---- reading ----------------------------------------------------------------- */

typedef struct net_record_reader net_record_reader;

/* Opens a record file and checks its header. */
dt_status net_record_reader_open(const char *path, net_record_reader **out);
/* The same over a stream the reader then owns (closed by
 * net_record_reader_close, also on failure); `name` is used in errors. */
dt_status net_record_reader_open_stream(FILE *f, const char *name, net_record_reader **out);
uint64_t net_record_reader_payload_bytes(const net_record_reader *r);
/* Byte offset just past the last whole record read (the header's end
 * before the first). */
uint64_t net_record_reader_offset(const net_record_reader *r);
/* The next record into *out, or *end = true at the clean end of the file.
 * A torn or damaged record is DT_ERR_FORMAT naming the file, the record's
 * index and byte offset; the reader stops there (later calls fail too). */
dt_status net_record_next(net_record_reader *r, net_record_round *out, bool *end);
void net_record_reader_close(net_record_reader *r);

#endif
