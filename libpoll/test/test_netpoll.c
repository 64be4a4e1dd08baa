/*
 * test_netpoll.c: the epoll backend: netpoll(delay), event decoding,
 * stale events, netpollBreak, and interrupted waits.
 */
#include <signal.h>
#include <sys/epoll.h>
#include <time.h>

#include "poll_test.h"

static int64_t real_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

TEST(netpoll_delay_to_epoll_timeout)
{
    CHECK_EQ(gpoll__netpoll_waitms(-1), -1);
    CHECK_EQ(gpoll__netpoll_waitms(INT64_MIN), -1);
    CHECK_EQ(gpoll__netpoll_waitms(0), 0);
    /* Up to a millisecond: one millisecond, never a busy poll. */
    CHECK_EQ(gpoll__netpoll_waitms(1), 1);
    CHECK_EQ(gpoll__netpoll_waitms(999999), 1);
    CHECK_EQ(gpoll__netpoll_waitms(MS), 1);
    /* Then whole milliseconds, rounded down. */
    CHECK_EQ(gpoll__netpoll_waitms(MS + 1), 1);
    CHECK_EQ(gpoll__netpoll_waitms(2 * MS - 1), 1);
    CHECK_EQ(gpoll__netpoll_waitms(2 * MS), 2);
    CHECK_EQ(gpoll__netpoll_waitms(1500 * MS), 1500);
    CHECK_EQ(gpoll__netpoll_waitms(INT64_C(1000000000000000) - 1), 999999999);
    /* Capped at about 11.5 days. */
    CHECK_EQ(gpoll__netpoll_waitms(INT64_C(1000000000000000)), 1000000000);
    CHECK_EQ(gpoll__netpoll_waitms(INT64_MAX), 1000000000);
}

TEST(netpoll_before_init_returns_nothing)
{
    gort_glist l = {0};

    CHECK(!gpoll__inited());
    gpoll__netpoll(-1, &l); /* must not block */
    CHECK_EQ(l.n, 0);
    gpoll__netpoll_break(); /* nothing to wake; must not stick */
    CHECK_EQ(gpoll__wake_sig(), 0);
}

TEST(netpoll_nonblocking_returns_at_once)
{
    gort_glist l = {0};
    int64_t t0;

    CHECK_EQ(gpoll_install(), 0);
    t0 = real_now();
    gpoll__netpoll(0, &l);
    CHECK_EQ(l.n, 0);
    CHECK_LT(real_now() - t0, scaled(500 * MS));
}

TEST(netpoll_timed_wait_waits)
{
    gort_glist l = {0};
    int64_t t0, dt;

    CHECK_EQ(gpoll_install(), 0);
    t0 = real_now();
    gpoll__netpoll(30 * MS, &l);
    dt = real_now() - t0;
    CHECK_EQ(l.n, 0);
    CHECK_GE(dt, 29 * MS);
    CHECK_LT(dt, scaled(5 * SEC));
}

/* ------------------------------------------------------------------ */
/* Event decoding: which semaphores an event readies. */

static int ready_modes(gpoll_desc *pd, uint32_t events)
{
    gort_glist l = {0};
    int modes = 0;
    uintptr_t seq = inspect(pd).fdseq;

    atomic_store(&pd->rg, GPOLL__PD_NIL);
    atomic_store(&pd->wg, GPOLL__PD_NIL);
    gpoll__netpoll_event(gpoll__tag_pack(pd, seq), events, 0, &l);
    CHECK_EQ(l.n, 0);
    if (sem_state(pd, GPOLL_READ) == GPOLL_SEM_READY)
        modes += GPOLL_READ;
    if (sem_state(pd, GPOLL_WRITE) == GPOLL_SEM_READY)
        modes += GPOLL_WRITE;
    return modes;
}

