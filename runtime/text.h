/* Text from outside (peer names, device names, model output) checked or
 * made safe to print and to store in JSON: well-formed UTF-8 without control
 * characters. A terminal obeys escape sequences, and JSON readers refuse
 * malformed UTF-8. */
#ifndef DISTRO_RUNTIME_TEXT_H
#define DISTRO_RUNTIME_TEXT_H

#include <stddef.h>

#include "distro/error.h"

/* Bytes of the well-formed UTF-8 character at the start of s (1 to 4), or 0
 * when s starts with a NUL or with no well-formed character (overlong
 * forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8). Reads
 * no further than the first NUL. */
int dt_utf8_char_len(const char *s);

/* The same for the character at the start of s[0..n), which need not be
 * NUL-terminated, and 0 also for control characters: C0 (tab and newline
 * included), DEL and C1 (U+0080..U+009F). */
int dt_printable_char_len(const char *s, size_t n);

/* The same, but tab and newline count as printable: text of several lines
 * (a model's sample, an error message). */
int dt_text_char_len(const char *s, size_t n);

/* Byte offset of the first byte of s that starts no printable character,
 * or -1 when every character is printable. */
long dt_first_unprintable(const char *s);

/* DT_OK when every character of s is printable, else `bad` with "WHAT: byte
 * N (0xXX) starts no printable UTF-8 character ...": by position, never
 * echoing s, which may hold an escape sequence. */
dt_status dt_check_printable(dt_status bad, const char *what, const char *s);

/* src into dst[cap] (cap > 0), NUL-terminated: each byte that starts no
 * printable character becomes '?', and the copy ends before a character
 * that would not fit whole. */
void dt_printable_copy(char *dst, size_t cap, const char *src);

#endif
