/*
 * gort_get_stats: Gs counted by status while they wait, and nothing
 * runnable or waiting once they have all exited.
 */
#include "sched_test.h"

#define NWAIT 100

static struct {
    uint32_t gate;
    atomic_int started;
    gort_waitgroup wg;
} st;

static void gated(void *arg)
{
    (void)arg;
    atomic_fetch_add(&st.started, 1);
    gort_sem_acquire(&st.gate);
    gort_wg_done(&st.wg);
}

/* Polls the stats until pred holds or a generous timeout; returns the
 * last snapshot, for the caller to check. Other Gs may still be on
 * their way in or out of a state, hence the retries. */
static gort_stats poll_stats(bool (*pred)(const gort_stats *))
{
    int64_t deadline = gort_nanotime_real() + 5 * SEC;
    gort_stats s;

    for (;;) {
        memset(&s, 0xff, sizeof(s));
        gort_get_stats(&s);
        if (pred(&s) || gort_nanotime_real() > deadline)
            return s;
        gort_sleep(1 * MS);
    }
}

static bool all_parked(const gort_stats *s)
{
    return s->gs[GORT_GWAITING] == NWAIT;
}

static bool all_gone(const gort_stats *s)
{
    return s->gs[GORT_GRUNNABLE] == 0 && s->gs[GORT_GWAITING] == 0 &&
           s->gs[GORT_GSYSCALL] == 0 && s->gs[GORT_GRUNNING] == 1;
}

static void stats_main(void *arg)
{
    gort_stats s;

    (void)arg;
    gort_wg_add(&st.wg, NWAIT);
    for (int i = 0; i < NWAIT; i++)
        CHECK_EQ(gort_go(gated, NULL), 0);
    while (atomic_load(&st.started) < NWAIT)
        gort_sleep(1 * MS);

    /* Every gated G waits; this one runs. */
    s = poll_stats(all_parked);
    CHECK_EQ(s.gs[GORT_GWAITING], NWAIT);
    CHECK_EQ(s.gs[GORT_GRUNNING], 1);
    CHECK_EQ(s.procs, 2);

    for (int i = 0; i < NWAIT; i++)
        gort_sem_release(&st.gate, false);
    gort_wg_wait(&st.wg);

    /* All exited: nothing runnable, nothing waiting, only this G. */
    s = poll_stats(all_gone);
    CHECK_EQ(s.gs[GORT_GRUNNABLE], 0);
    CHECK_EQ(s.gs[GORT_GWAITING], 0);
    CHECK_EQ(s.gs[GORT_GSYSCALL], 0);
    CHECK_EQ(s.gs[GORT_GRUNNING], 1);
    CHECK_EQ(s.global_runq, 0);
    CHECK_EQ(s.procs, 2);
}

TEST(stats_zero_runnable_and_waiting_after_gs_exit)
{
    run_main(stats_main, NULL, 2, false);
}
