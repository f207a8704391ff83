/* Strict JSON parsing (model/json_strict.h). */
#include <stdlib.h>
#include <string.h>

#include "model/json_strict.h"
#include "model/safetensors_common.h"

/* The first key that repeats within one object, anywhere below v, into
 * *dup. Each object's keys are sorted (st_first_duplicate), not compared
 * pairwise: a config or checkpoint header of 160k keys took 42 s that way.
 * Returns 0, or -1 out of memory. */
static int duplicate_key(const cJSON *v, const char **dup) {
    int n = 0;
    for (const cJSON *a = v ? v->child : NULL; a; a = a->next) n++;
    if (cJSON_IsObject(v) && n >= 2) {
        const char **keys = malloc((size_t)n * sizeof *keys);
        if (!keys) return -1;
        int i = 0;
        for (const cJSON *a = v->child; a; a = a->next) keys[i++] = a->string ? a->string : "";
        *dup = st_first_duplicate(keys, n);
        free(keys);
        if (*dup) return 0;
    }
    for (const cJSON *a = v ? v->child : NULL; a && !*dup; a = a->next)
        if (duplicate_key(a, dup) != 0) return -1;
    return 0;
}

dt_status json_parse_strict(const char *text, const char *what, cJSON **out) {
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        return dt_error(DT_ERR_FORMAT, "%s: invalid JSON near '%.24s'", what, at ? at : "");
    }
    while (end && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    if (end && *end) {
        cJSON_Delete(root);
        return dt_error(DT_ERR_FORMAT, "%s: text after the JSON value: '%.24s'", what, end);
    }
    const char *dup = NULL;
    if (duplicate_key(root, &dup) != 0) {
        cJSON_Delete(root);
        return dt_error(DT_ERR_OOM, "%s: out of memory checking its keys", what);
    }
    if (dup) {
        dt_status st =
            dt_error(DT_ERR_FORMAT, "%s: key '%s' appears twice in one object", what, dup);
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return DT_OK;
}
