/* For parsers whose only entry point opens a path (safetensors, llm.c
 * shards, scenario files): the fuzz input written to an anonymous
 * in-memory file, reachable as /proc/self/fd/N. The library is fuzzed
 * through its real open path, and nothing is left on disk when a run is
 * killed. */
#ifndef DISTRO_TESTS_FUZZ_FILE_H
#define DISTRO_TESTS_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>

/* A path whose file now holds exactly data[0..size); the same path every
 * call, its previous content replaced. Aborts if the file cannot be made. */
const char *fuzz_file_path(const uint8_t *data, size_t size);

#endif
