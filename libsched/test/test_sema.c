/*
 * Semaphores between Gs: ping-pong, with and without handoff, and
 * acquire with a deadline.
 */
#include "sched_test.h"

#define ROUNDS 100000
#define HANDOFF_ROUNDS 20000

static struct {
    uint32_t ping, pong;
    atomic_int pings; /* rounds the pinger has completed */
    atomic_int pongs; /* rounds the ponger has completed */
    int rounds;
    bool handoff;
    gort_waitgroup wg;
} pp;

static void pinger(void *arg)
{
    (void)arg;
    for (int i = 0; i < pp.rounds; i++) {
        gort_sem_release(&pp.ping, pp.handoff);
        gort_sem_acquire(&pp.pong);
        /* One answer per ping, never two. */
        CHECK_EQ(atomic_load(&pp.pongs), i + 1);
        atomic_fetch_add(&pp.pings, 1);
    }
    gort_wg_done(&pp.wg);
}

static void ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < pp.rounds; i++) {
        gort_sem_acquire(&pp.ping);
        CHECK_EQ(atomic_load(&pp.pings), i);
        atomic_fetch_add(&pp.pongs, 1);
        gort_sem_release(&pp.pong, pp.handoff);
    }
    gort_wg_done(&pp.wg);
}

static void ping_pong(int rounds, bool handoff)
{
    pp.ping = pp.pong = 0;
    atomic_store(&pp.pings, 0);
    atomic_store(&pp.pongs, 0);
    pp.rounds = rounds;
    pp.handoff = handoff;

    gort_wg_add(&pp.wg, 2);
    CHECK_EQ(gort_go(ponger, NULL), 0);
    CHECK_EQ(gort_go(pinger, NULL), 0);
    gort_wg_wait(&pp.wg);

    CHECK_EQ(atomic_load(&pp.pings), rounds);
    CHECK_EQ(atomic_load(&pp.pongs), rounds);
    CHECK_EQ(pp.ping, 0);
    CHECK_EQ(pp.pong, 0);
}

static void ping_pong_main(void *arg)
{
    (void)arg;
    ping_pong(ROUNDS, false);
    ping_pong(HANDOFF_ROUNDS, true);
}

TEST(sem_ping_pong_procs1)
{
    run_main(ping_pong_main, NULL, 1, false);
}

TEST(sem_ping_pong_procs2)
{
    run_main(ping_pong_main, NULL, 2, false);
}

/* ------------------------------------------------------------------ */
/* Counting: releases before acquires are not lost. */

static void counting_main(void *arg)
{
    uint32_t sem = 0;

    (void)arg;
    for (int i = 0; i < 5; i++)
        gort_sem_release(&sem, false);
    CHECK_EQ(sem, 5);
    for (int i = 0; i < 5; i++)
        gort_sem_acquire(&sem);
    CHECK_EQ(sem, 0);
}

TEST(sem_counts_releases)
{
    run_main(counting_main, NULL, 1, false);
}

/* ------------------------------------------------------------------ */
/* gort_sem_acquire_until: times out at the deadline, or takes a unit
 * released before it. Virtual clock, so the times are exact. */

static struct {
    uint32_t sem;
    int64_t release_at;
} su;

static void late_releaser(void *arg)
{
    (void)arg;
    gort_sleep_until(su.release_at);
    gort_sem_release(&su.sem, false);
}

static void until_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;

    /* Nobody releases: -ETIMEDOUT, not before the deadline. */
    CHECK_EQ(gort_sem_acquire_until(&su.sem, t0 + 10 * MS), -ETIMEDOUT);
    CHECK_GE(gort_now(), t0 + 10 * MS);
    CHECK_EQ(su.sem, 0);

    /* A deadline already past, with a unit available: it is taken. */
    su.sem = 1;
    CHECK_EQ(gort_sem_acquire_until(&su.sem, gort_now() - 1), 0);
    CHECK_EQ(su.sem, 0);

    /* Released at +5 ms, deadline +50 ms: acquired at +5 ms. */
    t0 = gort_now();
    su.release_at = t0 + 5 * MS;
    CHECK_EQ(gort_go(late_releaser, NULL), 0);
    CHECK_EQ(gort_sem_acquire_until(&su.sem, t0 + 50 * MS), 0);
    CHECK_EQ(gort_now(), t0 + 5 * MS);
    CHECK_EQ(su.sem, 0);

    /* The timed-out wait left nothing behind: a later release is
     * still there for the next acquire. */
    gort_sem_release(&su.sem, false);
    CHECK_EQ(su.sem, 1);
    gort_sem_acquire(&su.sem);
}

TEST(sem_acquire_until_times_out)
{
    run_main(until_main, NULL, 1, true);
}
