/*
 * Blocking calls: a G blocked in a system call does not hold the only
 * P. The monitor hands the P to another M, so other Gs run meanwhile,
 * and the blocked G gets a P back when the call returns.
 */
#include "sched_test.h"

#define BLOCK_NS (100 * MS)

static struct {
    atomic_long count; /* the counter G's iterations */
    atomic_int done;
    long before, after; /* count around the blocking call */
    gort_waitgroup wg;
} sc;

static void counter(void *arg)
{
    (void)arg;
    while (!atomic_load(&sc.done)) {
        atomic_fetch_add(&sc.count, 1);
        gort_yield();
    }
    gort_wg_done(&sc.wg);
}

static void blocker(void *arg)
{
    (void)arg;
    /* Let the counter get going first. */
    while (atomic_load(&sc.count) < 10)
        gort_yield();

    gort_entersyscall();
    sc.before = atomic_load(&sc.count);
    thread_sleep(BLOCK_NS);
    sc.after = atomic_load(&sc.count);
    gort_exitsyscall();

    atomic_store(&sc.done, 1);
    gort_wg_done(&sc.wg);
}

static void syscall_main(void *arg)
{
    gort_stats st;

    (void)arg;
    gort_wg_add(&sc.wg, 2);
    CHECK_EQ(gort_go(counter, NULL), 0);
    CHECK_EQ(gort_go(blocker, NULL), 0);
    gort_wg_wait(&sc.wg);

    CHECK_MSG(sc.after > sc.before,
              "counter stood still at %ld while a G was in a syscall",
              sc.before);
    gort_get_stats(&st);
    CHECK_GE(st.syscall_handoffs, 1);
}

TEST(syscall_blocked_g_does_not_stop_others_procs1)
{
    run_main(syscall_main, NULL, 1, false);
}

/* ------------------------------------------------------------------ */
/* entersyscall/exitsyscall are harmless on a thread without a G. */

TEST(syscall_brackets_harmless_without_runtime)
{
    gort_entersyscall();
    gort_exitsyscall();
    CHECK(!gort_running());
}
