/*
 * test_scenarios.c: situations real pollers have got wrong.
 */
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include "poll_test.h"

static int64_t real_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void join_thread(pthread_t th)
{
    gort_entersyscall();
    CHECK_EQ(pthread_join(th, NULL), 0);
    gort_exitsyscall();
}

/* ------------------------------------------------------------------ */
/* An fd number reused while a G was parked on the old one. */

static struct {
    gpoll_desc *pd;
    int result;
    gort_waitgroup wg;
} fr;

static void fr_reader(void *arg)
{
    gpoll_desc *pd = arg;

    fr.result = gpoll_wait(pd, GPOLL_READ);
    gort_wg_done(&fr.wg);
}

static void fd_reuse_body(void *arg)
{
    int a[2], b[2], num, keep;
    gpoll_desc *old, *pd;
    uint64_t old_tag;
    gort_glist l = {0};

    (void)arg;
    make_pipe(a);
    num = a[0];
    old = open_pd(num);
    old_tag = gpoll__tag_pack(old, inspect(old).fdseq);
    gort_wg_add(&fr.wg, 1);
    CHECK_EQ(gort_go(fr_reader, old), 0);
    await_parked(old, GPOLL_READ);

    /* Close as a user of the fd does: evict the waiters, let them go,
     * then deregister and close. */
    gpoll_unblock(old);
    gort_wg_wait(&fr.wg);
    CHECK_EQ(fr.result, GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_waiters(), 0);
    gpoll_close(old);
    /* A second reference keeps the old pipe alive, so that its writer
     * can still make it readable after the number is gone. */
    keep = dup(a[0]);
    CHECK_GE(keep, 0);
    CHECK_EQ(close(a[0]), 0);

    /* The number comes back for a new pipe, on the same descriptor. */
    make_pipe(b);
    if (b[0] != num) {
        CHECK_EQ(dup3(b[0], num, O_CLOEXEC), num);
        close(b[0]);
        b[0] = num;
    }
    pd = open_pd(num);
    CHECK(pd == old);
    CHECK_NE(inspect(pd).fdseq, gpoll__tag_value(old_tag));

    /* The old pipe's writer is still there; its data and any event in
     * flight for the old registration must not reach the new one. */
    put_byte(a[1]);
    gpoll__netpoll_event(old_tag, EPOLLIN | EPOLLHUP, 0, &l);
    gpoll__netpoll(0, &l);
    CHECK_EQ(l.n, 0);
    CHECK_EQ(sem_state(pd, GPOLL_READ), GPOLL_SEM_NIL);

    /* Its own events do. */
    fr.result = -1;
    gort_wg_add(&fr.wg, 1);
    CHECK_EQ(gort_go(fr_reader, pd), 0);
    await_parked(pd, GPOLL_READ);
    put_byte(b[1]);
    gort_wg_wait(&fr.wg);
    CHECK_EQ(fr.result, GPOLL_OK);
    CHECK_EQ(drain(num), 1);
    CHECK_EQ(drain(keep), 1);
}

TEST(scenario_fd_reuse_old_waiter_gets_closing)
{
    run_main(fd_reuse_body, NULL, 2, false);
}

/* ------------------------------------------------------------------ */
/* A million waits, ended by deadline or close, leave the waiter count
 * at its baseline; then a single waiter is still woken by its event. */

enum { MW_WORKERS = 4, MW_TOTAL = 1000000 };

typedef struct mw_worker {
    int fds[2];
    gpoll_desc *_Atomic pd;
    uint32_t go;   /* worker -> closer: about to wait */
    uint32_t done; /* closer -> worker: unblocked */
    int64_t timeouts, closings;
} mw_worker;

static mw_worker mw[MW_WORKERS];
static gort_waitgroup mw_wg;
static int32_t mw_base;

/* Unblocks its worker's descriptor once the worker is parked on it. */
static void mw_closer(void *arg)
{
    mw_worker *w = arg;

    for (int i = 1; i < MW_TOTAL / MW_WORKERS; i += 2) {
        gpoll_desc *pd;
        gort_sem_acquire(&w->go);
        pd = atomic_load(&w->pd);
        while (sem_state(pd, GPOLL_READ) != GPOLL_SEM_G)
            gort_yield();
        gpoll_unblock(pd);
        gort_sem_release(&w->done, false);
    }
    gort_wg_done(&mw_wg);
}

