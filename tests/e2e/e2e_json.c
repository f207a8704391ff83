/* e2e_json: a small JSON query tool for the end-to-end test scripts, so
 * they can assert on summary.json and the peers' JSON-lines logs without
 * depending on jq or python being installed.
 *
 *   e2e_json FILE PATH      the value(s) at PATH in the JSON document FILE
 *   e2e_json -l FILE PATH   FILE is JSON lines: PATH is applied to the array
 *                           of its lines; a line that is not JSON is an error
 *                           (a JSON log must stay parseable line by line)
 *
 * PATH is a sequence of
 *   .name        an object member
 *   [N]          an array element (N < 0 counts from the end)
 *   [*]          every element of an array (one output line each)
 *   [key=value]  every element whose member `key` prints as `value`
 * optionally followed by "|length" (the number of selected values, or the
 * length of a single selected array or object).
 *
 * Strings print raw, numbers as integers when integral (else %.17g), other
 * values as compact JSON; one value per line. Exit 0 when at least one value
 * was selected (or with |length), 1 when nothing matched, 2 on bad input. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n + 1 < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) free(buf);
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* The text a value prints as; malloc'd. */
static char *value_text(const cJSON *v) {
    char tmp[64];
    if (cJSON_IsString(v)) return strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x == floor(x) && fabs(x) < 9007199254740992.0)
            snprintf(tmp, sizeof tmp, "%.0f", x);
        else
            snprintf(tmp, sizeof tmp, "%.17g", x);
        return strdup(tmp);
    }
    return cJSON_PrintUnformatted(v);
}

/* Lines of JSON become one array; NULL (with a message) on a bad line. */
static cJSON *parse_lines(char *text, const char *path) {
    cJSON *arr = cJSON_CreateArray();
    int line = 0;
    for (char *s = text; s && *s;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        line++;
        if (strspn(s, " \t\r") != strlen(s)) {
            cJSON *o = cJSON_Parse(s);
            if (!o) {
                fprintf(stderr, "e2e_json: %s:%d is not JSON: %.200s\n", path, line, s);
                cJSON_Delete(arr);
                return NULL;
            }
            cJSON_AddItemToArray(arr, o);
        }
        s = nl ? nl + 1 : NULL;
    }
    return arr;
}

#define MAX_SEL 65536

typedef struct selection {
    const cJSON *v[MAX_SEL];
    int n;
} selection;

/* Applies one path step to every selected value. Returns 0, or 2 on a bad
 * path. */
static int step(selection *in, selection *out, const char **p) {
    out->n = 0;
    const char *s = *p;
    if (*s == '.') {
        s++;
        size_t len = strcspn(s, ".[|");
        char name[256];
        if (len == 0 || len >= sizeof name) return 2;
        memcpy(name, s, len);
        name[len] = '\0';
        for (int i = 0; i < in->n; i++) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(in->v[i], name);
            if (c && out->n < MAX_SEL) out->v[out->n++] = c;
        }
        *p = s + len;
        return 0;
    }
    if (*s != '[') return 2;
    const char *close = strchr(s, ']');
    if (!close) return 2;
    char inner[256];
    size_t len = (size_t)(close - s - 1);
    if (len == 0 || len >= sizeof inner) return 2;
    memcpy(inner, s + 1, len);
    inner[len] = '\0';
    *p = close + 1;
    char *eq = strchr(inner, '=');
    for (int i = 0; i < in->n; i++) {
        const cJSON *a = in->v[i];
        if (!cJSON_IsArray(a)) continue;
        int size = cJSON_GetArraySize(a);
        if (strcmp(inner, "*") == 0 || eq) {
            for (int k = 0; k < size && out->n < MAX_SEL; k++) {
                const cJSON *e = cJSON_GetArrayItem(a, k);
                if (eq) {
                    *eq = '\0';
                    const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, inner);
                    char *t = f ? value_text(f) : NULL;
                    bool match = t && strcmp(t, eq + 1) == 0;
                    free(t);
                    *eq = '=';
                    if (!match) continue;
                }
                out->v[out->n++] = e;
            }
        } else {
            char *end;
            long k = strtol(inner, &end, 10);
            if (*end) return 2;
            if (k < 0) k += size;
            if (k >= 0 && k < size && out->n < MAX_SEL)
                out->v[out->n++] = cJSON_GetArrayItem(a, (int)k);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    int lines = argc > 1 && strcmp(argv[1], "-l") == 0;
    if (argc != 3 + lines) {
        fprintf(stderr, "usage: e2e_json [-l] FILE PATH\n");
        return 2;
    }
    const char *file = argv[1 + lines], *path = argv[2 + lines];
    char *text = read_file(file);
    if (!text) {
        fprintf(stderr, "e2e_json: cannot read %s\n", file);
        return 2;
    }
    cJSON *root = lines ? parse_lines(text, file) : cJSON_Parse(text);
    free(text);
    if (!root) {
        if (!lines) fprintf(stderr, "e2e_json: %s is not JSON\n", file);
        return 2;
    }
    static selection a, b;
    selection *in = &a, *out = &b;
    in->v[0] = root;
    in->n = 1;
    const char *p = path;
    int length = 0, rc = 0;
    while (*p && rc == 0) {
        if (strcmp(p, "|length") == 0) {
            length = 1;
            break;
        }
        rc = step(in, out, &p);
        selection *t = in;
        in = out;
        out = t;
    }
    if (rc) {
        fprintf(stderr, "e2e_json: bad path '%s'\n", path);
        cJSON_Delete(root);
        return 2;
    }
    if (length) {
        int n = in->n;
        if (n == 1 && (cJSON_IsArray(in->v[0]) || cJSON_IsObject(in->v[0])))
            n = cJSON_GetArraySize(in->v[0]);
        printf("%d\n", n);
    } else {
        for (int i = 0; i < in->n; i++) {
            char *t = value_text(in->v[i]);
            printf("%s\n", t ? t : "");
            free(t);
        }
        rc = in->n > 0 ? 0 : 1;
    }
    cJSON_Delete(root);
    return rc;
}
