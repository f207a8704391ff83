/* The run config a coordinator reads and every peer parses from WELCOME:
 * local-steps fields and their defaults, the effective config round trip,
 * and strict JSON (a repeated key or trailing text is refused, naming it;
 * cJSON alone would take the first "steps" of two, silently). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/json_strict.h"
#include "net/run_config.h"
#include "net_test_util.h"

/* eval_every: a count of steps, 0 or more, kept through the round trip. */
static void eval_every(void) {
    net_run_config c;
    if (CHECK_OK(net_run_config_parse("{\"model\": \"tiny\", \"eval_every\": 25}", &c)))
        CHECK(c.eval_every == 25, "eval_every %lld", (long long)c.eval_every);
    char *text = net_run_config_to_json(&c, 0);
    CHECK(text && strstr(text, "\"eval_every\":25"), "effective config: %s", text ? text : "");
    free(text);
    CHECK(net_run_config_parse("{\"model\": \"tiny\", \"eval_every\": -1}", &c) == DT_ERR_FORMAT,
          "a negative eval_every is refused");
    CHECK(net_run_config_parse("{\"model\": \"tiny\", \"eval_every\": 2.5}", &c) == DT_ERR_FORMAT,
          "a fractional eval_every is refused");
}

static void local_defaults(void) {
    net_run_config c;
    if (!CHECK_OK(net_run_config_parse(
            "{\"model\": \"tiny\", \"steps\": 10, \"optimizer\": {\"name\": \"local\"}}", &c)))
        return;
    CHECK(c.optimizer == MODEL_OPT_LOCAL, "optimizer %d", (int)c.optimizer);
    CHECK(c.inner_steps == 32 && c.schedule.total == 320, "H %lld, schedule total %lld",
          (long long)c.inner_steps, (long long)c.schedule.total);
    CHECK(c.demo.update == DT_DEMO_UPDATE_SCALED && c.demo.mean_over_all, "outer rule");
    CHECK(c.demo.beta == 0.95f && c.outer_lr == 2.0f && c.schedule.lr == 4e-3f,
          "beta %g outer lr %g lr %g", (double)c.demo.beta, (double)c.outer_lr,
          (double)c.schedule.lr);
    CHECK(net_run_round_steps(&c, 9) == 32, "round steps");
    CHECK(c.eval_every == 0, "eval_every defaults to 0 (the end only): %lld",
          (long long)c.eval_every);
    float lr = 0, decay = 0;
    net_run_round_lr(&c, 3, &lr, &decay);
    CHECK(lr == 2.0f && decay == 1.0f, "outer lr %g decay %g", (double)lr, (double)decay);
    /* The effective config parses back to itself. */
    char *text = net_run_config_to_json(&c, 0);
    net_run_config back;
    if (CHECK_OK(net_run_config_parse(text, &back))) {
        char *again = net_run_config_to_json(&back, 0);
        CHECK(again && strcmp(text, again) == 0, "round trip:\n%s\n%s", text, again);
        free(again);
    }
    free(text);
}

/* Float settings print as the shortest decimal that reads back to the same
 * float (0.003, not 0.0030000000260770321), and every float survives the
 * trip through text bit for bit. */
