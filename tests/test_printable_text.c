/* test_printable_text: a byte-level model's sample as text for the terminal
 * and JSON (cli/printable_text.c). Printable ASCII, tab, newline and
 * well-formed UTF-8 pass through; C0 controls, DEL, C1 controls, NULs and
 * every byte of a malformed sequence (truncated, overlong, surrogate, past
 * U+10FFFF, a lone continuation byte) become U+FFFD; the cut at the
 * buffer's end never splits a character; nothing past raw's n bytes is
 * read. The streaming form (a byte at a time, as `sample` prints on a
 * terminal) writes exactly what the whole-buffer form does, on every case
 * and on random bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/printable_text.h"
#include "tests/test_util.h"

static int failures;
#define CHECK(...) TEST_CHECK(failures, __VA_ARGS__)

#define R "\xef\xbf\xbd" /* U+FFFD */

/* raw[0..n) through printable_stream into out (NUL-terminated). */
static void streamed(const char *raw, size_t n, char *out, size_t cap) {
    FILE *f = fmemopen(out, cap, "w");
    if (!f) {
        CHECK(0, "fmemopen");
        out[0] = '\0';
        return;
    }
    printable_stream s = {0};
    for (size_t i = 0; i < n; i++) printable_stream_put(&s, raw[i], f);
    printable_stream_end(&s, f);
    /* fmemopen terminates only what it wrote: terminate by the length. */
    const long len = fflush(f) == 0 ? ftell(f) : -1;
    fclose(f);
    CHECK(len >= 0 && (size_t)len < cap, "streamed output of %ld bytes", len);
    out[len >= 0 && (size_t)len < cap ? len : 0] = '\0';
}

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
    if (cap == 256) { /* uncut: the streaming form writes the same */
        char stream[256] = "P:";
        streamed(copy, n, stream + 2, sizeof stream - 2);
        CHECK(strcmp(stream, want) == 0, "%s, streamed: got \"%s\", expected \"%s\"", what, stream,
              want);
    }
    free(copy);
}
#define EXPECT(what, raw, want) expect(what, raw, sizeof raw - 1, 256, want)

/* Random bytes, mostly the ones that make or break UTF-8 characters. */
static void check_stream_matches(void) {
    static const unsigned char pool[] = {'a',  '\n', 0x00, 0x1b, 0x7f, 0x80, 0x9f, 0xa0, 0xbf,
                                         0xc0, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4,
                                         0xf5, 0xff, 0x82, 0xac, 0x9b, 0x90, 0x8f};
    rng r;
    rng_seed(&r, 77);
    int mismatches = 0;
    for (int t = 0; t < 20000; t++) {
        char raw[24], whole[256], stream[256];
        const size_t n = (size_t)rng_int(&r, 0, (int64_t)sizeof raw + 1);
        for (size_t i = 0; i < n; i++) raw[i] = (char)pool[rng_int(&r, 0, sizeof pool)];
        printable_text("", raw, n, whole, sizeof whole);
        streamed(raw, n, stream, sizeof stream);
        if (strcmp(whole, stream) != 0 && mismatches++ < 3)
            CHECK(0, "random case %d (%zu bytes): streamed \"%s\", whole \"%s\"", t, n, stream,
                  whole);
    }
    CHECK(mismatches == 0, "%d of 20000 random cases differ between the two forms", mismatches);
}

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
    check_stream_matches();
    printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
