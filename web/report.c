/* report.html (report.h). The page template (web/page/dashboard.html)
 * names its three files on lines of their own; each such line is replaced
 * by the file's content, and the state document goes in just before the
 * script, which then renders it once instead of polling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/page_assets.h"
#include "web/report.h"

#define LINE_CSS    "<link rel=\"stylesheet\" href=\"dashboard.css\">"
#define LINE_CHARTS "<script src=\"chart.js\"></script>"
#define LINE_SCRIPT "<script src=\"dashboard.js\"></script>"

/* JSON inside <script>: a '<' only occurs in strings, where \u003c means
 * the same and can neither end the element nor open a comment ("<!--"
 * would change how the browser finds the end: peers choose their names). */
static int put_state(FILE *f, const char *json) {
    if (fputs("<script>window.DISTRO_STATE = ", f) < 0) return -1;
    for (const char *s = json; *s; s++)
        if (*s == '<' ? fputs("\\u003c", f) < 0 : fputc(*s, f) == EOF) return -1;
    return fputs(";</script>\n", f) < 0 ? -1 : 0;
}

static int put_inline(FILE *f, const char *open, const unsigned char *body, unsigned long len,
                      const char *close) {
    if (fputs(open, f) < 0 || fwrite(body, 1, len, f) != len || fputs(close, f) < 0) return -1;
    return 0;
}

/* The template line by line; 0 when every replacement was made. */
static int put_page(FILE *f, const char *state) {
    const char *page = (const char *)distro_page_html;
    int replaced = 0, bad = 0;
    for (const char *line = page; *line && !bad;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        size_t lead = strspn(line, " \t");
        const char *word = line + lead;
        size_t wlen = len - lead;
#define IS(text) (wlen == strlen(text) && memcmp(word, text, wlen) == 0)
        if (IS(LINE_CSS)) {
            bad = put_inline(f, "<style>\n", distro_page_css, distro_page_css_size, "</style>\n");
            replaced++;
        } else if (IS(LINE_CHARTS)) {
            bad = put_inline(f, "<script>\n", distro_chartjs, distro_chartjs_size, "</script>\n");
            replaced++;
        } else if (IS(LINE_SCRIPT)) {
            bad = put_state(f, state) ||
                  put_inline(f, "<script>\n", distro_page_js, distro_page_js_size, "</script>\n");
            replaced++;
        } else {
            bad = fwrite(line, 1, len, f) != len || fputc('\n', f) == EOF;
        }
#undef IS
        line = end ? end + 1 : line + len;
    }
    return bad ? -1 : replaced == 3 ? 0 : 1;
}

dt_status web_report_write(run_view *v, const char *path) {
    char *state = run_view_state_json(v);
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!state || !tmp) {
        free(state);
        free(tmp);
        return dt_error(DT_ERR_OOM, "report %s", path);
    }
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int rc = f ? put_page(f, state) : -1;
    if (f && fclose(f) != 0) rc = -1;
    dt_status st = DT_OK;
    if (!f)
        st = dt_error(DT_ERR_IO, "report %s: cannot create it", path);
    else if (rc > 0)
        st = dt_error(DT_ERR_FORMAT, "report: the embedded page lacks one of its asset lines");
    else if (rc < 0 || rename(tmp, path) != 0)
        st = dt_error(DT_ERR_IO, "report %s: cannot write it", path);
    if (st != DT_OK && f) remove(tmp);
    free(state);
    free(tmp);
    return st;
}
