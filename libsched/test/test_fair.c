/*
 * Fairness on one P: a ping-pong pair and a CPU hog that yields.
 *
 * The pair hands the P back and forth through semaphores; each wake-up
 * puts the partner in runnext, which inherits the time slice. The hog
 * yields after every iteration, which sends it to the global queue.
 * Neither side may starve the other:
 *
 *  - the hog must not starve the pair: its yields let the pair run,
 *    so over the hog's iterations the pair makes a share of progress
 *    (at least a fifth of the hog's iteration count);
 *  - the pair must not starve the hog: the pair runs until the hog has
 *    finished its iterations, so a starved hog hangs the test until
 *    its timeout.
 *
 * Progress is counted in iterations, not time. How much the pair gets
 * per hog iteration depends on the length of a time slice, so there is
 * no upper bound on the pair's share here.
 */
#include "sched_test.h"

#define HOG_ITERS 100
#define HOG_WORK 1000

static struct {
    uint32_t ping, pong;
    atomic_long rounds; /* round trips of the pair */
    atomic_int hog_done;
    atomic_int stop;      /* tells the ponger to leave */
    long rounds_at_start; /* rounds when the hog started */
    long rounds_at_end;   /* rounds when the hog finished */
    gort_waitgroup wg;
} fr;

static void hog(void *arg)
{
    (void)arg;
    fr.rounds_at_start = atomic_load(&fr.rounds);
    for (int i = 0; i < HOG_ITERS; i++) {
        spin(HOG_WORK);
        gort_yield();
    }
    fr.rounds_at_end = atomic_load(&fr.rounds);
    atomic_store(&fr.hog_done, 1);
    gort_wg_done(&fr.wg);
}

static void pinger(void *arg)
{
    (void)arg;
    while (!atomic_load(&fr.hog_done)) {
        gort_sem_release(&fr.ping, false);
        gort_sem_acquire(&fr.pong);
        atomic_fetch_add(&fr.rounds, 1);
    }
    atomic_store(&fr.stop, 1);
    gort_sem_release(&fr.ping, false);
    gort_wg_done(&fr.wg);
}

static void ponger(void *arg)
{
    (void)arg;
    for (;;) {
        gort_sem_acquire(&fr.ping);
        if (atomic_load(&fr.stop))
            break;
        gort_sem_release(&fr.pong, false);
    }
    gort_wg_done(&fr.wg);
}

static void fair_main(void *arg)
{
    (void)arg;
    gort_wg_add(&fr.wg, 3);
    CHECK_EQ(gort_go(ponger, NULL), 0);
    CHECK_EQ(gort_go(pinger, NULL), 0);
    CHECK_EQ(gort_go(hog, NULL), 0);
    gort_wg_wait(&fr.wg);
}

TEST(fair_pingpong_pair_and_yielding_hog_procs1)
{
    long pair;

    run_main(fair_main, NULL, 1, false);
    CHECK(atomic_load(&fr.hog_done));
    pair = fr.rounds_at_end - fr.rounds_at_start;
    fprintf(stderr, "pair: %ld round trips during %d hog iterations\n",
            pair, HOG_ITERS);
    CHECK_MSG(pair >= HOG_ITERS / 5,
              "pair made %ld round trips during %d hog iterations", pair,
              HOG_ITERS);
}
