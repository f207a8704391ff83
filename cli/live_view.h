/* The live dashboard of a command (`coordinator --http`, `run --http`): a
 * run view fed with the command's events, served by web/dashboard.h. */
#ifndef DISTRO_CLI_LIVE_VIEW_H
#define DISTRO_CLI_LIVE_VIEW_H

#include "cli/event_printer.h"
#include "web/dashboard.h"
#include "web/run_view.h"

typedef struct cli_live_view {
    run_view *view;
    web_dashboard *dashboard;
    int run;                    /* the view's one run */
    cli_event_printer *printer; /* events are printed as well; NULL: not */
} cli_live_view;

/* Starts serving at address (dashboard.h) and says where on stderr, with a
 * warning when it is reachable from other machines. Prints the error and
 * returns false when it cannot. */
bool cli_live_view_start(cli_live_view *lv, const char *who, const char *address,
                         cli_event_printer *printer);
void cli_live_view_stop(cli_live_view *lv);

/* A net_event_sink function (ctx: the cli_live_view): prints the event
 * and adds it to the view. */
void cli_live_event(const net_event *e, void *ctx);

#endif
