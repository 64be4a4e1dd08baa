/*
 * poll_example.c: one goroutine reads a pipe with a deadline while
 * another writes to it.
 *
 * The reader sets a 200 ms read deadline and waits; the writer sleeps
 * 50 ms and writes, so the first wait ends with data. The reader then
 * waits again with a fresh 100 ms deadline and nobody writes: that wait
 * ends in a timeout. Finally the main goroutine closes the descriptor
 * the way a net.Conn does (unblock, deregister, close), which a third
 * wait reports as "closing". One line per event on stderr.
 *
 * Build: cc -std=c11 poll_example.c -lgort_poll -lgort_sched -pthread
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gort_poll.h"
#include "gort_sched.h"

#define MS INT64_C(1000000)

static int fds[2];
static gpoll_desc *pd;
static int64_t start;
static gort_waitgroup done = GORT_WAITGROUP_INIT;
static uint32_t reader_waiting; /* semaphore: reader reached its 3rd wait */

static const char *poll_error(int err)
{
    switch (err) {
    case GPOLL_OK:
        return "ready";
    case GPOLL_ERR_CLOSING:
        return "closing";
    case GPOLL_ERR_TIMEOUT:
        return "i/o timeout";
    case GPOLL_ERR_NOT_POLLABLE:
        return "not pollable";
    }
    return "unknown";
}

static void logf_ms(const char *who, const char *what)
{
    fprintf(stderr, "%6.1f ms  %-6s %s\n", (double)(gort_now() - start) / MS,
            who, what);
}

/* Reads what is there, waiting for readiness only on EAGAIN, as a
 * net.Conn's Read does. Returns the byte count or a poll error < 0. */
static ssize_t read_with_deadline(char *buf, size_t len, int64_t timeout)
{
    int err;

    /* Deadlines are absolute; 0 means none. */
    gpoll_set_deadline(pd, timeout > 0 ? gort_now() + timeout : 0, GPOLL_READ);
    err = gpoll_reset(pd, GPOLL_READ);
    while (err == GPOLL_OK) {
        ssize_t n = read(fds[0], buf, len);
        if (n >= 0 || errno != EAGAIN)
            return n;
        err = gpoll_wait(pd, GPOLL_READ);
    }
    return -err;
}

static void report(ssize_t n, const char *buf)
{
    char line[128];

    if (n >= 0)
        snprintf(line, sizeof(line), "read %zd bytes: \"%.*s\"", n, (int)n,
                 buf);
    else
        snprintf(line, sizeof(line), "wait ended: %s", poll_error((int)-n));
    logf_ms("reader", line);
}

static void reader(void *arg)
{
    char buf[64];
    ssize_t n;

    (void)arg;
    logf_ms("reader", "waiting, deadline in 200 ms");
    n = read_with_deadline(buf, sizeof(buf), 200 * MS);
    report(n, buf);

    logf_ms("reader", "waiting, deadline in 100 ms, no writer");
    n = read_with_deadline(buf, sizeof(buf), 100 * MS);
    report(n, buf);

    logf_ms("reader", "waiting, no deadline, until closed");
    gort_sem_release(&reader_waiting, false);
    n = read_with_deadline(buf, sizeof(buf), 0);
    report(n, buf);
    gort_wg_done(&done);
}

static void writer(void *arg)
{
    (void)arg;
    gort_sleep(50 * MS);
    logf_ms("writer", "writing \"hello\"");
    if (write(fds[1], "hello", 5) != 5)
        logf_ms("writer", strerror(errno));
    gort_wg_done(&done);
}

static void main_g(void *arg)
{
    int err;

    (void)arg;
    start = gort_now();
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        perror("pipe2");
        return;
    }
    err = gpoll_open(fds[0], &pd);
    if (err < 0) {
        fprintf(stderr, "gpoll_open: %s\n", strerror(-err));
        return;
    }

    gort_wg_add(&done, 2);
    gort_go(reader, NULL);
    gort_go(writer, NULL);

    /* Close once the reader is in its last wait. */
    gort_sem_acquire(&reader_waiting);
    gort_sleep(20 * MS);
    logf_ms("main", "closing the read end");
    gpoll_unblock(pd);
    gort_wg_wait(&done);
    gpoll_close(pd);
    close(fds[0]);
    close(fds[1]);
    logf_ms("main", "done");
}

int main(void)
{
    int err = gpoll_install();

    if (err < 0) {
        fprintf(stderr, "gpoll_install: %s\n", strerror(-err));
        return 1;
    }
    err = gort_main(main_g, NULL, NULL);
    if (err < 0) {
        fprintf(stderr, "gort_main: %s\n", strerror(-err));
        return 1;
    }
    return 0;
}
