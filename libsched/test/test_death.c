/*
 * Fatal errors: the runtime dies loudly, with Go's words, rather than
 * hanging or corrupting memory.
 */
#include "sched_test.h"

/* The main G waits on a semaphore nobody will release, and nothing
 * else can run: no G, no timer, no foreign thread. */
static void block_forever(void *arg)
{
    uint32_t never = 0;

    (void)arg;
    gort_sem_acquire(&never);
}

TEST(deadlock_main_blocked_aborts)
{
    run_main(block_forever, NULL, 1, false);
    fprintf(stderr, "gort_main returned\n");
}

/* Several Gs on two Ps, every one of them waiting on another. */
static struct {
    gort_waitgroup wg;
    gort_mutex mu;
    uint32_t gate;
} dl;

static void wait_gate(void *arg)
{
    (void)arg;
    gort_mutex_lock(&dl.mu);
    gort_sem_acquire(&dl.gate);
    gort_mutex_unlock(&dl.mu);
    gort_wg_done(&dl.wg);
}

static void all_blocked(void *arg)
{
    (void)arg;
    gort_wg_add(&dl.wg, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gort_go(wait_gate, NULL), 0);
    gort_wg_wait(&dl.wg);
}

TEST(deadlock_all_gs_blocked_aborts)
{
    run_main(all_blocked, NULL, 2, false);
    fprintf(stderr, "gort_main returned\n");
}

/* ------------------------------------------------------------------ */

/* Never reached; volatile so the compiler cannot see the recursion is
 * endless and cannot turn it into a loop. */
static volatile int depth_limit = -1;

static int recurse(int depth)
{
    volatile char frame[512];

    frame[0] = (char)depth;
    if (depth == depth_limit)
        return frame[0];
    return recurse(depth + 1) + frame[0];
}

static void overflow(void *arg)
{
    (void)arg;
    fprintf(stderr, "recursed to %d\n", recurse(0));
}

static void overflow_main(void *arg)
{
    gort_waitgroup wg = GORT_WAITGROUP_INIT;

    (void)arg;
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_go(overflow, &wg), 0);
    gort_wg_wait(&wg);
}

TEST(stack_overflow_aborts)
{
    run_main(overflow_main, NULL, 1, false);
    fprintf(stderr, "gort_main returned\n");
}
