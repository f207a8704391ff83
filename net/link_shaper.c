/* Release-time queue of a shaped link direction (see link_shaper.h). */
#include <math.h>
#include <stdlib.h>

#include "net/link_shaper.h"

void net_shaper_init(net_link_shaper *q, double rate, double latency) {
    q->rate = rate > 0 && isfinite(rate) ? rate : 0;
    q->latency = latency > 0 && isfinite(latency) ? latency : 0;
    q->free_at = 0;
    q->head = q->tail = NULL;
    q->count = q->bytes = 0;
}

bool net_shaper_active(const net_link_shaper *q) {
    return q->rate > 0 || q->latency > 0;
}

dt_status net_shaper_push(net_link_shaper *q, zmq_msg_t *msg, double now) {
    net_shaped_frame *f = malloc(sizeof *f);
    if (!f) return dt_error(DT_ERR_OOM, "link shaper: out of memory queueing a frame");
    zmq_msg_init(&f->msg);
    zmq_msg_move(&f->msg, msg);
    size_t len = f->len = zmq_msg_size(&f->msg);
    double start = now > q->free_at ? now : q->free_at;
    q->free_at = start + (q->rate > 0 ? (double)len / q->rate : 0);
    f->due = q->free_at + q->latency;
    f->next = NULL;
    if (q->tail)
        q->tail->next = f;
    else
        q->head = f;
    q->tail = f;
    q->count++;
    q->bytes += len;
    return DT_OK;
}

net_shaped_frame *net_shaper_due(net_link_shaper *q, double now) {
    return q->head && q->head->due <= now ? q->head : NULL;
}

void net_shaper_pop(net_link_shaper *q, zmq_msg_t *into) {
    net_shaped_frame *f = q->head;
    if (!f) return;
    q->head = f->next;
    if (!q->head) q->tail = NULL;
    q->count--;
    q->bytes -= f->len;
    if (into) zmq_msg_move(into, &f->msg);
    zmq_msg_close(&f->msg);
    free(f);
}

double net_shaper_next_due(const net_link_shaper *q) {
    return q->head ? q->head->due : INFINITY;
}

void net_shaper_free(net_link_shaper *q) {
    while (q->head) {
        net_shaped_frame *f = q->head;
        q->head = f->next;
        zmq_msg_close(&f->msg);
        free(f);
    }
    q->tail = NULL;
    q->count = q->bytes = 0;
}
