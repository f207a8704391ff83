/* Text or JSON lines for the events of net/ (event_printer.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/event_printer.h"

void cli_event_printer_init(cli_event_printer *p, const char *who, bool peer, bool json) {
    snprintf(p->who, sizeof p->who, "%s", who);
    p->peer = peer;
    p->json = json;
    p->tty = !json && isatty(STDERR_FILENO);
    p->progress_open = false;
}

static const net_event_field *field(const net_event *e, const char *key) {
    for (int i = 0; i < e->n_fields; i++)
        if (strcmp(e->fields[i].key, key) == 0) return &e->fields[i];
    return NULL;
}

static void print_json(const net_event *e, const cli_event_printer *p) {
    cJSON *o = net_event_json(e, p->peer);
    char *line = o ? cJSON_PrintUnformatted(o) : NULL;
    if (line) printf("%s\n", line);
    free(line);
    cJSON_Delete(o);
    fflush(stdout);
}

/* A peer's step as text: the progress line on a terminal; otherwise every
 * tenth step, the last, and any step whose payload was not applied. */
static bool step_is_progress(const net_event *e, cli_event_printer *p) {
    if (!p->peer || e->kind != NET_EVENT_STEP) return false;
    if (p->tty) {
        fprintf(stderr, "\r\033[K%s", e->text);
        fflush(stderr);
        p->progress_open = true;
        return true;
    }
    const net_event_field *step = field(e, "step"), *steps = field(e, "steps");
    const net_event_field *applied = field(e, "applied");
    bool show = !step || !steps || !applied || (int64_t)step->num % 10 == 9 ||
                step->num + 1 >= steps->num || applied->num == 0;
    return !show;
}

void cli_print_event(const net_event *e, void *ctx) {
    cli_event_printer *p = ctx;
    if (p->json) return print_json(e, p);
    /* Per-peer round figures and hash arrivals are for dashboards and
     * reports; as text they would bury the log. */
    if (e->kind == NET_EVENT_PEER_STEP || e->kind == NET_EVENT_HASH) return;
    if (step_is_progress(e, p)) return;
    if (p->progress_open) {
        fprintf(stderr, "\r\033[K");
        p->progress_open = false;
    }
    printf("[%s %7.1fs] %s\n", p->who, e->t, e->text);
    fflush(stdout);
}
