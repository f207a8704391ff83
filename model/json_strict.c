/* Strict JSON parsing (model/json_strict.h). */
#include <string.h>

#include "model/json_strict.h"

/* The first key that repeats within one object, anywhere below v. */
static const char *duplicate_key(const cJSON *v) {
    for (const cJSON *a = v ? v->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(v) && a->string)
            for (const cJSON *b = a->next; b; b = b->next)
                if (b->string && strcmp(a->string, b->string) == 0) return a->string;
        const char *inner = duplicate_key(a);
        if (inner) return inner;
    }
    return NULL;
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
    const char *dup = duplicate_key(root);
    if (dup) {
        dt_status st =
            dt_error(DT_ERR_FORMAT, "%s: key '%s' appears twice in one object", what, dup);
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return DT_OK;
}
