/* A byte-level model's output as text that is safe to print on a terminal
 * and to store in JSON. */
#ifndef DISTRO_CLI_PRINTABLE_TEXT_H
#define DISTRO_CLI_PRINTABLE_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* out = prefix, then the n bytes of raw (NULs included) as well-formed
 * UTF-8 with newlines and tabs and no other control character (C0, DEL or
 * C1): each byte that starts no well-formed, printable character becomes
 * U+FFFD. Cut at cap - 1 bytes (cap > 0), never inside a character, and
 * NUL-terminated. */
void printable_text(const char *prefix, const char *raw, size_t n, char *out, size_t cap);

/* The same, a byte at a time, for text generated as it is printed: a
 * character is written once its last byte arrives (or U+FFFD once it cannot
 * become one). printable_stream_end writes what is left of an unfinished
 * character as U+FFFD. Start from {0}. */
typedef struct printable_stream {
    char pending[4];
    int n;
} printable_stream;
void printable_stream_put(printable_stream *s, char byte, FILE *out);
void printable_stream_end(printable_stream *s, FILE *out);

#endif
