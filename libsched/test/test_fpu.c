/*
 * The context switch keeps each G's floating-point control state: a G
 * that changes its rounding mode keeps it across switches, and the Gs
 * it switches with keep theirs.
 */
#include <fenv.h>

#include "sched_test.h"

static struct {
    atomic_int bad_up, bad_default;
    gort_waitgroup wg;
} fp;

static void rounds_up(void *arg)
{
    (void)arg;
    CHECK_EQ(fesetround(FE_UPWARD), 0);
    for (int i = 0; i < 1000; i++) {
        if (i % 2)
            gort_yield();
        else
            gort_sleep(1 * US);
        if (fegetround() != FE_UPWARD)
            atomic_fetch_add(&fp.bad_up, 1);
    }
    gort_wg_done(&fp.wg);
}

static void rounds_default(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        gort_yield();
        if (fegetround() != FE_TONEAREST)
            atomic_fetch_add(&fp.bad_default, 1);
    }
    gort_wg_done(&fp.wg);
}

static void fpu_main(void *arg)
{
    (void)arg;
    gort_wg_add(&fp.wg, 4);
    CHECK_EQ(gort_go(rounds_up, NULL), 0);
    CHECK_EQ(gort_go(rounds_default, NULL), 0);
    CHECK_EQ(gort_go(rounds_up, NULL), 0);
    CHECK_EQ(gort_go(rounds_default, NULL), 0);
    gort_wg_wait(&fp.wg);
}

TEST(switch_keeps_each_gs_rounding_mode_procs1)
{
    run_main(fpu_main, NULL, 1, false);
    CHECK_EQ(atomic_load(&fp.bad_up), 0);
    CHECK_EQ(atomic_load(&fp.bad_default), 0);
}

TEST(switch_keeps_each_gs_rounding_mode_procs2)
{
    run_main(fpu_main, NULL, 2, false);
    CHECK_EQ(atomic_load(&fp.bad_up), 0);
    CHECK_EQ(atomic_load(&fp.bad_default), 0);
}