static void mw_worker_fn(void *arg)
{
    mw_worker *w = arg;

    for (int i = 0; i < MW_TOTAL / MW_WORKERS; i++) {
        gpoll_desc *pd = atomic_load(&w->pd);
        int r;

        if (i % 2 == 0) {
            /* Ends by deadline: virtual time moves only once every G
             * is blocked, so this G parks before the timer fires. */
            gpoll_set_deadline(pd, gort_now() + 1000 + i % 7, GPOLL_READ);
            r = gpoll_wait(pd, GPOLL_READ);
            CHECK_EQ(r, GPOLL_ERR_TIMEOUT);
            gpoll_set_deadline(pd, 0, GPOLL_READ);
            w->timeouts++;
            continue;
        }
        /* Ends by close, with a deadline pending that must not fire
         * into the reused descriptor. */
        gpoll_set_deadline(pd, gort_now() + SEC, GPOLL_READ);
        gort_sem_release(&w->go, false);
        r = gpoll_wait(pd, GPOLL_READ);
        CHECK_EQ(r, GPOLL_ERR_CLOSING);
        gort_sem_acquire(&w->done);
        gpoll_close(pd);
        atomic_store(&w->pd, open_pd(w->fds[0]));
        w->closings++;
    }
    gort_wg_done(&mw_wg);
}

static void mw_single_reader(void *arg)
{
    mw_worker *w = arg;

    CHECK_EQ(gpoll_wait(atomic_load(&w->pd), GPOLL_READ), GPOLL_OK);
    gort_wg_done(&mw_wg);
}

static void million_body(void *arg)
{
    (void)arg;
    mw_base = gpoll_waiters();
    for (int i = 0; i < MW_WORKERS; i++) {
        make_pipe(mw[i].fds);
        atomic_store(&mw[i].pd, open_pd(mw[i].fds[0]));
    }
    gort_wg_add(&mw_wg, 2 * MW_WORKERS);
    for (int i = 0; i < MW_WORKERS; i++) {
        CHECK_EQ(gort_go(mw_worker_fn, &mw[i]), 0);
        CHECK_EQ(gort_go(mw_closer, &mw[i]), 0);
    }
    gort_wg_wait(&mw_wg);

    {
        int64_t waits = 0;
        for (int i = 0; i < MW_WORKERS; i++)
            waits += mw[i].timeouts + mw[i].closings;
        CHECK_EQ(waits, MW_TOTAL);
    }
    CHECK_EQ(gpoll_waiters(), mw_base);

    /* One more waiter: its event still wakes it. */
    gort_wg_add(&mw_wg, 1);
    CHECK_EQ(gort_go(mw_single_reader, &mw[0]), 0);
    await_parked(atomic_load(&mw[0].pd), GPOLL_READ);
    CHECK_EQ(gpoll_waiters(), mw_base + 1);
    put_byte(mw[0].fds[1]);
    gort_wg_wait(&mw_wg);
    CHECK_EQ(gpoll_waiters(), mw_base);
}

TEST(scenario_million_waits_keep_waiter_count)
{
    run_main(million_body, NULL, 1, true);
}

/* ------------------------------------------------------------------ */
/* A signal every 10 ms while the poller blocks: a 200 ms timer still
 * fires on time. */

static _Atomic int signals;

static void count_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&signals, 1);
}

static struct {
    int fds[2];
    gpoll_desc *pd;
    int result;
    int64_t took;
    gort_waitgroup wg;
} ss;

static void ss_deadline_reader(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    gpoll_set_deadline(ss.pd, t0 + 200 * MS, GPOLL_READ);
    ss.result = gpoll_wait(ss.pd, GPOLL_READ);
    ss.took = gort_now() - t0;
    gort_wg_done(&ss.wg);
}

static void storm_body(void *arg)
{
    struct sigaction sa;
    struct itimerval it = {{0, 10000}, {0, 10000}};
    struct itimerval off = {{0, 0}, {0, 0}};
    int64_t t0, slept;

    (void)arg;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: blocked syscalls see EINTR */
    CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);
    CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);

    make_pipe(ss.fds);
    ss.pd = open_pd(ss.fds[0]);
    gort_wg_add(&ss.wg, 1);
    CHECK_EQ(gort_go(ss_deadline_reader, NULL), 0);

    t0 = gort_now();
    gort_sleep(200 * MS);
    slept = gort_now() - t0;
    gort_wg_wait(&ss.wg);
    CHECK_EQ(setitimer(ITIMER_REAL, &off, NULL), 0);

    CHECK_GE(slept, 200 * MS);
    CHECK_LT(slept, 200 * MS + scaled(400 * MS));
    CHECK_EQ(ss.result, GPOLL_ERR_TIMEOUT);
    CHECK_GE(ss.took, 200 * MS);
    CHECK_LT(ss.took, 200 * MS + scaled(400 * MS));
    /* The storm did happen. */
    CHECK_GE(atomic_load(&signals), 5);
}

TEST(scenario_signal_storm_timer_fires_on_time)
{
    run_main(storm_body, NULL, 1, false);
}

/* ------------------------------------------------------------------ */
/* The peer writes, then shuts down its write side, while a reader is
 * parked: the data is read, then end of stream; writing still works. */