TEST(netpoll_event_readiness_by_kind)
{
    int fds[2];
    gpoll_desc *pd;

    make_pipe(fds);
    pd = open_pd(fds[0]);
    CHECK_EQ(ready_modes(pd, EPOLLIN), GPOLL_READ);
    CHECK_EQ(ready_modes(pd, EPOLLRDHUP), GPOLL_READ);
    CHECK_EQ(ready_modes(pd, EPOLLOUT), GPOLL_WRITE);
    CHECK_EQ(ready_modes(pd, EPOLLIN | EPOLLOUT), GPOLL_RW);
    CHECK_EQ(ready_modes(pd, EPOLLHUP), GPOLL_RW);
    CHECK_EQ(ready_modes(pd, EPOLLERR), GPOLL_RW);
    CHECK(inspect(pd).info & GPOLL_INFO_EVENT_ERR);
    CHECK_EQ(ready_modes(pd, EPOLLPRI), 0);
    CHECK_EQ(ready_modes(pd, 0), 0);
    CHECK(inspect(pd).info & GPOLL_INFO_EVENT_ERR);
    CHECK_EQ(ready_modes(pd, EPOLLOUT), GPOLL_WRITE);
    CHECK(!(inspect(pd).info & GPOLL_INFO_EVENT_ERR));
}

TEST(netpoll_stale_event_is_dropped)
{
    int fds[2];
    gpoll_desc *pd;
    uint64_t old;
    gort_glist l = {0};

    make_pipe(fds);
    pd = open_pd(fds[0]);
    old = gpoll__tag_pack(pd, inspect(pd).fdseq);
    gpoll_unblock(pd);
    gpoll_close(pd);
    CHECK(open_pd(fds[0]) == pd);

    /* An event harvested for the old registration arrives now: neither
     * readiness nor an error reaches the new user. */
    gpoll__netpoll_event(old, EPOLLIN | EPOLLOUT, 0, &l);
    gpoll__netpoll_event(old, EPOLLERR, 0, &l);
    CHECK_EQ(sem_state(pd, GPOLL_READ), GPOLL_SEM_NIL);
    CHECK_EQ(sem_state(pd, GPOLL_WRITE), GPOLL_SEM_NIL);
    CHECK(!(inspect(pd).info & GPOLL_INFO_EVENT_ERR));

    /* Its own events still count. */
    gpoll__netpoll_event(gpoll__tag_pack(pd, inspect(pd).fdseq), EPOLLIN, 0,
                         &l);
    CHECK_EQ(sem_state(pd, GPOLL_READ), GPOLL_SEM_READY);
}

TEST(netpoll_real_events_reach_descriptor)
{
    int fds[2];
    gpoll_desc *pd, *wpd;
    gort_glist l = {0};

    make_pipe(fds);
    pd = open_pd(fds[0]);
    wpd = open_pd(fds[1]);
    /* The write end is writable from the start. */
    gpoll__netpoll(0, &l);
    CHECK_EQ(sem_state(wpd, GPOLL_WRITE), GPOLL_SEM_READY);
    CHECK_EQ(sem_state(pd, GPOLL_READ), GPOLL_SEM_NIL);
    put_byte(fds[1]);
    gpoll__netpoll(100 * MS, &l);
    CHECK_EQ(sem_state(pd, GPOLL_READ), GPOLL_SEM_READY);
    /* Closing the write end is a hang-up for the reader. */
    CHECK_EQ(gpoll_reset(pd, GPOLL_READ), GPOLL_OK);
    gpoll_unblock(wpd);
    gpoll_close(wpd);
    close(fds[1]);
    gpoll__netpoll(100 * MS, &l);
    CHECK_EQ(sem_state(pd, GPOLL_READ), GPOLL_SEM_READY);
    CHECK_EQ(l.n, 0);
}

/* ------------------------------------------------------------------ */
/* netpollBreak. */

