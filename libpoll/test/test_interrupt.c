/*
 * test_interrupt.c: signals and the waits of host threads. A thread
 * marked interruptible (gort_set_interruptible) gets
 * GPOLL_ERR_INTERRUPTED back when a signal interrupts its wait, with
 * the pollDesc and the waiter count as if it had never waited; any
 * other thread waits on through signals.
 */
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "poll_test.h"

static struct {
    int fds[2];
    gpoll_desc *pd;
    int32_t baseline;
    bool mark;
    _Atomic int first;   /* the first wait's result, once it returns */
    _Atomic int second;  /* the second wait's */
    _Atomic int signals;
} t;

static void on_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&t.signals, 1);
}

/* Python's way: a handler without SA_RESTART. */
static void install_handler(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void *host_waiter(void *arg)
{
    (void)arg;
    if (t.mark)
        gort_set_interruptible(true);
    atomic_store(&t.first, gpoll_wait(t.pd, GPOLL_READ) + 1);
    /* The second wait, after the byte arrives, is an ordinary one. */
    if (atomic_load(&t.first) == GPOLL_ERR_INTERRUPTED + 1)
        atomic_store(&t.second, gpoll_wait(t.pd, GPOLL_READ) + 1);
    return NULL;
}

static void await_host_parked(void)
{
    int64_t limit = gort_nanotime_real() + scaled(10 * SEC);

    while (sem_state(t.pd, GPOLL_READ) != GPOLL_SEM_G) {
        CHECK_LT(gort_nanotime_real(), limit);
        pause_ms(1);
    }
}

static pthread_t start(bool mark)
{
    gort_config cfg = {.procs = 1};
    pthread_t th;

    memset(&t, 0, sizeof(t));
    t.mark = mark;
    install_handler();
    CHECK_EQ(gpoll_install(), 0);
    CHECK_EQ(gort_start(&cfg), 0);
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    t.baseline = gpoll_waiters();
    CHECK_EQ(pthread_create(&th, NULL, host_waiter, NULL), 0);
    await_host_parked();
    CHECK_EQ(gpoll_waiters(), t.baseline + 1);
    return th;
}

static void finish(pthread_t th)
{
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(gpoll_waiters(), t.baseline);
    close_pd(t.pd, t.fds[0]);
    CHECK_EQ(close(t.fds[1]), 0);
    gort_stop();
}

TEST(interruptible_host_wait_ends_on_a_signal)
{
    pthread_t th = start(true);
    int64_t limit = gort_nanotime_real() + scaled(10 * SEC);

    /* A signal that lands after the commit but before the thread is in
     * its futex wait runs the handler and leaves the wait to come
     * (as a signal just before any blocking call does): send again
     * until one interrupts it. */
    while (atomic_load(&t.first) == 0) {
        CHECK_LT(gort_nanotime_real(), limit);
        CHECK_EQ(pthread_kill(th, SIGUSR1), 0);
        pause_ms(20);
    }
    CHECK_EQ(atomic_load(&t.first), GPOLL_ERR_INTERRUPTED + 1);
    CHECK_GE(atomic_load(&t.signals), 1);

    /* The waiter took itself out: nothing is parked, nobody counted,
     * and its next wait parks and is woken by the byte as usual. */
    await_host_parked();
    CHECK_EQ(gpoll_waiters(), t.baseline + 1);
    put_byte(t.fds[1]);
    finish(th);
    CHECK_EQ(atomic_load(&t.second), GPOLL_OK + 1);
}

TEST(unmarked_host_wait_goes_on_through_signals)
{
    pthread_t th = start(false);

    for (int i = 0; i < 5; i++) {
        CHECK_EQ(pthread_kill(th, SIGUSR1), 0);
        pause_ms(10);
    }
    CHECK_EQ(atomic_load(&t.first), 0);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_G);
    put_byte(t.fds[1]);
    finish(th);
    CHECK_EQ(atomic_load(&t.first), GPOLL_OK + 1);
    CHECK_EQ(atomic_load(&t.signals), 5);
}
