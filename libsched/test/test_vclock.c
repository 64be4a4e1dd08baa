/*
 * The virtual clock: time moves only when every G is blocked, straight
 * to the next timer. A program of sleeping Gs is then deterministic on
 * one P, and sleeps of hours cost no real time.
 */
#include "sched_test.h"

#define NG 6
#define STEPS 8
#define NEVENTS (NG * STEPS)

struct event_rec {
    int64_t t; /* virtual ns since the program started */
    int id;
};

static struct {
    struct event_rec log[NEVENTS];
    atomic_int n;
    int64_t start;
    gort_waitgroup wg;
} tr;

/* 1..20 ms, fixed, with ties between Gs on purpose. */
static int64_t step_duration(int id, int step)
{
    return (int64_t)((id * 7 + step * 13) % 20 + 1) * MS;
}

static void sleeper(void *arg)
{
    int id = (int)(uintptr_t)arg;
    int64_t expect = 0;

    for (int s = 0; s < STEPS; s++) {
        int64_t d = step_duration(id, s);
        int64_t t;
        int n;

        gort_sleep(d);
        expect += d;
        t = gort_now() - tr.start;
        /* Woken exactly when its sleep ended: the clock jumped there. */
        CHECK_EQ(t, expect);
        n = atomic_fetch_add(&tr.n, 1);
        CHECK_LT(n, NEVENTS);
        tr.log[n].t = t;
        tr.log[n].id = id;
    }
    gort_wg_done(&tr.wg);
}

static void trace_main(void *arg)
{
    (void)arg;
    tr.start = gort_now();
    for (uintptr_t id = 0; id < NG; id++) {
        gort_wg_add(&tr.wg, 1);
        CHECK_EQ(gort_go(sleeper, (void *)id), 0);
    }
    gort_wg_wait(&tr.wg);
}

static void run_trace(struct event_rec *out)
{
    memset(&tr, 0, sizeof(tr));
    run_main(trace_main, NULL, 1, true);
    CHECK_EQ(atomic_load(&tr.n), NEVENTS);
    memcpy(out, tr.log, sizeof(tr.log));
}

TEST(vclock_trace_is_repeatable)
{
    static struct event_rec first[NEVENTS], second[NEVENTS];

    run_trace(first);
    run_trace(second);
    for (int i = 0; i < NEVENTS; i++) {
        CHECK_MSG(first[i].t == second[i].t && first[i].id == second[i].id,
                  "event %d: (%lld ns, G %d) then (%lld ns, G %d)", i,
                  (long long)first[i].t, first[i].id, (long long)second[i].t,
                  second[i].id);
        if (i > 0)
            CHECK_GE(first[i].t, first[i - 1].t);
    }
}

/* ------------------------------------------------------------------ */

#define HOUR (3600 * SEC)

static struct {
    int64_t v0;
    atomic_int woke;
    gort_waitgroup wg;
} hr;

static void hour_sleeper(void *arg)
{
    int64_t d = (int64_t)(uintptr_t)arg * HOUR / 2;

    gort_sleep(d);
    CHECK_EQ(gort_now() - hr.v0, d);
    atomic_fetch_add(&hr.woke, 1);
    gort_wg_done(&hr.wg);
}

static void hours_main(void *arg)
{
    int64_t r0 = gort_nanotime_real();

    (void)arg;
    hr.v0 = gort_now();
    /* Sleeps of half an hour to two hours, and the main G's three. */
    for (uintptr_t half_hours = 1; half_hours <= 4; half_hours++) {
        gort_wg_add(&hr.wg, 1);
        CHECK_EQ(gort_go(hour_sleeper, (void *)half_hours), 0);
    }
    gort_sleep(3 * HOUR);
    CHECK_EQ(gort_now() - hr.v0, 3 * HOUR);
    CHECK_EQ(atomic_load(&hr.woke), 4);
    gort_wg_wait(&hr.wg);

    /* Hours of virtual time in (generously) seconds of real time. */
    CHECK_LT(gort_nanotime_real() - r0, (int64_t)(5 * SEC * gtest_scale()));
}

TEST(vclock_hour_sleeps_take_no_real_time)
{
    run_main(hours_main, NULL, 1, true);
}

/* ------------------------------------------------------------------ */
/* With two Ps the first idle M blocks in the poller; the last one to go
 * idle must still move virtual time. */

static atomic_llong slept_ns;

static void vsleep_body(void *arg)
{
    (void)arg;
    int64_t t0 = gort_now();
    gort_sleep(SEC);
    atomic_store(&slept_ns, gort_now() - t0);
}

TEST(vclock_sleep_wakes_with_two_procs)
{
    int64_t r0 = gort_nanotime_real();
    run_main(vsleep_body, NULL, 2, true);
    CHECK_EQ(atomic_load(&slept_ns), SEC);
    CHECK_LT(gort_nanotime_real() - r0, 5 * SEC);
}
