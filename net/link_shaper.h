/* One direction of a shaped link (DESIGN.md section 5): a FIFO of frames,
 * each with the time it is due. A frame starts "transmitting" when the link
 * is free, takes len / rate seconds, and is due `latency` after that, so
 * back-to-back frames queue behind each other like on a real uplink and a
 * single frame still pays the full latency. Internal to net/client.c. */
#ifndef DISTRO_NET_LINK_SHAPER_H
#define DISTRO_NET_LINK_SHAPER_H

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

#include "distro/error.h"

typedef struct net_shaped_frame {
    zmq_msg_t msg;
    size_t len; /* kept: a sent msg reads as empty */
    double due;
    struct net_shaped_frame *next;
} net_shaped_frame;

typedef struct net_link_shaper {
    double rate;    /* bytes/s; 0: unlimited */
    double latency; /* s; 0: none */
    double free_at; /* when the simulated link finishes its current frame */
    net_shaped_frame *head, *tail;
    size_t count, bytes;
} net_link_shaper;

void net_shaper_init(net_link_shaper *q, double rate, double latency);
/* Whether this direction is shaped at all (otherwise frames bypass it). */
bool net_shaper_active(const net_link_shaper *q);
/* Takes the message (zmq_msg_move: *msg is left empty) and schedules it. */
dt_status net_shaper_push(net_link_shaper *q, zmq_msg_t *msg, double now);
/* The oldest frame if it is due at `now`, else NULL. */
net_shaped_frame *net_shaper_due(net_link_shaper *q, double now);
/* Moves the oldest frame into *into (an initialised msg; NULL to discard
 * it, e.g. after zmq_msg_send took its content) and drops it. */
void net_shaper_pop(net_link_shaper *q, zmq_msg_t *into);
/* Due time of the oldest frame; INFINITY when empty. */
double net_shaper_next_due(const net_link_shaper *q);
void net_shaper_free(net_link_shaper *q);

#endif
