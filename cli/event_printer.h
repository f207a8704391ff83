/* Renders the coordinator's and a peer's events (net/events.h): text lines
 * on stdout ("[coordinator   12.3s] ..."), or one JSON object per event
 * ({"t", "event", "peer", "text", and a step's fields}). On a terminal a
 * peer's steps update one progress line on stderr instead. */
#ifndef DISTRO_CLI_EVENT_PRINTER_H
#define DISTRO_CLI_EVENT_PRINTER_H

#include <stdbool.h>

#include "net/events.h"

typedef struct cli_event_printer {
    char who[96]; /* "coordinator", or "peer NAME" */
    bool peer;    /* a peer's events (its steps are progress, not log lines) */
    bool json;
    bool tty;           /* stderr is a terminal (text mode only) */
    bool progress_open; /* a progress line is on stderr */
} cli_event_printer;

void cli_event_printer_init(cli_event_printer *p, const char *who, bool peer, bool json);
/* A net_event_sink function; ctx is a cli_event_printer. */
void cli_print_event(const net_event *e, void *ctx);

#endif