static struct {
    int fds[2];
    gpoll_desc *pd;
    char got[64];
    ssize_t n;
    bool eof;
    gort_waitgroup wg;
} ps;

/* Reads like a net.Conn: try, and wait only on EAGAIN. */
static ssize_t conn_read(char *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(ps.fds[0], buf, len);
        if (n >= 0)
            return n;
        CHECK_EQ(errno, EAGAIN);
        CHECK_EQ(gpoll_wait(ps.pd, GPOLL_READ), GPOLL_OK);
    }
}

static void ps_reader(void *arg)
{
    char buf[64];
    ssize_t n;

    (void)arg;
    CHECK_EQ(gpoll_reset(ps.pd, GPOLL_READ), GPOLL_OK);
    while ((n = conn_read(buf, sizeof(buf))) > 0) {
        CHECK_LE(ps.n + n, (ssize_t)sizeof(ps.got));
        memcpy(ps.got + ps.n, buf, (size_t)n);
        ps.n += n;
    }
    ps.eof = true;
    gort_wg_done(&ps.wg);
}

static void shutdown_body(void *arg)
{
    char buf[16];

    (void)arg;
    make_socketpair(ps.fds);
    ps.pd = open_pd(ps.fds[0]);
    gort_wg_add(&ps.wg, 1);
    CHECK_EQ(gort_go(ps_reader, NULL), 0);
    await_parked(ps.pd, GPOLL_READ);

    CHECK_EQ(write(ps.fds[1], "hello", 5), 5);
    CHECK_EQ(shutdown(ps.fds[1], SHUT_WR), 0);
    gort_wg_wait(&ps.wg);
    CHECK(ps.eof);
    CHECK_EQ(ps.n, 5);
    CHECK(memcmp(ps.got, "hello", 5) == 0);

    /* Half-closed, not closed: our side can still write. */
    CHECK_EQ(gpoll_reset(ps.pd, GPOLL_WRITE), GPOLL_OK);
    CHECK_EQ(write(ps.fds[0], "back", 4), 4);
    CHECK_EQ(read(ps.fds[1], buf, sizeof(buf)), 4);
    CHECK(memcmp(buf, "back", 4) == 0);
    CHECK(!(inspect(ps.pd).info & GPOLL_INFO_EVENT_ERR));
}

TEST(scenario_peer_shutdown_data_then_eof)
{
    run_main(shutdown_body, NULL, 2, false);
}

static void shutdown_only_body(void *arg)
{
    (void)arg;
    make_socketpair(ps.fds);
    ps.pd = open_pd(ps.fds[0]);
    gort_wg_add(&ps.wg, 1);
    CHECK_EQ(gort_go(ps_reader, NULL), 0);
    await_parked(ps.pd, GPOLL_READ);
    /* No data at all: the peer shutdown alone (EPOLLRDHUP) must wake the
     * reader to see end of stream. */
    CHECK_EQ(shutdown(ps.fds[1], SHUT_WR), 0);
    gort_wg_wait(&ps.wg);
    CHECK(ps.eof);
    CHECK_EQ(ps.n, 0);
}

TEST(scenario_peer_shutdown_wakes_reader_without_data)
{
    run_main(shutdown_only_body, NULL, 2, false);
}

/* ------------------------------------------------------------------ */
/* Deadlines set on a parked reader from other threads, in a tight loop,
 * for seconds, with timers firing meanwhile. */

static struct {
    int fds[2];
    gpoll_desc *pd;
    _Atomic bool stop;
    _Atomic int64_t timeouts, reads, sets;
    gort_waitgroup wg;
} ds;

static void ds_reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&ds.stop)) {
        int r = gpoll_wait(ds.pd, GPOLL_READ);
        if (r == GPOLL_OK) {
            drain(ds.fds[0]);
            atomic_fetch_add(&ds.reads, 1);
        } else {
            CHECK_EQ(r, GPOLL_ERR_TIMEOUT);
            atomic_fetch_add(&ds.timeouts, 1);
            /* The deadline stays expired until a setter moves it. */
            gort_yield();
        }
    }
    gort_wg_done(&ds.wg);
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* One round of the setter loop: a random deadline of a random kind. */
static void ds_set_one(uint32_t *seed)
{
    uint32_t r = xorshift(seed);
    int64_t now = gort_now();
    int64_t d;
    int mode = (r >> 8) % 3 == 0 ? GPOLL_RW : GPOLL_READ;

    switch (r % 8) {
    case 0:
        d = 0;
        break;
    case 1:
        d = now - 1;
        break;
    case 2:
        d = now + SEC;
        break;
    default:
        /* Soon: many of these fire while the setters keep going. */
        d = now + (int64_t)((r >> 12) % 2000) * 1000;
        break;
    }
    gpoll_set_deadline(ds.pd, d, mode);
    if ((r & 0x3ff) == 0)
        put_byte(ds.fds[1]);
    atomic_fetch_add(&ds.sets, 1);
}

