/*
 * Starting and stopping the runtime: gort_main twice in one process, a
 * second start while running, a bad configuration, gort_start/stop.
 */
#include "sched_test.h"

static struct {
    atomic_int runs;
    atomic_int nested_runs; /* must stay 0 */
    int procs_seen[2];
    int nested_rc;
    int thread_rc;
} mn;

static void yield_once(void *arg)
{
    (void)arg;
    gort_yield();
}

static void count_run(void *arg)
{
    int i = atomic_fetch_add(&mn.runs, 1);

    (void)arg;
    CHECK(gort_running());
    if (i < 2)
        mn.procs_seen[i] = gort_procs();
    /* A few Gs, so that the runtime has something to tear down. */
    for (int k = 0; k < 10; k++)
        CHECK_EQ(gort_go(yield_once, NULL), 0);
    gort_sleep(1 * MS);
}

TEST(main_runs_twice_in_one_process)
{
    CHECK(!gort_running());
    run_main(count_run, NULL, 1, false);
    CHECK(!gort_running());
    run_main(count_run, NULL, 2, false);
    CHECK(!gort_running());
    CHECK_EQ(atomic_load(&mn.runs), 2);
    CHECK_EQ(mn.procs_seen[0], 1);
    CHECK_EQ(mn.procs_seen[1], 2);
}

/* ------------------------------------------------------------------ */

static void never_run(void *arg)
{
    (void)arg;
    atomic_fetch_add(&mn.nested_runs, 1);
}

static void *start_from_thread(void *arg)
{
    gort_config cfg;

    (void)arg;
    memset(&cfg, 0, sizeof(cfg));
    mn.thread_rc = gort_main(never_run, NULL, &cfg);
    return NULL;
}

static void nested_main(void *arg)
{
    gort_config cfg;
    pthread_t t;

    (void)arg;
    memset(&cfg, 0, sizeof(cfg));
    mn.nested_rc = gort_main(never_run, NULL, &cfg);

    /* From another thread while this runtime runs: the same. */
    CHECK_EQ(pthread_create(&t, NULL, start_from_thread, NULL), 0);
    join_thread(t);
}

TEST(main_while_running_returns_ebusy)
{
    run_main(nested_main, NULL, 2, false);
    CHECK_EQ(mn.nested_rc, -EBUSY);
    CHECK_EQ(mn.thread_rc, -EBUSY);
    CHECK_EQ(atomic_load(&mn.nested_runs), 0);

    /* The refused starts left nothing behind. */
    run_main(count_run, NULL, 1, false);
    CHECK_EQ(atomic_load(&mn.runs), 1);
}

/* ------------------------------------------------------------------ */

TEST(main_rejects_negative_procs)
{
    gort_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = -1;
    CHECK_LT(gort_main(never_run, NULL, &cfg), 0);
    CHECK_EQ(atomic_load(&mn.nested_runs), 0);
    CHECK(!gort_running());

    run_main(count_run, NULL, 1, false);
    CHECK_EQ(atomic_load(&mn.runs), 1);
}

/* ------------------------------------------------------------------ */

static struct {
    uint32_t done;
    atomic_int ran;
} ss;

static void started_g(void *arg)
{
    (void)arg;
    gort_sleep(1 * MS);
    atomic_fetch_add(&ss.ran, 1);
    gort_sem_release(&ss.done, false);
}

TEST(start_stop_then_main)
{
    gort_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = 2;
    for (int round = 0; round < 2; round++) {
        CHECK_EQ(gort_start(&cfg), 0);
        CHECK(gort_running());
        CHECK_EQ(gort_procs(), 2);
        CHECK_EQ(gort_start(&cfg), -EBUSY);
        CHECK_EQ(gort_go(started_g, NULL), 0);
        gort_sem_acquire(&ss.done);
        gort_stop();
        CHECK(!gort_running());
    }
    CHECK_EQ(atomic_load(&ss.ran), 2);

    run_main(count_run, NULL, 1, false);
    CHECK_EQ(atomic_load(&mn.runs), 1);
}
