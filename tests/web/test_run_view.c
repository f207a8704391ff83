/* The run view against hand-written events whose state is known: steps,
 * peers, hash agreement, the reduction factor, the timeline, metrics in
 * Prometheus syntax, and report.html with a hostile peer name inlined. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "web/report.h"
#include "web/run_view.h"

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* A coordinator's log of a 3-step run: two peers, 'b' misses step 1 and
 * reports a differing hash after step 2, then is ejected. The second peer
 * is named with markup. */
static const char *const coordinator_log[] = {
    "{\"t\":0.1,\"event\":\"started\",\"text\":\"run\",\"run_id\":\"00000000000000ab\","
    "\"model\":\"tiny\",\"params\":1000,\"steps\":3,\"optimizer\":\"demo\",\"payload_bytes\":64}",
    "{\"t\":0.5,\"event\":\"joined\",\"peer\":1,\"text\":\"j\",\"name\":\"a\",\"device\":\"cpu X\","
    "\"backend\":\"cpu\",\"address\":\"127.0.0.1\"}",
    "{\"t\":0.6,\"event\":\"joined\",\"peer\":2,\"text\":\"j\",\"name\":\"<!--<script>b\","
    "\"device\":\"vk\",\"backend\":\"vulkan\",\"address\":\"127.0.0.1\"}",
    "{\"t\":1.0,\"event\":\"peer_step\",\"peer\":1,\"step\":0,\"text\":\"p\",\"name\":\"a\","
    "\"submitted\":true,\"compute_s\":0.3,\"wait_s\":0.1,\"tokens_total\":100,\"tokens_per_s\":333,"
    "\"bytes_up\":80,\"bytes_down\":160,\"misses\":0}",
    "{\"t\":1.0,\"event\":\"peer_step\",\"peer\":2,\"step\":0,\"text\":\"p\","
    "\"name\":\"<!--<script>b\",\"submitted\":true,\"compute_s\":0.4,\"wait_s\":0,"
    "\"tokens_total\":100,\"tokens_per_s\":250,\"bytes_up\":80,\"bytes_down\":160,\"misses\":0}",
    "{\"t\":1.0,\"event\":\"step\",\"step\":0,\"peers\":2,\"loss\":5.5,\"lr\":0.001,\"seconds\":0."
    "5,"
    "\"tokens\":200,\"bytes_up_per_peer\":80,\"bytes_down_per_peer\":160,\"payload_up_per_peer\":"
    "64,"
    "\"allreduce_bytes_per_peer\":4000,\"hash\":\"0123456789abcdef\"}",
    "{\"t\":1.1,\"event\":\"hash\",\"peer\":1,\"step\":0,\"text\":\"h\",\"name\":\"a\","
    "\"agree\":true}",
    "{\"t\":1.1,\"event\":\"hash\",\"peer\":2,\"step\":0,\"text\":\"h\",\"name\":\"<!--<script>b\","
    "\"agree\":true}",
    "{\"t\":2.0,\"event\":\"missed\",\"peer\":2,\"step\":1,\"text\":\"m\","
    "\"name\":\"<!--<script>b\",\"misses\":1}",
    "{\"t\":2.0,\"event\":\"step\",\"step\":1,\"peers\":1,\"loss\":5.0,\"lr\":0.001,\"seconds\":1."
    "0,"
    "\"tokens\":100,\"bytes_up_per_peer\":120,\"bytes_down_per_peer\":100,"
    "\"payload_up_per_peer\":64,\"allreduce_bytes_per_peer\":0,\"hash\":\"\"}",
    "{\"t\":2.5,\"event\":\"checkpoint\",\"step\":2,\"text\":\"c\",\"ok\":true}",
    "{\"t\":2.6,\"event\":\"eval\",\"step\":1,\"text\":\"v\",\"val_loss\":4.75}",
    "{\"t\":3.0,\"event\":\"step\",\"step\":2,\"peers\":2,\"loss\":4.5,\"lr\":0.001,\"seconds\":0."
    "5,"
    "\"tokens\":200,\"bytes_up_per_peer\":120,\"bytes_down_per_peer\":160,"
    "\"payload_up_per_peer\":64,\"allreduce_bytes_per_peer\":4000,\"hash\":\"fedcba9876543210\"}",
    "{\"t\":3.1,\"event\":\"hash\",\"peer\":1,\"step\":2,\"text\":\"h\",\"name\":\"a\","
    "\"agree\":true}",
    "{\"t\":3.1,\"event\":\"hash\",\"peer\":2,\"step\":2,\"text\":\"h\",\"name\":\"<!--<script>b\","
    "\"agree\":false}",
    "{\"t\":3.2,\"event\":\"left\",\"peer\":2,\"text\":\"l\",\"name\":\"<!--<script>b\","
    "\"how\":\"ejected\"}",
    "{\"t\":3.5,\"event\":\"finished\",\"step\":3,\"text\":\"f\",\"val_loss\":4.25,"
    "\"hash\":\"fedcba9876543210\"}",
};

