/* Process handling for `distro-cli run`. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/run_procs.h"

bool run_child_start(run_child *c, const char *exe, char *const argv[], char *const env[],
                     bool pipe_out, const char *out_path, const char *err_path) {
    memset(c, 0, sizeof *c);
    c->out_fd = -1;
    int fds[2] = {-1, -1};
    if (pipe_out && pipe(fds) != 0) return false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        if (pipe_out) close(fds[0]), close(fds[1]);
        return false;
    }
    if (pid == 0) {
        for (int i = 0; env && env[i]; i++) putenv(env[i]);
        if (pipe_out) {
            dup2(fds[1], STDOUT_FILENO);
            close(fds[0]);
            close(fds[1]);
        } else if (out_path) {
            int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) dup2(fd, STDOUT_FILENO), close(fd);
        }
        int fd = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, STDERR_FILENO), close(fd);
        execv(exe, argv);
        _exit(127);
    }
    c->pid = pid;
    if (pipe_out) {
        close(fds[1]);
        c->out_fd = fds[0];
        fcntl(c->out_fd, F_SETFL, fcntl(c->out_fd, F_GETFL) | O_NONBLOCK);
    }
    return true;
}

bool run_child_poll(run_child *c) {
    if (c->pid <= 0 || c->exited) return c->exited;
    int status = 0;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    if (r == c->pid) {
        c->exited = true;
        c->status = status;
    }
    return c->exited;
}

void run_child_kill(run_child *c, int sig) {
    if (c->pid > 0 && !run_child_poll(c)) kill(c->pid, sig);
}

void run_child_wait(run_child *c, double seconds) {
    if (c->pid <= 0) return;
    struct timespec pause = {0, 20 * 1000 * 1000};
    for (double waited = 0; waited < seconds && !run_child_poll(c); waited += 0.02)
        nanosleep(&pause, NULL);
    if (!run_child_poll(c)) {
        kill(c->pid, SIGKILL);
        int status = 0;
        waitpid(c->pid, &status, 0);
        c->exited = true;
        c->status = status;
    }
}

bool run_child_read_line(run_child *c, char *out, size_t cap) {
    for (;;) {
        char *nl = memchr(c->line, '\n', c->line_len);
        if (nl) {
            size_t n = (size_t)(nl - c->line);
            size_t k = n < cap - 1 ? n : cap - 1;
            memcpy(out, c->line, k);
            out[k] = '\0';
            memmove(c->line, nl + 1, c->line_len - n - 1);
            c->line_len -= n + 1;
            return true;
        }
        if (c->out_fd < 0) return false;
        if (c->line_len == sizeof c->line) c->line_len = 0; /* an absurd line: drop it */
        ssize_t r = read(c->out_fd, c->line + c->line_len, sizeof c->line - c->line_len);
        if (r <= 0) {
            if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(c->out_fd);
                c->out_fd = -1;
            }
            return false;
        }
        c->line_len += (size_t)r;
    }
}

void run_child_describe(const run_child *c, char *out, size_t cap) {
    if (!c->exited)
        snprintf(out, cap, "is still running");
    else if (WIFSIGNALED(c->status))
        snprintf(out, cap, "was killed by signal %d (%s)", WTERMSIG(c->status),
                 strsignal(WTERMSIG(c->status)));
    else if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 127)
        snprintf(out, cap, "exited with status 127 (could it be started at all?)");
    else if (WIFEXITED(c->status))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(c->status));
    else
        snprintf(out, cap, "ended with wait status %d", c->status);
}

int run_child_wait_fd(const run_child *c, double seconds) {
    struct pollfd p = {c->out_fd, POLLIN, 0};
    int ms = (int)(seconds * 1000.0);
    if (c->out_fd < 0) {
        struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
        return 0;
    }
    return poll(&p, 1, ms);
}