static void short_floats(void) {
    net_run_config c;
    if (!CHECK_OK(net_run_config_parse(
            "{\"model\": \"tiny\", \"optimizer\": {\"name\": \"local\", \"lr\": 0.003, "
            "\"beta\": 0.999, \"final_lr_frac\": 0.1, \"weight_decay\": 0.01, \"outer_lr\": 0.7}}",
            &c)))
        return;
    char *text = net_run_config_to_json(&c, 0);
    const char *want[] = {"\"lr\":0.003,",          "\"beta\":0.999,",   "\"final_lr_frac\":0.1,",
                          "\"weight_decay\":0.01,", "\"outer_lr\":0.7,", "\"clip\":1,"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(text && strstr(text, want[i]), "%s not in %s", want[i], text ? text : "(null)");
    free(text);
    /* A spread of floats in each field's range, including ones that need
     * all nine digits. */
    uint32_t bits = 0x3a000000u; /* about 4.9e-4 */
    for (int i = 0; i < 2000; i++, bits += 0x9e37u) {
        float v;
        memcpy(&v, &bits, sizeof v);
        c.schedule.lr = v;
        c.demo.beta = v < 0.999f ? v : 0.5f;
        c.outer_lr = v * 3.0f;
        text = net_run_config_to_json(&c, 0);
        net_run_config back;
        int ok = CHECK_OK(net_run_config_parse(text, &back)) && back.schedule.lr == c.schedule.lr &&
                 back.demo.beta == c.demo.beta && back.outer_lr == c.outer_lr;
        CHECK(ok, "%.9g %.9g %.9g changed on the way through %s", (double)c.schedule.lr,
              (double)c.demo.beta, (double)c.outer_lr, text);
        free(text);
        if (!ok) return;
    }
}

static void refusals(void) {
    net_run_config c;
    CHECK_STATUS(net_run_config_parse("{\"model\": \"tiny\", \"steps\": 5, \"steps\": 500}", &c),
                 DT_ERR_FORMAT, "run config", "'steps' appears twice");
    CHECK_STATUS(
        net_run_config_parse("{\"model\": \"tiny\", \"optimizer\": {\"lr\": 1, \"lr\": 2}}", &c),
        DT_ERR_FORMAT, "'lr' appears twice");
    CHECK_STATUS(net_run_config_parse("{\"model\": \"tiny\"} trailing", &c), DT_ERR_FORMAT,
                 "text after the JSON value", "trailing");
    CHECK_STATUS(net_run_config_parse("{\"model\": {\"dim\": 64, \"dim\": 32}}", &c), DT_ERR_FORMAT,
                 "'dim' appears twice");
    CHECK_STATUS(
        net_run_config_parse("{\"model\": \"tiny\", \"optimizer\": {\"inner_steps\": 4}}", &c),
        DT_ERR_FORMAT, "optimizer.inner_steps", "local");
    CHECK_STATUS(
        net_run_config_parse("{\"model\": \"tiny\", \"optimizer\": {\"name\": \"adamw\"}}", &c),
        DT_ERR_FORMAT, "optimizer.name");
    CHECK_STATUS(net_run_config_parse("{\"model\": \"tiny\", \"split\": \"fast\"}", &c),
                 DT_ERR_FORMAT, "split");
    CHECK_STATUS(net_run_config_parse("{\"model\": \"tiny\", \"optimizer\": {\"name\": \"local\", "
                                      "\"outer\": \"both\"}}",
                                      &c),
                 DT_ERR_FORMAT, "optimizer.outer");
    CHECK_STATUS(
        net_run_config_parse("{\"model\": \"tiny\", \"optimizer\": {\"aggregate\": 1}}", &c),
        DT_ERR_FORMAT, "optimizer.aggregate");
    /* Whitespace after the value is fine. */
    CHECK_OK(net_run_config_parse("{\"model\": \"tiny\"}\n  \n", &c));
}

/* Repeated keys are found in objects of any size and at any depth, each
 * object's keys sorted rather than compared pairwise: with 100,000 keys the
 * pairwise check took tens of seconds, long enough to stall a coordinator,
 * `sample` or `join --state` on a crafted file. */
static void many_keys(void) {
    const int n = 100000;
    char *text = malloc((size_t)n * 24 + 64); /* ", \"k99999\": 99999" is 17 */
    if (!text) {
        CHECK(0, "out of memory");
        return;
    }
    for (int dup = 0; dup < 2; dup++) {
        char *p = text + sprintf(text, "{\"a\": [1, {\"x\": {");
        for (int i = 0; i < n; i++) p += sprintf(p, "%s\"k%d\": %d", i ? ", " : "", i, i);
        if (dup) p += sprintf(p, ", \"k77777\": 0");
        sprintf(p, "}}]}");
        cJSON *root = NULL;
        if (dup)
            CHECK_STATUS(json_parse_strict(text, "big", &root), DT_ERR_FORMAT, "big",
                         "'k77777' appears twice");
        else
            CHECK_OK(json_parse_strict(text, "big", &root));
        cJSON_Delete(root);
    }
    free(text);
    cJSON *root = NULL;
    CHECK_STATUS(json_parse_strict("{\"a\": [{\"b\": 1}, {\"c\": {\"d\": 1, \"e\": 2, \"d\": 3}}]}",
                                   "nested", &root),
                 DT_ERR_FORMAT, "'d' appears twice");
    CHECK_OK(json_parse_strict("{\"d\": {\"d\": {\"d\": 1}}, \"e\": [{\"d\": 1}, {\"d\": 2}]}",
                               "same key in different objects", &root));
    cJSON_Delete(root);
}

int main(void) {
    many_keys();
    local_defaults();
    eval_every();
    short_floats();
    refusals();
    return nt_finish("test_run_config");
}