static unsigned long eventfd_count(int fd)
{
    char path[64], line[256];
    unsigned long count = ~0ul;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    f = fopen(path, "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "eventfd-count: %lx", &count) == 1)
            break;
    fclose(f);
    return count;
}

TEST(netpoll_break_writes_once_until_drained)
{
    gort_glist l = {0};

    CHECK_EQ(gpoll_install(), 0);
    CHECK_EQ(eventfd_count(gpoll__break_fd()), 0);
    gpoll__netpoll_break();
    gpoll__netpoll_break();
    gpoll__netpoll_break();
    CHECK_EQ(gpoll__wake_sig(), 1);
    CHECK_EQ(eventfd_count(gpoll__break_fd()), 1);

    /* A non-blocking poll leaves the break for a blocking one. */
    gpoll__netpoll(0, &l);
    CHECK_EQ(gpoll__wake_sig(), 1);
    CHECK_EQ(eventfd_count(gpoll__break_fd()), 1);

    /* A blocking poll returns at once, drains and clears the flag. */
    gpoll__netpoll(-1, &l);
    CHECK_EQ(l.n, 0);
    CHECK_EQ(gpoll__wake_sig(), 0);
    CHECK_EQ(eventfd_count(gpoll__break_fd()), 0);

    /* And the next break writes again. */
    gpoll__netpoll_break();
    CHECK_EQ(eventfd_count(gpoll__break_fd()), 1);
    gpoll__netpoll(5 * SEC, &l);
    CHECK_EQ(gpoll__wake_sig(), 0);
}

static _Atomic int poll_returned;

static void *blocking_poller(void *arg)
{
    gort_glist l = {0};

    (void)arg;
    gpoll__netpoll(-1, &l);
    atomic_store(&poll_returned, 1);
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
}

static void no_restart_handler(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: epoll_wait sees EINTR */
    CHECK_EQ(sigaction(sig, &sa, NULL), 0);
}

TEST(netpoll_break_wakes_blocked_poll)
{
    pthread_t th;
    struct timespec ts = {0, 50 * 1000 * 1000};

    CHECK_EQ(gpoll_install(), 0);
    no_restart_handler(SIGUSR1);
    CHECK_EQ(pthread_create(&th, NULL, blocking_poller, NULL), 0);
    nanosleep(&ts, NULL);

    /* An interrupted indefinite wait retries: it does not return. */
    CHECK_EQ(pthread_kill(th, SIGUSR1), 0);
    nanosleep(&ts, NULL);
    nanosleep(&ts, NULL);
    CHECK_EQ(atomic_load(&poll_returned), 0);

    gpoll__netpoll_break();
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(atomic_load(&poll_returned), 1);
    CHECK_EQ(gpoll__wake_sig(), 0);
}

static int64_t timed_poll_took;

static void *timed_poller(void *arg)
{
    gort_glist l = {0};
    int64_t t0 = real_now();

    (void)arg;
    gpoll__netpoll(20 * SEC, &l);
    timed_poll_took = real_now() - t0;
    CHECK_EQ(l.n, 0);
    return NULL;
}

TEST(netpoll_interrupted_timed_wait_returns_empty)
{
    pthread_t th;
    struct timespec ts = {0, 100 * 1000 * 1000};

    CHECK_EQ(gpoll_install(), 0);
    no_restart_handler(SIGUSR1);
    CHECK_EQ(pthread_create(&th, NULL, timed_poller, NULL), 0);
    nanosleep(&ts, NULL);
    /* The caller gets control back to recompute its delay. */
    CHECK_EQ(pthread_kill(th, SIGUSR1), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_LT(timed_poll_took, scaled(10 * SEC));
    /* Nothing was written to the break fd. */
    CHECK_EQ(gpoll__wake_sig(), 0);
}

TEST(netpoll_more_than_128_events)
{
    enum { N = 300 };
    static int fds[N][2];
    static gpoll_desc *pds[N];
    gort_glist l = {0};
    int ready = 0;

    for (int i = 0; i < N; i++) {
        make_pipe(fds[i]);
        pds[i] = open_pd(fds[i][0]);
        put_byte(fds[i][1]);
    }
    /* One call takes at most 128 events; the rest wait for the next. */
    gpoll__netpoll(0, &l);
    for (int i = 0; i < N; i++)
        ready += sem_state(pds[i], GPOLL_READ) == GPOLL_SEM_READY;
    CHECK_EQ(ready, 128);
    gpoll__netpoll(0, &l);
    gpoll__netpoll(0, &l);
    ready = 0;
    for (int i = 0; i < N; i++)
        ready += sem_state(pds[i], GPOLL_READ) == GPOLL_SEM_READY;
    CHECK_EQ(ready, N);
}
