/*
 * gort_mutex, gort_waitgroup and gort_sleep.
 */
#include "sched_test.h"

/* ------------------------------------------------------------------ */
/* Mutex: 4 Gs x 10,000 increments on two Ps, exact total. */

#define NWORKERS 4
#define INCS 10000

static struct {
    gort_mutex mu;
    long total;        /* under mu */
    atomic_int inside; /* Gs between lock and unlock */
    gort_waitgroup wg;
} mx = {GORT_MUTEX_INIT, 0, 0, GORT_WAITGROUP_INIT};

static void incrementer(void *arg)
{
    (void)arg;
    for (int i = 0; i < INCS; i++) {
        long v;

        gort_mutex_lock(&mx.mu);
        CHECK_EQ(atomic_fetch_add(&mx.inside, 1), 0);
        v = mx.total;
        /* Now and then hold the lock across a switch, so that others
         * find it taken and must queue. */
        if (i % 128 == 0)
            gort_yield();
        mx.total = v + 1;
        atomic_fetch_sub(&mx.inside, 1);
        gort_mutex_unlock(&mx.mu);
    }
    gort_wg_done(&mx.wg);
}

static void holder(void *arg)
{
    (void)arg;
    gort_mutex_lock(&mx.mu);
    gort_wg_done(&mx.wg);
}

static void mutex_main(void *arg)
{
    (void)arg;
    gort_wg_add(&mx.wg, NWORKERS);
    for (int i = 0; i < NWORKERS; i++)
        CHECK_EQ(gort_go(incrementer, NULL), 0);
    gort_wg_wait(&mx.wg);
    CHECK_EQ(mx.total, NWORKERS * INCS);

    /* trylock: succeeds when free, fails when held. */
    CHECK(gort_mutex_trylock(&mx.mu));
    CHECK(!gort_mutex_trylock(&mx.mu));
    gort_mutex_unlock(&mx.mu);

    /* Held by another G (which exits holding it): trylock fails, and
     * an unlock by this G releases it; Go's mutexes are not owned. */
    gort_wg_add(&mx.wg, 1);
    CHECK_EQ(gort_go(holder, NULL), 0);
    gort_wg_wait(&mx.wg);
    CHECK(!gort_mutex_trylock(&mx.mu));
    gort_mutex_unlock(&mx.mu);
    CHECK(gort_mutex_trylock(&mx.mu));
    gort_mutex_unlock(&mx.mu);
}

TEST(mutex_4x10k_increments_procs2)
{
    run_main(mutex_main, NULL, 2, false);
}

/* ------------------------------------------------------------------ */
/* Wait group: every waiter returns after the last done, not before. */

#define NDONE 10
#define NWAITERS 3

static struct {
    gort_waitgroup wg;      /* the one under test */
    gort_waitgroup waiters; /* for the waiting Gs */
    atomic_int finished[NDONE];
    atomic_int released;
} wgt = {GORT_WAITGROUP_INIT, GORT_WAITGROUP_INIT, {0}, 0};

static void all_finished(void)
{
    for (int i = 0; i < NDONE; i++)
        CHECK_MSG(atomic_load(&wgt.finished[i]),
                  "wait returned before worker %d was done", i);
}

static void worker(void *arg)
{
    int i = (int)(uintptr_t)arg;

    gort_sleep((i + 1) * 2 * MS);
    atomic_store(&wgt.finished[i], 1);
    gort_wg_done(&wgt.wg);
}

static void waiter(void *arg)
{
    (void)arg;
    gort_wg_wait(&wgt.wg);
    all_finished();
    atomic_fetch_add(&wgt.released, 1);
    gort_wg_done(&wgt.waiters);
}

static void wg_main(void *arg)
{
    gort_waitgroup empty = GORT_WAITGROUP_INIT;

    (void)arg;
    /* Nothing added: returns at once. */
    gort_wg_wait(&empty);

    gort_wg_add(&wgt.wg, NDONE);
    gort_wg_add(&wgt.waiters, NWAITERS);
    for (int i = 0; i < NWAITERS; i++)
        CHECK_EQ(gort_go(waiter, NULL), 0);
    for (uintptr_t i = 0; i < NDONE; i++)
        CHECK_EQ(gort_go(worker, (void *)i), 0);
    gort_wg_wait(&wgt.wg);
    all_finished();
    gort_wg_wait(&wgt.waiters);
    CHECK_EQ(atomic_load(&wgt.released), NWAITERS);

    /* Reusable once back at zero. */
    gort_wg_add(&wgt.wg, 1);
    gort_wg_done(&wgt.wg);
    gort_wg_wait(&wgt.wg);
}

TEST(waitgroup_wait_returns_after_all_done_procs2)
{
    run_main(wg_main, NULL, 2, false);
}

/* ------------------------------------------------------------------ */
/* Sleep: Gs wake in the order of their deadlines (virtual clock, so
 * the order is exact), and never early (real clock). */

#define NSLEEPERS 5

static const int sleep_ms[NSLEEPERS] = {50, 10, 40, 20, 30};

static struct {
    int64_t start;
    atomic_int n;
    int order[NSLEEPERS];
    int64_t woke[NSLEEPERS]; /* ns after start */
    gort_waitgroup wg;
} sl;

static void sleeper(void *arg)
{
    int i = (int)(uintptr_t)arg;
    int n;

    gort_sleep(sleep_ms[i] * MS);
    n = atomic_fetch_add(&sl.n, 1);
    sl.order[n] = i;
    sl.woke[i] = gort_now() - sl.start;
    gort_wg_done(&sl.wg);
}

static void sleep_main(void *arg)
{
    (void)arg;
    sl.start = gort_now();
    gort_wg_add(&sl.wg, NSLEEPERS);
    for (uintptr_t i = 0; i < NSLEEPERS; i++)
        CHECK_EQ(gort_go(sleeper, (void *)i), 0);
    gort_wg_wait(&sl.wg);
}

TEST(sleep_wakes_in_deadline_order)
{
    run_main(sleep_main, NULL, 1, true);
    CHECK_EQ(atomic_load(&sl.n), NSLEEPERS);
    for (int k = 1; k < NSLEEPERS; k++)
        CHECK_MSG(sleep_ms[sl.order[k - 1]] < sleep_ms[sl.order[k]],
                  "slept %d ms, woke before one that slept %d ms",
                  sleep_ms[sl.order[k]], sleep_ms[sl.order[k - 1]]);
    for (int i = 0; i < NSLEEPERS; i++)
        CHECK_EQ(sl.woke[i], sleep_ms[i] * MS);
}

static void sleep_real_main(void *arg)
{
    int64_t t0;

    (void)arg;
    sleep_main(NULL);

    /* Zero, negative and past sleeps return without waiting. */
    t0 = gort_nanotime_real();
    gort_sleep(0);
    gort_sleep(-5 * MS);
    gort_sleep_until(gort_now() - 5 * MS);
    CHECK_LT(gort_nanotime_real() - t0, (int64_t)(1 * SEC * gtest_scale()));

    /* sleep_until an absolute time does not return before it. */
    t0 = gort_now();
    gort_sleep_until(t0 + 15 * MS);
    CHECK_GE(gort_now(), t0 + 15 * MS);
}

TEST(sleep_never_wakes_early_procs2)
{
    run_main(sleep_real_main, NULL, 2, false);
    for (int i = 0; i < NSLEEPERS; i++)
        CHECK_GE(sl.woke[i], sleep_ms[i] * MS);
}
