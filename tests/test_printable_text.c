/* test_printable_text: a byte-level model's sample as text for the terminal
 * and JSON (cli/printable_text.c). Printable ASCII, tab, newline and
 * well-formed UTF-8 pass through; C0 controls, DEL, C1 controls, NULs and
 * every byte of a malformed sequence (truncated, overlong, surrogate, past
 * U+10FFFF, a lone continuation byte) become U+FFFD; the cut at the
 * buffer's end never splits a character; nothing past raw's n bytes is
 * read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/printable_text.h"
#include "tests/test_util.h"

static int failures;
#define CHECK(...) TEST_CHECK(failures, __VA_ARGS__)

#define R "\xef\xbf\xbd" /* U+FFFD */

static void expect(const char *what, const char *raw, size_t n, size_t cap, const char *want) {
    /* raw in a buffer of exactly n bytes, so a read past it is a heap
     * overflow that the sanitizers and valgrind see. */
    char *copy = malloc(n ? n : 1), out[256];
    if (!copy) {
        CHECK(0, "out of memory");
        return;
    }
    memcpy(copy, raw, n);
    printable_text("P:", copy, n, out, cap);
    CHECK(strcmp(out, want) == 0, "%s: got \"%s\", expected \"%s\"", what, out, want);
    free(copy);
}
#define EXPECT(what, raw, want) expect(what, raw, sizeof raw - 1, 256, want)

int main(void) {
    EXPECT("ASCII, tab, newline", "Romeo,\tJuliet\n~", "P:Romeo,\tJuliet\n~");
    EXPECT("NUL in the middle", "a\0b", "P:a" R "b");
    EXPECT("an escape sequence", "\x1b[31mred", "P:" R "[31mred");
    EXPECT("carriage return, bell, DEL", "a\r\a\x7f", "P:a" R R R);
    EXPECT("C1 controls", "\xc2\x80\xc2\x9b\xc2\x9f", "P:" R R R R R R);
    EXPECT("no-break space (first past C1)", "\xc2\xa0", "P:\xc2\xa0");
    EXPECT("euro sign, emoji", "\xe2\x82\xac\xf0\x9f\x98\x80", "P:\xe2\x82\xac\xf0\x9f\x98\x80");
    EXPECT("a truncated character, then ASCII", "\xe2\x82x", "P:" R R "x");
    EXPECT("a lone continuation byte", "\x80", "P:" R);
    EXPECT("overlong slash", "\xc0\xaf", "P:" R R);
    EXPECT("UTF-16 surrogate", "\xed\xa0\x80", "P:" R R R);
    EXPECT("past U+10FFFF", "\xf4\x90\x80\x80", "P:" R R R R);
    EXPECT("0xff", "\xff", "P:" R);
    /* A well-formed lead byte whose continuation lies past n (here the NUL
     * terminator of the literal, which n leaves out). */
    expect("a character cut by n", "\xe2\x82\xac", 2, 256, "P:" R R);
    /* cap 9: "P:" + two euro signs is 8 bytes and fits; a third would not,
     * nor would it be split. */
    expect("cut before a character", "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9, 9,
           "P:\xe2\x82\xac\xe2\x82\xac");
    expect("cut before a replacement", "ab\x01", 3, 6, "P:ab");
    expect("cap 1", "abc", 3, 1, "");
    expect("nothing sampled", "", 0, 256, "P:");
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
