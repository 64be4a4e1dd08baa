/*
 * sched_test.h: helpers shared by libsched's tests.
 *
 * The tests use gort_sched.h only: what they check is the documented
 * behaviour of the public surface, not how the scheduler gets there.
 */
#ifndef GORT_SCHED_TEST_H
#define GORT_SCHED_TEST_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gort_sched.h"
#include "gort_test.h"

#define US INT64_C(1000)
#define MS INT64_C(1000000)
#define SEC INT64_C(1000000000)

/* Runs fn(arg) as the main G on procs Ps and checks that it ran. */
static inline void run_main(gort_fn fn, void *arg, int procs, bool vclock)
{
    gort_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = procs;
    cfg.virtual_clock = vclock;
    CHECK_EQ(gort_main(fn, arg, &cfg), 0);
}

/* Sleeps the OS thread: for foreign threads, which have no G to park. */
static inline void thread_sleep(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / SEC), (long)(ns % SEC)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Joins a thread from a G, leaving the P to others while it waits. */
static inline void join_thread(pthread_t t)
{
    int rc;

    gort_entersyscall();
    rc = pthread_join(t, NULL);
    gort_exitsyscall();
    CHECK_EQ(rc, 0);
}

/* Sleeps a G in short steps until *flag is set; false on timeout. */
static inline bool wait_flag(atomic_int *flag, int64_t timeout)
{
    int64_t deadline = gort_nanotime_real() + timeout;

    while (!atomic_load(flag)) {
        if (gort_nanotime_real() > deadline)
            return false;
        gort_sleep(100 * US);
    }
    return true;
}

/*
 * A one-shot wake-up for one G, which a timer function can give: timer
 * functions must not park, so they cannot release a semaphore that may
 * hand off; they may call gort_ready.
 *
 * The waiter publishes itself in the commit function, after it has
 * left its M, then looks at fired again. Both sides use sequentially
 * consistent atomics, so either the firer sees the waiter and readies
 * it, or the waiter sees fired, takes itself back and does not sleep.
 */
typedef struct event {
    atomic_int fired;
    gort_g *_Atomic waiter;
} event;

static inline bool event_commit(gort_g *g, void *arg)
{
    event *e = arg;
    gort_g *expect = g;

    atomic_store(&e->waiter, g);
    if (!atomic_load(&e->fired))
        return true;
    /* Fired meanwhile. If the firer took g, it readies it: sleep. */
    return !atomic_compare_exchange_strong(&e->waiter, &expect, NULL);
}

static inline void event_wait(event *e)
{
    while (!atomic_load(&e->fired))
        gort_park(event_commit, e, GORT_WAIT_OTHER);
}

static inline void event_fire(event *e)
{
    gort_g *g;

    atomic_store(&e->fired, 1);
    g = atomic_exchange(&e->waiter, NULL);
    if (g != NULL)
        gort_ready(g);
}

/* Burns CPU without touching the scheduler. */
static inline void spin(int n)
{
    for (volatile int i = 0; i < n; i++)
        ;
}

#endif