static const cJSON *at(const cJSON *o, const char *path) {
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        o = key[0] >= '0' && key[0] <= '9' ? cJSON_GetArrayItem(o, atoi(key))
                                           : cJSON_GetObjectItemCaseSensitive(o, key);
        path += n + (path[n] == '.');
    }
    return o;
}

static double num_at(const cJSON *o, const char *path) {
    const cJSON *it = at(o, path);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

static const char *str_at(const cJSON *o, const char *path) {
    const cJSON *it = at(o, path);
    return cJSON_IsString(it) ? it->valuestring : "";
}

static void check_state(run_view *v) {
    char *text = run_view_state_json(v);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    CHECK(doc, "the state document is not JSON");
    const cJSON *r = at(doc, "runs.0");
    CHECK(num_at(r, "step") == 2 && num_at(r, "steps_total") == 3, "step %g of %g",
          num_at(r, "step"), num_at(r, "steps_total"));
    CHECK(strcmp(str_at(r, "kind"), "coordinator") == 0, "kind %s", str_at(r, "kind"));
    CHECK(strcmp(str_at(r, "run_id"), "00000000000000ab") == 0, "run id");
    CHECK(num_at(r, "val_loss") == 4.25 && cJSON_IsTrue(at(r, "finished")), "val loss, finished");
    /* Only rounds with an all-reduce to compare count: (4000 + 4000) / (80 + 120). */
    CHECK(fabs(num_at(r, "reduction") - 40.0) < 1e-9, "reduction %g", num_at(r, "reduction"));
    CHECK(num_at(r, "hash.checked") == 2 && num_at(r, "hash.agreeing") == 1 &&
              num_at(r, "hash.mismatches") == 1,
          "hash %g checked, %g agreeing, %g mismatches", num_at(r, "hash.checked"),
          num_at(r, "hash.agreeing"), num_at(r, "hash.mismatches"));
    CHECK(cJSON_GetArraySize(at(r, "series.train_loss")) == 3 &&
              num_at(r, "series.train_loss.2.1") == 4.5,
          "train loss series");
    CHECK(num_at(r, "series.hash_agree.1.0") == 2 && num_at(r, "series.hash_agree.1.1") == 2 &&
              num_at(r, "series.hash_agree.1.2") == 1,
          "hash agreement of step 2");
    CHECK(num_at(r, "series.tokens_per_s.1.1") == 100, "global tokens/s of step 1");
    CHECK(cJSON_GetArraySize(at(r, "peers")) == 2, "peers %d", cJSON_GetArraySize(at(r, "peers")));
    CHECK(strcmp(str_at(r, "peers.0.state"), "finished") == 0 &&
              strcmp(str_at(r, "peers.1.state"), "ejected") == 0,
          "states %s, %s", str_at(r, "peers.0.state"), str_at(r, "peers.1.state"));
    CHECK(strcmp(str_at(r, "peers.0.link"), "20 Mbit/s") == 0, "link from the scenario");
    CHECK(strcmp(str_at(r, "peers.1.last_hash"), "mismatch") == 0 &&
              num_at(r, "peers.1.misses") == 1 && num_at(r, "peers.0.steps") == 1,
          "peer b: hash %s, misses %g; a: steps %g", str_at(r, "peers.1.last_hash"),
          num_at(r, "peers.1.misses"), num_at(r, "peers.0.steps"));
    CHECK(num_at(r, "timeline.0.step") == 0 && num_at(r, "timeline.0.seconds") == 0.5 &&
              num_at(r, "timeline.0.peers.1.compute_s") == 0.4,
          "timeline of step 0");
    CHECK(cJSON_GetArraySize(at(r, "series.val_loss")) == 2 &&
              num_at(r, "series.val_loss.0.0") == 1 && num_at(r, "series.val_loss.0.1") == 4.75 &&
              num_at(r, "series.val_loss.1.0") == 2,
          "val curve: the eval after step 1, then the final one after step 2");
    CHECK(cJSON_GetArraySize(at(r, "events")) == 8, "events kept %d (steps are not events)",
          cJSON_GetArraySize(at(r, "events")));
    CHECK(num_at(r, "series.baseline_val_loss.0.1") == 4.0, "baseline point");
    cJSON_Delete(doc);
    free(text);
}

static void check_metrics(run_view *v) {
    char *m = run_view_metrics(v);
    CHECK(m && strstr(m, "\ndistro_step 2\n"), "distro_step");
    CHECK(m && strstr(m, "\ndistro_val_loss 4.25\n"), "distro_val_loss");
    CHECK(m && strstr(m, "\ndistro_hash_mismatches_total 1\n"), "mismatches");
    CHECK(m && strstr(m, "distro_peers{state=\"ejected\"} 1\n"), "peers by state");
    CHECK(m && strstr(m, "distro_checkpoint_age_seconds 1\n"), "checkpoint age (3.5 - 2.5)");
    CHECK(m && strstr(m, "distro_peer_tokens_per_second{peer=\"<!--<script>b\"} 250\n"),
          "per-peer tokens/s");
    /* Every line is a comment or "name[{labels}] value". */
    for (char *line = m; line && *line;) {
        char *end = strchr(line, '\n');
        CHECK(end, "unterminated last line");
        if (!end) break;
        if (line[0] != '#') {
            size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz_");
            CHECK(n > 7 && strncmp(line, "distro_", 7) == 0 && (line[n] == ' ' || line[n] == '{'),
                  "metric line '%.*s'", (int)(end - line), line);
        }
        line = end + 1;
    }
    free(m);
}

static void check_report(run_view *v) {
    char path[] = "/tmp/distro-report-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temporary file");
    if (fd < 0) return;
    close(fd);
    CHECK(web_report_write(v, path) == DT_OK, "report: %s", dt_last_error());
    FILE *f = fopen(path, "rb");
    static char page[4 << 20];
    size_t n = f ? fread(page, 1, sizeof page - 1, f) : 0;
    if (f) fclose(f);
    page[n] = '\0';
    remove(path);
    char *state = strstr(page, "window.DISTRO_STATE = ");
    CHECK(state, "no inlined state");
    CHECK(!strstr(page, "src=\"chart.js\"") && !strstr(page, "href=\"dashboard.css\""),
          "an asset line was left as a link");
    CHECK(strstr(page, "<style>") && strstr(page, "Chart"), "style or Chart.js not inlined");
    if (!state) return;
    char *end = strstr(state, ";</script>");
    CHECK(end, "the state's script does not end");
    if (!end) return;
    /* No '<' inside the state at all: a peer's name cannot end or comment
     * out the script it is in. */
    CHECK(!memchr(state, '<', (size_t)(end - state)), "a raw '<' inside the inlined state");
    CHECK(strstr(state, "\\u003c!--\\u003cscript>b"), "the hostile name, escaped");
}

