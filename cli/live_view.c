/* The live dashboard of a command (live_view.h). */
#include <stdio.h>

#include "cli/live_view.h"

bool cli_live_view_start(cli_live_view *lv, const char *who, const char *address,
                         cli_event_printer *printer) {
    *lv = (cli_live_view){.printer = printer};
    dt_status st = run_view_create(true, &lv->view);
    if (st == DT_OK) st = run_view_add_run(lv->view, "", &lv->run);
    if (st == DT_OK) st = web_dashboard_start(address, lv->view, &lv->dashboard);
    if (st != DT_OK) {
        fprintf(stderr, "distro-cli %s: %s\n", who, dt_last_error());
        run_view_destroy(lv->view);
        lv->view = NULL;
        return false;
    }
    fprintf(stderr, "distro-cli %s: live dashboard at %s (metrics at %smetrics)\n", who,
            web_dashboard_url(lv->dashboard), web_dashboard_url(lv->dashboard));
    if (!web_dashboard_loopback(lv->dashboard))
        fprintf(stderr,
                "distro-cli %s: warning: the dashboard listens beyond this machine (%s); it has "
                "no authentication and shows peer names, devices and addresses to anyone who "
                "reaches the port\n",
                who, address);
    return true;
}

void cli_live_view_stop(cli_live_view *lv) {
    web_dashboard_stop(lv->dashboard);
    run_view_destroy(lv->view);
    *lv = (cli_live_view){0};
}

void cli_live_event(const net_event *e, void *ctx) {
    cli_live_view *lv = ctx;
    if (lv->printer) cli_print_event(e, lv->printer);
    cJSON *o = net_event_json(e, false);
    /* The view takes every kind the coordinator emits; an event it could
     * not read would only be missing from the page, so training goes on. */
    if (o) run_view_add_event(lv->view, lv->run, o);
    cJSON_Delete(o);
}