static void *ds_thread_setter(void *arg)
{
    uint32_t seed = 0x9e3779b9u;
    int64_t until = real_now() + 2 * SEC;

    (void)arg;
    while (real_now() < until)
        ds_set_one(&seed);
    return NULL;
}

static void ds_g_setter(void *arg)
{
    uint32_t seed = 0x7f4a7c15u;
    int64_t until = real_now() + 2 * SEC;

    (void)arg;
    while (real_now() < until) {
        ds_set_one(&seed);
        /* Let the reader and the timers have this P now and then. */
        if ((seed & 0xf) == 0)
            gort_yield();
    }
    gort_wg_done(&ds.wg);
}

static void storm_deadlines_body(void *arg)
{
    pthread_t th;
    int64_t t0;

    (void)arg;
    make_pipe(ds.fds);
    ds.pd = open_pd(ds.fds[0]);
    gort_wg_add(&ds.wg, 2);
    CHECK_EQ(gort_go(ds_reader, NULL), 0);
    CHECK_EQ(gort_go(ds_g_setter, NULL), 0);
    CHECK_EQ(pthread_create(&th, NULL, ds_thread_setter, NULL), 0);
    join_thread(th);

    /* Stop, then a last deadline: the reader must be woken by it (or
     * by data), not left parked by a lost wake-up. */
    atomic_store(&ds.stop, true);
    t0 = gort_now();
    gpoll_set_deadline(ds.pd, gort_now() + 20 * MS, GPOLL_RW);
    gort_wg_wait(&ds.wg);
    CHECK_LT(gort_now() - t0, scaled(5 * SEC));
    CHECK_GT(atomic_load(&ds.sets), 1000);
    CHECK_GT(atomic_load(&ds.timeouts), 10);
    CHECK_EQ(gpoll_waiters(), 0);
    /* Nobody is left parked or about to park. */
    CHECK_LE(inspect(ds.pd).rg, GPOLL_SEM_READY);
}

TEST(scenario_deadline_storm_no_deadlock_no_lost_wakeup)
{
    run_main(storm_deadlines_body, NULL, 2, false);
}

/* ------------------------------------------------------------------ */
/* Unblock racing a G that is about to park: whatever the interleaving,
 * the G returns "closing" and is never left parked. Two Ps run the two
 * Gs in parallel; a random spin moves the unblock across the window
 * between the waiter's first error check and its park. */

enum { UR_ROUNDS = 200000 };

static struct {
    int fds[2];
    gpoll_desc *_Atomic pd;
    _Atomic int round;    /* waiter -> closer: round started */
    _Atomic int unblocked; /* closer -> waiter: round's unblock done */
    gort_waitgroup wg;
} ur;

static void ur_waiter(void *arg)
{
    (void)arg;
    for (int i = 1; i <= UR_ROUNDS; i++) {
        gpoll_desc *pd = atomic_load(&ur.pd);

        atomic_store(&ur.round, i);
        CHECK_EQ(gpoll_wait(pd, GPOLL_READ), GPOLL_ERR_CLOSING);
        while (atomic_load(&ur.unblocked) != i)
            gort_yield();
        gpoll_close(pd);
        atomic_store(&ur.pd, open_pd(ur.fds[0]));
    }
    gort_wg_done(&ur.wg);
}

static void ur_closer(void *arg)
{
    uint32_t seed = 0x2545f491u;

    (void)arg;
    for (int i = 1; i <= UR_ROUNDS; i++) {
        uint32_t spin;

        /* Spin a while, to catch the waiter's start as it happens, then
         * yield: a waiter this G readied sits in this P's runnext until
         * this G gives the P up. */
        for (int k = 0; atomic_load(&ur.round) != i; k++)
            if (k > 2000)
                gort_yield();
        spin = xorshift(&seed) % 64;
        for (volatile uint32_t k = 0; k < spin; k++)
            ;
        gpoll_unblock(atomic_load(&ur.pd));
        atomic_store(&ur.unblocked, i);
    }
    gort_wg_done(&ur.wg);
}

static void unblock_race_body(void *arg)
{
    (void)arg;
    make_pipe(ur.fds);
    atomic_store(&ur.pd, open_pd(ur.fds[0]));
    gort_wg_add(&ur.wg, 2);
    CHECK_EQ(gort_go(ur_waiter, NULL), 0);
    CHECK_EQ(gort_go(ur_closer, NULL), 0);
    gort_wg_wait(&ur.wg);
    CHECK_EQ(gpoll_waiters(), 0);
}

TEST(scenario_unblock_racing_park_loses_no_waiter)
{
    run_main(unblock_race_body, NULL, 2, false);
}
