/* The live dashboard's HTTP side (dashboard.h), on libmicrohttpd's own
 * polling thread. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/dashboard.h"
#include "web/page_assets.h"
#include "web/run_view_internal.h"

/* The state document is rebuilt at most this often, however many clients
 * poll: what the training thread can lose to the lock is bounded by it. */
#define WEB_RENDER_EVERY_S 0.25

struct web_dashboard {
    struct MHD_Daemon *daemon;
    run_view *view;
    int port;
    bool loopback;
    char url[64];
    pthread_mutex_t cache_lock;
    /* The last rendered document as one response that every connection
     * queues (MHD counts the references): a copy per connection would pin
     * tens of MB each for as long as a slow client takes to read it. */
    struct MHD_Response *state;
    double state_at; /* monotonic seconds it was rendered */
};

/* Parses "PORT", "HOST:PORT"; HOST: an IPv4 address, "localhost", "*". */
static dt_status parse_address(const char *address, struct sockaddr_in *sa) {
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    const char *colon = strrchr(address, ':');
    const char *port_text = colon ? colon + 1 : address;
    char host[64] = "127.0.0.1";
    if (colon) {
        size_t n = (size_t)(colon - address);
        if (n == 0 || n >= sizeof host)
            return dt_error(DT_ERR_INVALID, "--http %s: expected PORT or HOST:PORT", address);
        memcpy(host, address, n);
        host[n] = '\0';
    }
    char *end = NULL;
    long port = strtol(port_text, &end, 10);
    if (!*port_text || *end || port < 0 || port > 65535)
        return dt_error(DT_ERR_INVALID, "--http %s: '%s' is not a port (0-65535)", address,
                        port_text);
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (strcmp(host, "*") == 0) snprintf(host, sizeof host, "0.0.0.0");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return dt_error(DT_ERR_INVALID,
                        "--http %s: '%s' is not an IPv4 address, 'localhost' or '*' (every "
                        "interface)",
                        address, host);
    return DT_OK;
}

static struct MHD_Response *make_response(const char *type, const void *body, size_t len,
                                          enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r) return NULL;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* The page loads nothing from anywhere else. */
    MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'");
    return r;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const void *body, size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = make_response(type, body, len, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free((void *)body);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *body) {
    return respond(conn, status, "text/plain; charset=utf-8", body, strlen(body),
                   MHD_RESPMEM_PERSISTENT);
}

/* The state document, re-rendered when the cached one is old. */
static enum MHD_Result serve_state(web_dashboard *d, struct MHD_Connection *conn) {
    pthread_mutex_lock(&d->cache_lock);
    double now = rv_mono_now();
    if (!d->state || now - d->state_at >= WEB_RENDER_EVERY_S) {
        char *fresh = run_view_state_json(d->view);
        struct MHD_Response *r =
            fresh ? make_response("application/json", fresh, strlen(fresh), MHD_RESPMEM_MUST_FREE)
                  : NULL;
        if (r) {
            if (d->state) MHD_destroy_response(d->state); /* connections keep theirs */
            d->state = r;
            d->state_at = now;
        } else {
            free(fresh);
        }
    }
    enum MHD_Result ok =
        d->state ? MHD_queue_response(conn, 200, d->state) : text(conn, 503, "out of memory\n");
    pthread_mutex_unlock(&d->cache_lock);
    return ok;
}

static enum MHD_Result serve_metrics(web_dashboard *d, struct MHD_Connection *conn) {
    char *body = run_view_metrics(d->view);
    if (!body) return text(conn, 503, "out of memory\n");
    return respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body, strlen(body),
                   MHD_RESPMEM_MUST_FREE);
}

/* Bound to loopback, the dashboard answers only requests addressed to this
 * machine by name or address: otherwise any web page its user visits could
 * point a host name of its own at 127.0.0.1 and read the run through the
 * browser (DNS rebinding). A request without Host (HTTP/1.0) has no name to
 * rebind. */