/* A `train --json` log: steps with the total and the time, val at the end. */
static void check_train_log(run_view *v) {
    int run = -1;
    CHECK(run_view_add_run(v, "train.jsonl", &run) == DT_OK && run == 1, "second run");
    CHECK(run_view_add_line(v, run,
                            "{\"t\":0.5,\"step\":0,\"steps\":2,\"loss\":5.5,\"tokens_per_s\":"
                            "1000,\"payload_bytes_per_step\":64}") == DT_OK,
          "train line 0: %s", dt_last_error());
    CHECK(run_view_add_line(v, run,
                            "{\"t\":1.25,\"step\":1,\"steps\":2,\"loss\":5.0,\"tokens_per_s\":"
                            "1100,\"payload_bytes_per_step\":64,\"val_loss\":4.9}") == DT_OK,
          "train line 1: %s", dt_last_error());
    char *text = run_view_state_json(v);
    cJSON *doc = text ? cJSON_Parse(text) : NULL;
    const cJSON *r = at(doc, "runs.1");
    CHECK(strcmp(str_at(r, "kind"), "train") == 0, "train kind '%s'", str_at(r, "kind"));
    CHECK(num_at(r, "steps_total") == 2 && num_at(r, "step") == 1 &&
              cJSON_IsTrue(at(r, "finished")),
          "train progress: step %g of %g", num_at(r, "step"), num_at(r, "steps_total"));
    CHECK(num_at(r, "elapsed_s") == 1.25 && num_at(r, "val_loss") == 4.9 &&
              num_at(r, "series.val_loss.0.0") == 1,
          "train time and val: %g s, val %g", num_at(r, "elapsed_s"), num_at(r, "val_loss"));
    cJSON_Delete(doc);
    free(text);
}

