/*
 * test_wallclock.c: a wall-clock jump changes no deadline.
 *
 * Setting the machine's clock needs privileges and disturbs everything
 * else on it, so this file makes the jump visible to this process only:
 * it interposes the wall-clock reads of libc (clock_gettime with a
 * realtime clock, gettimeofday, time) and adds wall_offset to them.
 * Every other clock passes through untouched, and with the offset at 0
 * (every other test) the wall clock does too. A runtime that timed
 * deadlines by the wall clock would fire them an hour early or late.
 */
#include <dlfcn.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "poll_test.h"

static _Atomic int64_t wall_offset; /* ns added to the wall clock */

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
static _Atomic(clock_gettime_fn) real_clock_gettime;

static int call_real(clockid_t clk, struct timespec *ts)
{
    clock_gettime_fn fn = atomic_load(&real_clock_gettime);

    if (fn == NULL) {
        fn = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
        if (fn == NULL)
            return (int)syscall(SYS_clock_gettime, clk, ts);
        atomic_store(&real_clock_gettime, fn);
    }
    return fn(clk, ts);
}

static void shift(struct timespec *ts, int64_t off)
{
    int64_t ns = (int64_t)ts->tv_sec * SEC + ts->tv_nsec + off;

    ts->tv_sec = (time_t)(ns / SEC);
    ts->tv_nsec = (long)(ns % SEC);
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int r = call_real(clk, ts);
    int64_t off = atomic_load(&wall_offset);

    if (r == 0 && off != 0 &&
        (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE))
        shift(ts, off);
    return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;

    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
        return -1;
    /* glibc declares tv non-null. */
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}

static int64_t monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static struct {
    int fds[2];
    gpoll_desc *pd;
    int result;
    int64_t woke_at;
    gort_waitgroup wg;
} w;

static void reader(void *arg)
{
    (void)arg;
    w.result = gpoll_wait(w.pd, GPOLL_READ);
    w.woke_at = monotonic();
    gort_wg_done(&w.wg);
}

static void jump_body(void *arg)
{
    int64_t start, deadline, g0, wall0;
    gpoll_state st;

    (void)arg;
    make_pipe(w.fds);
    w.pd = open_pd(w.fds[0]);
    start = monotonic();
    deadline = gort_now() + 300 * MS;
    gpoll_set_deadline(w.pd, deadline, GPOLL_READ);
    gort_wg_add(&w.wg, 1);
    CHECK_EQ(gort_go(reader, NULL), 0);
    await_parked(w.pd, GPOLL_READ);

    /* Forward an hour: nothing may fire early. */
    wall0 = (int64_t)time(NULL);
    g0 = gort_now();
    atomic_store(&wall_offset, 3600 * SEC);
    CHECK_GE((int64_t)time(NULL) - wall0, 3599);
    CHECK_LT(gort_now() - g0, 60 * SEC);
    gort_sleep(50 * MS);
    CHECK_EQ(sem_state(w.pd, GPOLL_READ), GPOLL_SEM_G);

    /* Back two hours: nothing may fire late. */
    atomic_store(&wall_offset, -3600 * SEC);
    CHECK_GE(gort_now(), g0);
    st = inspect(w.pd);
    CHECK_EQ(st.rd, deadline);

    gort_wg_wait(&w.wg);
    CHECK_EQ(w.result, GPOLL_ERR_TIMEOUT);
    CHECK_GE(w.woke_at - start, 300 * MS);
    CHECK_LT(w.woke_at - start, scaled(3 * SEC));
    atomic_store(&wall_offset, 0);
}

TEST(scenario_wall_clock_jump_changes_no_deadline)
{
    run_main(jump_body, NULL, 2, false);
}
