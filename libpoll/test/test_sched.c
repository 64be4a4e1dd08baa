/*
 * test_sched.c: libpoll as libsched's poller. An idle scheduler blocks
 * in the poller, a new earlier timer breaks it out, and the monitor
 * polls when nobody has for a while. These run on the real clock.
 */
#include <time.h>

#include "poll_test.h"

static struct {
    int fds[2];
    gpoll_desc *pd;
    int result;
    int64_t woke_at;
    gort_waitgroup wg;
    _Atomic int64_t set_at;
} t;

static int64_t real_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void real_sleep(int64_t ns)
{
    struct timespec ts = {ns / SEC, ns % SEC};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void reader(void *arg)
{
    (void)arg;
    t.result = gpoll_wait(t.pd, GPOLL_READ);
    t.woke_at = gort_now();
    gort_wg_done(&t.wg);
}

static void start_reader(void)
{
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    t.result = -1;
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(reader, NULL), 0);
    await_parked(t.pd, GPOLL_READ);
}

static void join_thread(pthread_t th)
{
    gort_entersyscall();
    CHECK_EQ(pthread_join(th, NULL), 0);
    gort_exitsyscall();
}

/* ------------------------------------------------------------------ */

static void *late_writer(void *arg)
{
    (void)arg;
    real_sleep(100 * MS);
    put_byte(t.fds[1]);
    return NULL;
}

static void idle_body(void *arg)
{
    pthread_t th;

    (void)arg;
    start_reader();
    /* Every G is now blocked: the scheduler can only wait in epoll. A
     * write from outside the runtime must get the reader going. */
    CHECK_EQ(pthread_create(&th, NULL, late_writer, NULL), 0);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
    CHECK_EQ(drain(t.fds[0]), 1);
    join_thread(th);
}

TEST(sched_idle_blocks_in_poller_until_io)
{
    run_main(idle_body, NULL, 1, false);
}

static void *late_deadline(void *arg)
{
    (void)arg;
    real_sleep(100 * MS);
    atomic_store(&t.set_at, gort_now());
    gpoll_set_deadline(t.pd, gort_now() + 50 * MS, GPOLL_READ);
    return NULL;
}

static void timer_break_body(void *arg)
{
    pthread_t th;
    int64_t set_at;

    (void)arg;
    start_reader();
    /* The scheduler blocks in epoll with no timer to wake it. A new
     * deadline timer from outside must break the poll, or the reader
     * sleeps forever. */
    CHECK_EQ(pthread_create(&th, NULL, late_deadline, NULL), 0);
    gort_wg_wait(&t.wg);
    set_at = atomic_load(&t.set_at);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_GE(t.woke_at, set_at + 50 * MS);
    CHECK_LT(t.woke_at, set_at + scaled(3 * SEC));
    join_thread(th);
}

TEST(sched_earlier_timer_breaks_blocked_poller)
{
    run_main(timer_break_body, NULL, 1, false);
}

static void *early_writer(void *arg)
{
    (void)arg;
    real_sleep(20 * MS);
    put_byte(t.fds[1]);
    return NULL;
}

static void monitor_body(void *arg)
{
    pthread_t th;
    int64_t t0 = real_now();
    bool taken = false;

    (void)arg;
    start_reader();
    CHECK_EQ(pthread_create(&th, NULL, early_writer, NULL), 0);
    /* The only P is busy with this G, which never yields: nobody on the
     * scheduler side polls. The monitor must, and hand the reader to a
     * run queue (it leaves the semaphore as it does so). */
    while (real_now() - t0 < scaled(5 * SEC)) {
        if (sem_state(t.pd, GPOLL_READ) != GPOLL_SEM_G) {
            taken = true;
            break;
        }
    }
    CHECK(taken);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
    CHECK_EQ(gpoll_waiters(), 0);
    join_thread(th);
}

TEST(sched_monitor_polls_when_nobody_has)
{
    run_main(monitor_body, NULL, 1, false);
}

/* Many readers woken by one poll all run. */
enum { FANOUT = 64 };
static int fan_fds[FANOUT][2];
static gpoll_desc *fan_pds[FANOUT];
static _Atomic int fan_ok;

static void fan_reader(void *arg)
{
    int i = (int)(intptr_t)arg;

    if (gpoll_wait(fan_pds[i], GPOLL_READ) == GPOLL_OK &&
        drain(fan_fds[i][0]) == 1)
        atomic_fetch_add(&fan_ok, 1);
    gort_wg_done(&t.wg);
}

static void *fan_writer(void *arg)
{
    (void)arg;
    real_sleep(50 * MS);
    for (int i = 0; i < FANOUT; i++)
        put_byte(fan_fds[i][1]);
    return NULL;
}

static void fanout_body(void *arg)
{
    pthread_t th;

    (void)arg;
    for (int i = 0; i < FANOUT; i++) {
        make_pipe(fan_fds[i]);
        fan_pds[i] = open_pd(fan_fds[i][0]);
    }
    gort_wg_add(&t.wg, FANOUT);
    for (int i = 0; i < FANOUT; i++)
        CHECK_EQ(gort_go(fan_reader, (void *)(intptr_t)i), 0);
    for (int i = 0; i < FANOUT; i++)
        await_parked(fan_pds[i], GPOLL_READ);
    CHECK_EQ(gpoll_waiters(), FANOUT);
    CHECK_EQ(pthread_create(&th, NULL, fan_writer, NULL), 0);
    gort_wg_wait(&t.wg);
    CHECK_EQ(atomic_load(&fan_ok), FANOUT);
    CHECK_EQ(gpoll_waiters(), 0);
    join_thread(th);
}

TEST(sched_poller_wakes_many_readers)
{
    run_main(fanout_body, NULL, 2, false);
}