/* A fresh view with one run, or NULL (counted as a failure). */
static run_view *new_view(int *run) {
    run_view *v = NULL;
    if (run_view_create(false, &v) != DT_OK || run_view_add_run(v, "", run) != DT_OK) {
        CHECK(0, "run view: %s", dt_last_error());
        run_view_destroy(v);
        return NULL;
    }
    return v;
}

/* A peer name of the wire's full 64 bytes is kept whole, and a device text
 * longer than the view keeps is cut before a character, never inside one:
 * a lone lead byte would be invalid UTF-8 in the JSON and in /metrics. */
static void check_long_names(void) {
    int run = -1;
    run_view *v = new_view(&run);
    if (!v) return;
    char name[80], device[400], line[1024];
    memset(name, 'x', 62);
    snprintf(name + 62, sizeof name - 62, "\xc3\xa9"); /* 64 bytes, ending in e-acute */
    memset(device, 'd', 254);
    device[254] = '\0';
    for (int i = 0; i < 20; i++) strcat(device, "\xc3\xa9"); /* byte 255 starts a character */
    snprintf(line, sizeof line,
             "{\"t\":0.5,\"event\":\"joined\",\"peer\":1,\"text\":\"j\",\"name\":\"%s\","
             "\"device\":\"%s\",\"backend\":\"cpu\",\"address\":\"127.0.0.1\"}",
             name, device);
    CHECK(run_view_add_line(v, run, line) == DT_OK, "joined: %s", dt_last_error());
    snprintf(line, sizeof line,
             "{\"t\":1.0,\"event\":\"peer_step\",\"peer\":1,\"step\":0,\"text\":\"p\","
             "\"name\":\"%s\",\"submitted\":true,\"compute_s\":0.3,\"wait_s\":0.1,"
             "\"tokens_total\":100,\"tokens_per_s\":333,\"bytes_up\":80,\"bytes_down\":160,"
             "\"misses\":0}",
             name);
    CHECK(run_view_add_line(v, run, line) == DT_OK, "peer_step: %s", dt_last_error());
    char *doc = run_view_state_json(v), *metrics = run_view_metrics(v);
    cJSON *j = doc ? cJSON_Parse(doc) : NULL;
    CHECK(!strcmp(str_at(j, "runs.0.peers.0.name"), name), "the 64-byte name became '%s'",
          str_at(j, "runs.0.peers.0.name"));
    const char *dev = str_at(j, "runs.0.peers.0.device");
    size_t n = strlen(dev);
    CHECK(n > 200 && n < strlen(device) && (unsigned char)dev[n - 1] != 0xc3,
          "the device text was cut inside a character (%zu bytes, last %#x)", n,
          n ? (unsigned char)dev[n - 1] : 0u);
    CHECK(metrics && strstr(metrics, name), "/metrics lacks the whole name");
    cJSON_Delete(j);
    free(doc);
    free(metrics);
    run_view_destroy(v);
}

