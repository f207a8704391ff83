/* Device options: the OPTION=VALUE parts of a device spec, checked against
 * the options a backend declares (dt_backend.options) before anything is
 * opened. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"

/* Index of `value` in a "a|b|c" list, or -1. */
static int choice_index(const char *values, const char *value) {
    size_t n = strlen(value);
    int i = 0;
    for (const char *p = values; *p; i++) {
        size_t len = strcspn(p, "|");
        if (len == n && strncmp(p, value, n) == 0) return i;
        p += len;
        if (*p == '|') p++;
    }
    return -1;
}

/* "auto, cpu or gpu" from "auto|cpu|gpu". */
static void choices_text(const char *values, char *out, size_t len) {
    size_t used = 0, count = 1;
    for (const char *p = values; *p; p++) count += *p == '|';
    size_t i = 0;
    out[0] = '\0';
    for (const char *p = values; *p && used < len; i++) {
        size_t n = strcspn(p, "|");
        const char *sep = i == 0 ? "" : i + 1 == count ? " or " : ", ";
        used += (size_t)snprintf(out + used, len - used, "%s%.*s", sep, (int)n, p);
        p += n;
        if (*p == '|') p++;
    }
}

/* "threads=1..1024, gemm=auto|blas|own" for messages. */
static void options_text(const dt_option_spec *table, char *out, size_t len) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; table && table[i].name && used < len; i++) {
        if (table[i].values)
            used += (size_t)snprintf(out + used, len - used, "%s%s=%s", i ? ", " : "",
                                     table[i].name, table[i].values);
        else
            used += (size_t)snprintf(out + used, len - used, "%s%s=%d..%d", i ? ", " : "",
                                     table[i].name, table[i].min, table[i].max);
    }
}

dt_status dt_options_parse(const char *spec, const char *device, const char *backend,
                           const dt_option_spec *table, const char *text, dt_device_options *out,
                           char *normal, size_t normal_len) {
    memset(out, 0, sizeof *out);
    if (normal_len) normal[0] = '\0';
    size_t used = 0;
    char known[256];
    options_text(table, known, sizeof known);
    for (const char *p = text; p && *p;) {
        size_t len = strcspn(p, ":");
        char item[96];
        if (len == 0 || len >= sizeof item)
            return dt_error(DT_ERR_INVALID, "device spec '%s': %s option after '%.*s'", spec,
                            len ? "an overlong" : "an empty", (int)(p - text), text);
        memcpy(item, p, len);
        item[len] = '\0';
        p += len;
        if (*p == ':' && !*++p)
            return dt_error(DT_ERR_INVALID, "device spec '%s': an empty option at the end", spec);
        char *eq = strchr(item, '=');
        if (!eq && strspn(item, "0123456789") == len)
            return dt_error(DT_ERR_INVALID,
                            "device spec '%s': '%s': the device number comes right after the "
                            "backend name, before any option",
                            spec, item);
        if (!eq)
            return dt_error(DT_ERR_INVALID,
                            "device spec '%s': '%s' is not OPTION=VALUE (options of %s: %s)", spec,
                            item, device, known[0] ? known : "none");
        *eq = '\0';
        const char *key = item, *value = eq + 1;
        if (!table || !table[0].name)
            return dt_error(DT_ERR_INVALID,
                            "device spec '%s': option '%s': the %s backend takes no options", spec,
                            key, backend);
        int opt = -1;
        for (int i = 0; table[i].name; i++)
            if (strcmp(table[i].name, key) == 0) opt = i;
        if (opt >= DT_MAX_DEVICE_OPTIONS)
            return dt_error(DT_ERR_INVALID,
                            "device spec '%s': the %s backend declares more than "
                            "%d options",
                            spec, backend, DT_MAX_DEVICE_OPTIONS);
        if (opt < 0)
            return dt_error(DT_ERR_INVALID, "device spec '%s': %s has no option '%s' (options: %s)",
                            spec, device, key, known);
        if (out->given[opt])
            return dt_error(DT_ERR_INVALID, "device spec '%s': option '%s' is given twice", spec,
                            key);
        const dt_option_spec *o = &table[opt];
        int v;
        if (o->values) {
            v = choice_index(o->values, value);
            if (v < 0) {
                char choices[160];
                choices_text(o->values, choices, sizeof choices);
                return dt_error(DT_ERR_INVALID,
                                "device spec '%s': option %s of %s takes %s, not '%s' (%s)", spec,
                                key, device, choices, value, o->help);
            }
        } else {
            char *end = NULL;
            long n = strtol(value, &end, 10);
            if (!*value || *end || n < o->min || n > o->max)
                return dt_error(DT_ERR_INVALID,
                                "device spec '%s': option %s of %s takes a number from %d to %d, "
                                "not '%s' (%s)",
                                spec, key, device, o->min, o->max, value, o->help);
            v = (int)n;
        }
        out->given[opt] = true;
        out->value[opt] = v;
        if (used < normal_len)
            used += (size_t)snprintf(normal + used, normal_len - used, "%s%s=%s", used ? ":" : "",
                                     key, value);
    }
    return DT_OK;
}

void dt_options_describe(const dt_option_spec *table, char *out, size_t len) {
    options_text(table, out, len);
}
