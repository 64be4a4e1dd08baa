/*
 * poll_test.h: utilities shared by libpoll's tests.
 *
 * Tests reach the internals through netpoll.h (in ../src), the one
 * private header: forged epoll events, the timer body, the wake flag.
 */
#ifndef GPOLL_POLL_TEST_H
#define GPOLL_POLL_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netpoll.h"
#include "gort_poll.h"
#include "gort_sched.h"
#include "gort_test.h"

#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

/* An upper bound on a real-time duration, stretched for slow builds. */
static inline int64_t scaled(int64_t ns)
{
    return (int64_t)((double)ns * gtest_scale());
}

/* Installs the poller and runs fn(arg) as the main G. Tests on the
 * virtual clock use one P: time then moves only when that P has nothing
 * to run, and what happens at each instant is deterministic. */
static inline void run_main(gort_fn fn, void *arg, int procs, bool vclock)
{
    gort_config cfg = {.procs = procs, .virtual_clock = vclock};

    CHECK_EQ(gpoll_install(), 0);
    CHECK_EQ(gort_main(fn, arg, &cfg), 0);
}

static inline void make_pipe(int fds[2])
{
    CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

static inline void make_socketpair(int fds[2])
{
    CHECK_EQ(
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
        0);
}

static inline gpoll_desc *open_pd(int fd)
{
    gpoll_desc *pd = NULL;

    CHECK_EQ(gpoll_open(fd, &pd), 0);
    CHECK(pd != NULL);
    return pd;
}

/* What a user does to close a polled fd: unblock, deregister, close. */
static inline void close_pd(gpoll_desc *pd, int fd)
{
    gpoll_unblock(pd);
    gpoll_close(pd);
    CHECK_EQ(close(fd), 0);
}

static inline gpoll_state inspect(gpoll_desc *pd)
{
    gpoll_state st;

    memset(&st, 0, sizeof(st));
    gpoll_inspect(pd, &st);
    return st;
}

static inline int sem_state(gpoll_desc *pd, int mode)
{
    gpoll_state st = inspect(pd);

    return mode == GPOLL_READ ? st.rg : st.wg;
}

/* Yields until a G is parked on pd's mode semaphore; returns it. */
static inline gort_g *await_parked(gpoll_desc *pd, int mode)
{
    for (;;) {
        gpoll_state st = inspect(pd);
        gort_g *g = mode == GPOLL_READ ? st.rg_g : st.wg_g;
        if (g != NULL)
            return g;
        gort_yield();
    }
}

/* Polls (without blocking) until the mode semaphore reads PD_READY:
 * the edge-triggered event may be picked up by the scheduler's own poll
 * or by this one; either way it lands in the pollDesc. */
static inline void await_ready(gpoll_desc *pd, int mode)
{
    while (sem_state(pd, mode) != GPOLL_SEM_READY) {
        gort_glist l = {0};
        gpoll__netpoll(0, &l);
        gort_ready_list(&l);
        gort_yield();
    }
}

/* Fills a non-blocking fd's buffer until write says EAGAIN. */
static inline void fill(int fd)
{
    static char buf[65536];

    for (;;) {
        ssize_t n = write(fd, buf, sizeof(buf));
        if (n < 0) {
            CHECK_EQ(errno, EAGAIN);
            return;
        }
    }
}

/* Reads until EAGAIN or EOF; returns the byte count. */
static inline ssize_t drain(int fd)
{
    char buf[65536];
    ssize_t total = 0;

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            CHECK_EQ(errno, EAGAIN);
            return total;
        }
        if (n == 0)
            return total;
        total += n;
    }
}

static inline void put_byte(int fd)
{
    CHECK_EQ(write(fd, "x", 1), 1);
}

#endif