/* A long run's curves are thinned in the document (it is built under the
 * lock the coordinator's events take, and sent to every page each second),
 * keeping the last point. */
static void check_thinning(void) {
    int run = -1;
    run_view *v = new_view(&run);
    if (!v) return;
    char line[256];
    for (int i = 0; i < 10001; i++) {
        snprintf(line, sizeof line,
                 "{\"t\":%d,\"event\":\"step\",\"step\":%d,\"peers\":1,\"loss\":%g,"
                 "\"lr\":0.001,\"seconds\":0.5,\"tokens\":200}",
                 i, i, 5.0 - i * 1e-4);
        if (run_view_add_line(v, run, line) != DT_OK) {
            CHECK(0, "step %d: %s", i, dt_last_error());
            break;
        }
    }
    char *doc = run_view_state_json(v);
    cJSON *j = doc ? cJSON_Parse(doc) : NULL;
    const cJSON *train = at(j, "runs.0.series.train_loss");
    const int n = cJSON_GetArraySize(train);
    CHECK(n > 2000 && n <= 4001, "10,001 steps became %d points", n);
    CHECK(num_at(j, "runs.0.series.train_loss.0.0") == 0, "the first point is not step 0");
    char last[48];
    snprintf(last, sizeof last, "runs.0.series.train_loss.%d.0", n - 1);
    CHECK(num_at(j, last) == 10000, "the last point is step %g, not 10000", num_at(j, last));
    cJSON_Delete(j);
    free(doc);
    run_view_destroy(v);
}

int main(void) {
    check_long_names();
    check_thinning();
    run_view *v = NULL;
    int run = -1;
    if (run_view_create(false, &v) != DT_OK || run_view_add_run(v, "", &run) != DT_OK) {
        fprintf(stderr, "FAIL: %s\n", dt_last_error());
        return 1;
    }
    CHECK(run_view_set_link(v, run, "a", "20 Mbit/s") == DT_OK, "link");
    for (size_t i = 0; i < sizeof coordinator_log / sizeof coordinator_log[0]; i++)
        CHECK(run_view_add_line(v, run, coordinator_log[i]) == DT_OK, "line %zu: %s", i,
              dt_last_error());
    CHECK(run_view_add_baseline(v, run, "baseline_val_loss", 2, 4.0) == DT_OK, "baseline");
    CHECK(run_view_add_line(v, run, "not json") == DT_ERR_FORMAT, "a line that is not JSON");
    CHECK(run_view_add_line(v, run, "{\"x\":1}") == DT_ERR_FORMAT, "an object that is no event");
    CHECK(run_view_add_line(v, 7, coordinator_log[0]) == DT_ERR_INVALID, "no run 7");
    CHECK(run_view_events(v) == (int64_t)(sizeof coordinator_log / sizeof coordinator_log[0]),
          "events counted");
    check_state(v);
    check_metrics(v);
    check_report(v);
    check_train_log(v);
    run_view_destroy(v);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("run view: state, metrics and report as expected\n");
    return 0;
}
