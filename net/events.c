/* Names of the event kinds, and an event as JSON (events.h). */
#include "net/events.h"

const char *net_event_name(net_event_kind k) {
    static const char *const names[NET_EVENT_KINDS] = {
        "log",     "joined", "left",     "resync",  "refused",   "rejected", "checkpoint", "step",
        "resumed", "missed", "finished", "started", "peer_step", "hash",     "eval"};
    return k < NET_EVENT_KINDS ? names[k] : "unknown";
}

cJSON *net_event_json(const net_event *e, bool with_peer) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "t", e->t);
    cJSON_AddStringToObject(o, "event", net_event_name(e->kind));
    if (with_peer || e->peer) cJSON_AddNumberToObject(o, "peer", e->peer);
    if (e->kind != NET_EVENT_STEP) {
        if (e->step >= 0) cJSON_AddNumberToObject(o, "step", (double)e->step);
        cJSON_AddStringToObject(o, "text", e->text);
    }
    for (int i = 0; i < e->n_fields; i++) {
        const net_event_field *f = &e->fields[i];
        if (f->type == NET_FIELD_STR)
            cJSON_AddStringToObject(o, f->key, f->str ? f->str : "");
        else if (f->type == NET_FIELD_BOOL)
            cJSON_AddBoolToObject(o, f->key, f->num != 0);
        else
            cJSON_AddNumberToObject(o, f->key, f->num);
    }
    return o;
}
