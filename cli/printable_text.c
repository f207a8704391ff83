/* Text that model output can be shown as: see printable_text.h. */
#include "cli/printable_text.h"

#include <stdio.h>
#include <string.h>

#include "runtime/text.h"

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

void printable_text(const char *prefix, const char *raw, size_t n, char *out, size_t cap) {
    size_t o = (size_t)snprintf(out, cap, "%s", prefix);
    if (o >= cap) o = cap - 1;
    for (size_t i = 0; i < n;) {
        const int len = dt_text_char_len(raw + i, n - i);
        const char *src = len ? raw + i : replacement;
        const size_t out_len = len ? (size_t)len : sizeof replacement - 1;
        if (o + out_len >= cap) break;
        memcpy(out + o, src, out_len);
        o += out_len;
        i += len ? (size_t)len : 1;
    }
    out[o] = '\0';
}

/* Bytes a character that starts with lead takes (1 where it starts none). */
static int utf8_expected_len(unsigned char lead) {
    return (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3 : (lead & 0xf8) == 0xf0 ? 4 : 1;
}

void printable_stream_put(printable_stream *s, char byte, FILE *out) {
    s->pending[s->n++] = byte;
    while (s->n > 0) {
        const int want = utf8_expected_len((unsigned char)s->pending[0]);
        int open = s->n < want; /* a character still arriving? */
        for (int i = 1; open && i < s->n; i++) open = ((unsigned char)s->pending[i] & 0xc0) == 0x80;
        if (open) return;
        const int len = dt_text_char_len(s->pending, (size_t)s->n);
        if (len)
            fwrite(s->pending, 1, (size_t)len, out);
        else
            fputs(replacement, out);
        const int used = len ? len : 1;
        memmove(s->pending, s->pending + used, (size_t)(s->n - used));
        s->n -= used;
    }
}

void printable_stream_end(printable_stream *s, FILE *out) {
    for (; s->n > 0; s->n--) fputs(replacement, out);
}
