/* The JSON and text parsers take NUL-terminated strings, as their callers
 * pass them (a peer copies WELCOME's config and appends a NUL; a file
 * reader appends one after fread). The fuzz input is copied into a fresh
 * heap block one byte longer, so ASan sees a read past the text as
 * overflow, and terminated. */
#ifndef DISTRO_TESTS_FUZZ_TEXT_H
#define DISTRO_TESTS_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* malloc'd; free() it. Aborts when out of memory. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    if (size) memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

#endif
