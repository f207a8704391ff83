/* test_text: runtime/text.c, the check and the copy that keep text from the
 * network (peer names, device names, reasons) printable: well-formed UTF-8
 * without C0, DEL or C1 controls; and error messages, which carry outside
 * text (a tensor name from a file, a path), made printable by dt_error. */
#include <stdio.h>
#include <string.h>

#include "runtime/text.h"
#include "tests/test_util.h"

static int failures;
#define CHECK(...) TEST_CHECK(failures, __VA_ARGS__)

static void first_unprintable(const char *s, long want) {
    const long got = dt_first_unprintable(s);
    CHECK(got == want, "dt_first_unprintable(\"%s\") = %ld, expected %ld", s, got, want);
}

static void copy(const char *src, size_t cap, const char *want) {
    char dst[65]; /* cap <= 64, and a byte past it that must stay 'Z' */
    memset(dst, 'Z', sizeof dst);
    dt_printable_copy(dst, cap, src);
    CHECK(strcmp(dst, want) == 0, "dt_printable_copy(\"%s\", cap %zu) = \"%s\", expected \"%s\"",
          src, cap, dst, want);
    CHECK(strlen(dst) < cap, "copy of \"%s\" overran cap %zu", src, cap);
    CHECK(dst[cap] == 'Z', "dt_printable_copy wrote past cap %zu", cap);
}

int main(void) {
    first_unprintable("", -1);
    first_unprintable("cpu:0 AMD EPYC", -1);
    first_unprintable("Zo\xc3\xab \xf0\x9f\x9a\x80 \xe2\x82\xac", -1); /* ë, rocket, euro */
    first_unprintable("\xc2\xa0", -1);                                 /* no-break space */
    first_unprintable("red\x1b[31m", 3);
    first_unprintable("tab\there", 3); /* a name is one line: tab and newline too */
    first_unprintable("nl\n", 2);
    first_unprintable("del\x7f", 3);
    first_unprintable("a\xc2\x9b", 1); /* C1 CSI */
    first_unprintable("\xff", 0);
    first_unprintable("ok\xe2\x82", 2);       /* truncated */
    first_unprintable("\xc0\xaf", 0);         /* overlong */
    first_unprintable("x\xed\xa0\x80", 1);    /* surrogate */
    first_unprintable("\xf4\x90\x80\x80", 0); /* past U+10FFFF */
    first_unprintable("\x80", 0);             /* lone continuation */

    CHECK(dt_check_printable(DT_ERR_FORMAT, "name", "Zo\xc3\xab") == DT_OK, "a UTF-8 name");
    CHECK(dt_check_printable(DT_ERR_FORMAT, "name", "red\x1b[31m") == DT_ERR_FORMAT &&
              strstr(dt_last_error(), "name: byte 3 (0x1b) starts no printable UTF-8") &&
              !strstr(dt_last_error(), "[31m"),
          "dt_check_printable: \"%s\"", dt_last_error());
    CHECK(dt_utf8_char_len("\xe2\x82\xac") == 3, "euro sign is 3 bytes");
    CHECK(dt_utf8_char_len("") == 0, "NUL starts no character");
    CHECK(dt_printable_char_len("\xe2\x82\xac", 2) == 0, "a character cut by n is not whole");
    CHECK(dt_printable_char_len("a", 0) == 0, "nothing in n = 0");

    copy("plain", 64, "plain");
    copy("a\x1b[2Jb", 64, "a?[2Jb");
    copy("\xff\xfe", 64, "??");
    copy("x\xc2\x9by", 64, "x??y");
    copy("\xe2\x82\xac\xe2\x82\xac", 5, "\xe2\x82\xac"); /* cut before a whole character */
    copy("\xe2\x82\xac", 3, "");
    copy("abc", 1, "");
    copy("abcdef", 4, "abc");

    /* dt_error: outside text in a message never brings control characters
     * or malformed UTF-8 along; tab, newline and UTF-8 stay. */
    dt_error(DT_ERR_FORMAT, "tensor \"%s\": bad", "a\x1b[2Jb\xc2\x9b\xff\n\tz\xc3\xab");
    CHECK(strcmp(dt_last_error(), "tensor \"a?[2Jb???\n\tz\xc3\xab\": bad") == 0,
          "dt_error kept \"%s\"", dt_last_error());
    dt_error_wrap(DT_ERR_FORMAT, "\x1b]0;title\x07: ");
    CHECK(strcmp(dt_last_error(), "?]0;title?: tensor \"a?[2Jb???\n\tz\xc3\xab\": bad") == 0,
          "dt_error_wrap kept \"%s\"", dt_last_error());
    /* A message cut inside a character at the buffer's end: the partial
     * character does not survive. */
    char long_text[1100];
    memset(long_text, 'a', 1021);
    strcpy(long_text + 1021, "\xe2\x82\xac\xe2\x82\xac");
    dt_error(DT_ERR_FORMAT, "%s", long_text);
    CHECK(dt_first_unprintable(dt_last_error()) == -1, "a cut message ends in a partial character");
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