static bool host_allowed(const web_dashboard *d, struct MHD_Connection *conn) {
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!d->loopback || !host) return true;
    char bound[80], local[40];
    /* d->url is "http://ADDRESS:PORT/". */
    snprintf(bound, sizeof bound, "%s", d->url + strlen("http://"));
    bound[strcspn(bound, "/")] = '\0';
    snprintf(local, sizeof local, "localhost:%d", d->port);
    return strcmp(host, bound) == 0 || strcmp(host, local) == 0;
}

static enum MHD_Result on_request(void *ctx, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state) {
    (void)version;
    (void)upload_data;
    web_dashboard *d = ctx;
    /* Anything but a read is answered at once, before any body is read. */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return text(conn, 405, "read-only: GET only\n");
    if (!host_allowed(d, conn))
        return text(conn, 421,
                    "this dashboard answers to its own address or localhost only (Host checked "
                    "against DNS rebinding)\n");
    /* The first call only announces the request (headers read); a body
     * sent with a GET is read and dropped. */
    if (!*state) {
        *state = d;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return respond(conn, 200, "text/html; charset=utf-8", distro_page_html,
                       distro_page_html_size, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/dashboard.js") == 0)
        return respond(conn, 200, "text/javascript; charset=utf-8", distro_page_js,
                       distro_page_js_size, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/dashboard.css") == 0)
        return respond(conn, 200, "text/css; charset=utf-8", distro_page_css, distro_page_css_size,
                       MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/chart.js") == 0)
        return respond(conn, 200, "text/javascript; charset=utf-8", distro_chartjs,
                       distro_chartjs_size, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/api/state.json") == 0) return serve_state(d, conn);
    if (strcmp(url, "/metrics") == 0) return serve_metrics(d, conn);
    return text(conn, 404, "not found: try / , /api/state.json or /metrics\n");
}

dt_status web_dashboard_start(const char *address, run_view *view, web_dashboard **out) {
    struct sockaddr_in sa;
    dt_status st = parse_address(address, &sa);
    if (st != DT_OK) return st;
    web_dashboard *d = calloc(1, sizeof *d);
    if (!d) return dt_error(DT_ERR_OOM, "dashboard");
    d->view = view;
    pthread_mutex_init(&d->cache_lock, NULL);
    /* One polling thread for every connection (a slow client costs it a
     * socket, not a thread), a bounded number of them, a per-address share
     * and an idle timeout, and small per-connection memory: GETs only. */
    d->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, d,
                                 MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)WEB_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                 (unsigned)(WEB_MAX_CONNECTIONS / 2), MHD_OPTION_CONNECTION_TIMEOUT,
                                 (unsigned)WEB_CONNECTION_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_END);
    if (!d->daemon) {
        pthread_mutex_destroy(&d->cache_lock);
        free(d);
        return dt_error(DT_ERR_IO,
                        "--http %s: cannot listen there (port in use, or not an "
                        "address of this machine?)",
                        address);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d->daemon, MHD_DAEMON_INFO_BIND_PORT);
    d->port = info ? info->port : ntohs(sa.sin_port);
    d->loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    char host[INET_ADDRSTRLEN] = "127.0.0.1";
    if (sa.sin_addr.s_addr != htonl(INADDR_ANY))
        inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    snprintf(d->url, sizeof d->url, "http://%s:%d/", host, d->port);
    *out = d;
    return DT_OK;
}

void web_dashboard_stop(web_dashboard *d) {
    if (!d) return;
    MHD_stop_daemon(d->daemon);
    pthread_mutex_destroy(&d->cache_lock);
    if (d->state) MHD_destroy_response(d->state);
    free(d);
}

int web_dashboard_port(const web_dashboard *d) {
    return d->port;
}

bool web_dashboard_loopback(const web_dashboard *d) {
    return d->loopback;
}

const char *web_dashboard_url(const web_dashboard *d) {
    return d->url;
}
