/* Names of the event kinds (events.h). */
#include "net/events.h"

const char *net_event_name(net_event_kind k) {
    static const char *const names[NET_EVENT_KINDS] = {
        "log",        "joined", "left",    "resync", "refused", "rejected",
        "checkpoint", "step",   "resumed", "missed", "finished"};
    return k < NET_EVENT_KINDS ? names[k] : "unknown";
}
