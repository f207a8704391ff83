/* Checked and printable text: see text.h. */
#include "runtime/text.h"

#include <string.h>

int dt_utf8_char_len(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = *p;
    int extra;
    unsigned min;
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0)
        extra = 1, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
        extra = 2, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
        extra = 3, min = 0x10000, c &= 0x07;
    else
        return 0;
    for (int i = 1; i <= extra; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) return 0;
    return 1 + extra;
}

int dt_printable_char_len(const char *s, size_t n) {
    if (n == 0) return 0;
    const unsigned char c = (unsigned char)s[0];
    if (c < 0x80) return c >= 0x20 && c < 0x7f; /* C0 controls and DEL: 0 */
    /* dt_utf8_char_len reads up to a NUL: never past the n bytes. */
    char ch[5] = {0};
    memcpy(ch, s, n < 4 ? n : 4);
    const int len = dt_utf8_char_len(ch);
    /* C1 controls (U+0080..U+009F: C2 80..C2 9F) are terminal controls too. */
    if (len == 2 && c == 0xc2 && (unsigned char)ch[1] < 0xa0) return 0;
    return len;
}

int dt_text_char_len(const char *s, size_t n) {
    if (n > 0 && (s[0] == '\n' || s[0] == '\t')) return 1;
    return dt_printable_char_len(s, n);
}

long dt_first_unprintable(const char *s) {
    const size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        const int len = dt_printable_char_len(s + i, n - i);
        if (!len) return (long)i;
        i += (size_t)len;
    }
    return -1;
}

dt_status dt_check_printable(dt_status bad, const char *what, const char *s) {
    const long at = dt_first_unprintable(s);
    if (at < 0) return DT_OK;
    return dt_error(bad,
                    "%s: byte %ld (0x%02x) starts no printable UTF-8 character (control "
                    "characters and malformed UTF-8 are refused)",
                    what, at, (unsigned)(unsigned char)s[at]);
}

void dt_printable_copy(char *dst, size_t cap, const char *src) {
    const size_t n = strlen(src);
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const int len = dt_printable_char_len(src + i, n - i);
        const size_t out_len = len ? (size_t)len : 1;
        if (o + out_len >= cap) break;
        if (len)
            memcpy(dst + o, src + i, out_len);
        else
            dst[o] = '?';
        o += out_len;
        i += out_len;
    }
    dst[o] = '\0';
}
