/* Child processes of `distro-cli run`: the coordinator and the peers are
 * separate processes of this same binary, talking over loopback. */
#ifndef DISTRO_CLI_RUN_PROCS_H
#define DISTRO_CLI_RUN_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct run_child {
    pid_t pid;  /* 0: not running */
    int out_fd; /* read end of its stdout, or -1 when it goes to a file */
    char line[8192];
    size_t line_len;
    int status; /* wait status once it exited */
    bool exited;
} run_child;

/* Start `exe argv...` with extra environment (NULL-terminated "K=V"),
 * stdout to a pipe (pipe_out) or appended to out_path, stderr to err_path. */
bool run_child_start(run_child *c, const char *exe, char *const argv[], char *const env[],
                     bool pipe_out, const char *out_path, const char *err_path);
/* Reap if it exited (non-blocking). */
bool run_child_poll(run_child *c);
void run_child_kill(run_child *c, int sig);
/* Wait up to `seconds` for it to exit; SIGKILL after that. */
void run_child_wait(run_child *c, double seconds);
/* How it ended, for people: "exited with status 1", "was killed by
 * signal 9 (Killed)", ... */
void run_child_describe(const run_child *c, char *out, size_t cap);
/* Wait up to `seconds` for its piped stdout to have something to read (or
 * just sleep that long when it has none); > 0 when it has. */
int run_child_wait_fd(const run_child *c, double seconds);
/* Next complete line of its piped stdout, if any (non-blocking). */
bool run_child_read_line(run_child *c, char *out, size_t cap);

#endif
