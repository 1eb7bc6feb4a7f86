/* console.c — the simulated guest serial port of a running VM.
 *
 * Output is appended to console.output. A reader thread waits on console.input (a
 * FIFO created by the server; opened O_RDWR|O_NONBLOCK so that opening never blocks
 * and the reader never sees EOF when a writer goes away) and echoes what is typed,
 * like a getty prompt with local echo.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_internal.h"

struct sim_console {
    int out_fd;  /* -1: none */
    int in_fd;   /* -1: none */
    int wake[2]; /* self-pipe: a byte written to wake[1] stops the reader */
    pthread_t reader;
    int has_reader;
    int last_was_cr;
};

static void write_all(int fd, const char *buf, size_t len) {
    if (fd < 0) return;
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; /* a full disk loses serial output, as a real serial log would */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void write_str(int fd, const char *s) { write_all(fd, s, strlen(s)); }

/* Local echo with a tiny line discipline: Enter (CR, LF or CRLF) shows a new prompt. */
static void echo(sim_console *c, const char *buf, size_t len) {
    char out[8192];
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = buf[i];
        if (o + 16 > sizeof out) { write_all(c->out_fd, out, o); o = 0; }
        if (ch == '\n' && c->last_was_cr) { c->last_was_cr = 0; continue; }
        c->last_was_cr = ch == '\r';
        if (ch == '\r' || ch == '\n') {
            static const char prompt[] = "\r\nsim login: ";
            memcpy(out + o, prompt, sizeof prompt - 1);
            o += sizeof prompt - 1;
        } else {
            out[o++] = ch;
        }
    }
    write_all(c->out_fd, out, o);
}

static void *reader_main(void *arg) {
    sim_console *c = arg;
    char buf[4096];
    for (;;) {
        struct pollfd fds[2] = { { c->in_fd, POLLIN, 0 }, { c->wake[0], POLLIN, 0 } };
        int r = poll(fds, 2, -1);
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents) break;
        if (fds[0].revents & (POLLERR | POLLNVAL)) break;
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(c->in_fd, buf, sizeof buf);
            if (n > 0) echo(c, buf, (size_t)n);
            else if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        }
    }
    return NULL;
}

/* Starts `fn` on a small thread with every signal blocked (signals belong to the host). */
int sim_thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

static void close_fd(int *fd) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

sim_console *sim_console_open(const sim_config *cfg, char *msg, size_t msglen) {
    sim_console *c = calloc(1, sizeof *c);
    if (!c) { snprintf(msg, msglen, "out of memory"); return NULL; }
    c->out_fd = c->in_fd = c->wake[0] = c->wake[1] = -1;
    if (cfg->console_output) {
        c->out_fd = open(cfg->console_output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (c->out_fd < 0) {
            snprintf(msg, msglen, "cannot open console output %s: %s", cfg->console_output, strerror(errno));
            goto fail;
        }
    }
    if (cfg->console_input) {
        struct stat st;
        c->in_fd = open(cfg->console_input, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (c->in_fd < 0) {
            snprintf(msg, msglen, "cannot open console input %s: %s", cfg->console_input, strerror(errno));
            goto fail;
        }
        if (fstat(c->in_fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
            snprintf(msg, msglen, "console input %s is not a FIFO", cfg->console_input);
            goto fail;
        }
        if (pipe(c->wake) != 0) {
            snprintf(msg, msglen, "cannot create a pipe: %s", strerror(errno));
            goto fail;
        }
        fcntl(c->wake[0], F_SETFD, FD_CLOEXEC);
        fcntl(c->wake[1], F_SETFD, FD_CLOEXEC);
    }
    char banner[1024];
    snprintf(banner, sizeof banner,
             "Velocity sim firmware (%s)\r\nBooting %s (%d vCPU, %d MiB, %zu disk%s, %zu NIC%s)...\r\n"
             "Welcome to %s\r\n\r\nsim login: ",
             cfg->type, cfg->name, cfg->cpu_count, cfg->memory_mb, cfg->disk_count, cfg->disk_count == 1 ? "" : "s",
             cfg->nic_count, cfg->nic_count == 1 ? "" : "s", cfg->name);
    write_str(c->out_fd, banner);
    if (c->in_fd >= 0) {
        int rc = sim_thread_start(&c->reader, reader_main, c);
        if (rc != 0) {
            snprintf(msg, msglen, "cannot start the console reader: %s", strerror(rc));
            goto fail;
        }
        c->has_reader = 1;
    }
    return c;
fail:
    close_fd(&c->out_fd);
    close_fd(&c->in_fd);
    close_fd(&c->wake[0]);
    close_fd(&c->wake[1]);
    free(c);
    return NULL;
}

void sim_console_close(sim_console *c, const char *farewell) {
    if (!c) return;
    if (c->has_reader) {
        char b = 1;
        while (write(c->wake[1], &b, 1) < 0 && errno == EINTR) {}
        pthread_join(c->reader, NULL);
    }
    if (farewell) write_str(c->out_fd, farewell);
    close_fd(&c->out_fd);
    close_fd(&c->in_fd);
    close_fd(&c->wake[0]);
    close_fd(&c->wake[1]);
    free(c);
}
