/* Small file helpers the writers share. Writing a whole buffer to a file
 * descriptor: write(2) may write less than asked, or be interrupted; the
 * checkpoint and record writers need all or an error. */
#ifndef DISTRO_RUNTIME_FILE_IO_H
#define DISTRO_RUNTIME_FILE_IO_H

#include <stddef.h>

/* 0 when every byte was written; -1 with errno set otherwise (EIO when the
 * file accepted nothing more). */
int dt_write_all(int fd, const void *data, size_t len);

/* The folder a file path is in ("." for a bare name, "/" for "/x"), for
 * checking it before anything is written there. */
void dt_path_folder(const char *path, char *dir, size_t len);

#endif
