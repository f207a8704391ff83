/* Small file helpers the readers and writers share. Writing a whole buffer
 * to a file descriptor: write(2) may write less than asked, or be
 * interrupted; the checkpoint and record writers need all or an error. */
#ifndef DISTRO_RUNTIME_FILE_IO_H
#define DISTRO_RUNTIME_FILE_IO_H

#include <stddef.h>

#include "distro/error.h"

/* 0 when every byte was written; -1 with errno set otherwise (EIO when the
 * file accepted nothing more). */
int dt_write_all(int fd, const void *data, size_t len);

/* A whole text file (a config, a scenario) of at most `limit` bytes into
 * *out, NUL-terminated (free() it). A larger file, or one holding a NUL
 * byte, is refused rather than cut, naming `what` and the path. */
dt_status dt_read_text(const char *path, const char *what, size_t limit, char **out);

/* The folder a file path is in ("." for a bare name, "/" for "/x"), for
 * checking it before anything is written there. */
void dt_path_folder(const char *path, char *dir, size_t len);

/* mkdir -p: every folder of path, then path itself; 0 on success, -1 with
 * errno set. */
int dt_make_dirs(const char *path);

/* Where the caches (OpenCL programs, probe outcomes, GEMM choices) live:
 * $DISTRO_CACHE_DIR, else $XDG_CACHE_HOME/distro/SUB, else
 * $HOME/.cache/distro/SUB. 0 when none applies or it does not fit. */
int dt_cache_dir(const char *sub, char *out, size_t len);

#endif
