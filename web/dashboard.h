/* The live dashboard: a read-only HTTP server (libmicrohttpd) on its own
 * thread, serving the page, the state document and Prometheus metrics of a
 * run view (run_view.h):
 *   /                the page (web/page/, Chart.js embedded at build time)
 *   /api/state.json  the state document (web/STATE.md)
 *   /metrics         Prometheus text exposition
 *
 * Training never waits on a client: the server has its own thread, a
 * bounded number of connections with a timeout, and it renders the view
 * at most a few times a second, whatever the clients ask, each time under
 * the view's lock only as long as the document takes to build. */
#ifndef DISTRO_WEB_DASHBOARD_H
#define DISTRO_WEB_DASHBOARD_H

#include <stdbool.h>

#include "distro/error.h"
#include "web/run_view.h"

typedef struct web_dashboard web_dashboard;

/* address: "PORT" (loopback), "HOST:PORT" with HOST an IPv4 address,
 * "localhost", or "*" / "0.0.0.0" (every interface). PORT 0 picks a free
 * one. The view must outlive the dashboard. */
dt_status web_dashboard_start(const char *address, run_view *view, web_dashboard **out);
void web_dashboard_stop(web_dashboard *d);

int web_dashboard_port(const web_dashboard *d);
bool web_dashboard_loopback(const web_dashboard *d); /* bound to 127.0.0.0/8 only */
/* "http://HOST:PORT/" */
const char *web_dashboard_url(const web_dashboard *d);

/* Connections served at once, and the seconds an idle one is kept. */
#define WEB_MAX_CONNECTIONS      32
#define WEB_CONNECTION_TIMEOUT_S 15

#endif
