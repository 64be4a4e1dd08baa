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

/* A ping-pong pair: round trips through two semaphores until *until is
 * set, then the pinger tells the ponger to leave; each calls done on
 * *wg when it ends. */
typedef struct pair {
    uint32_t ping, pong;
    atomic_long rounds; /* round trips so far */
    atomic_int stop;    /* the pinger's word to the ponger */
    atomic_int *until;
    gort_waitgroup *wg;
} pair;

static void pinger(void *arg)
{
    pair *pp = arg;

    while (!atomic_load(pp->until)) {
        gort_sem_release(&pp->ping, false);
        gort_sem_acquire(&pp->pong);
        atomic_fetch_add(&pp->rounds, 1);
    }
    atomic_store(&pp->stop, 1);
    gort_sem_release(&pp->ping, false);
    gort_wg_done(pp->wg);
}

static void ponger(void *arg)
{
    pair *pp = arg;

    for (;;) {
        gort_sem_acquire(&pp->ping);
        if (atomic_load(&pp->stop))
            break;
        gort_sem_release(&pp->pong, false);
    }
    gort_wg_done(pp->wg);
}

static struct {
    pair pair;
    atomic_int hog_done;
    long rounds_at_start; /* pair rounds when the hog started */
    long rounds_at_end;   /* pair rounds when the hog finished */
    gort_waitgroup wg;
} fr;

static void hog(void *arg)
{
    (void)arg;
    fr.rounds_at_start = atomic_load(&fr.pair.rounds);
    for (int i = 0; i < HOG_ITERS; i++) {
        spin(HOG_WORK);
        gort_yield();
    }
    fr.rounds_at_end = atomic_load(&fr.pair.rounds);
    atomic_store(&fr.hog_done, 1);
    gort_wg_done(&fr.wg);
}

static void fair_main(void *arg)
{
    (void)arg;
    fr.pair.until = &fr.hog_done;
    fr.pair.wg = &fr.wg;
    gort_wg_add(&fr.wg, 3);
    CHECK_EQ(gort_go(ponger, &fr.pair), 0);
    CHECK_EQ(gort_go(pinger, &fr.pair), 0);
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

/* ------------------------------------------------------------------ */
/*
 * A park that finds its successor in runnext switches straight to it.
 * Two things that path must keep from the way through schedule():
 *
 *  - a commit that returns false resumes the parking G at once, ahead
 *    of the G in runnext, which still runs afterwards, once;
 *  - the P's timers: a G sleeping next to a ping-pong pair (which
 *    never lets the P go idle) wakes on time, not when the time slice
 *    ends. Checked on the median of its sleeps' lateness, so that a
 *    stall of the machine does not decide it.
 */

static struct {
    uint32_t sem;
    char order[8];
    atomic_int n;
    gort_waitgroup wg;
} rf;

static void note(char c)
{
    rf.order[atomic_fetch_add(&rf.n, 1)] = c;
}

static bool refuse(gort_g *g, void *arg)
{
    (void)g, (void)arg;
    return false;
}

static void runnext_g(void *arg)
{
    (void)arg;
    gort_sem_acquire(&rf.sem); /* has run once: a stack and a context */
    note('B');
    gort_wg_done(&rf.wg);
}

static void refuse_main(void *arg)
{
    (void)arg;
    gort_wg_add(&rf.wg, 1);
    CHECK_EQ(gort_go(runnext_g, NULL), 0);
    gort_yield(); /* let it park on the semaphore */
    gort_sem_release(&rf.sem, false); /* it goes to runnext */
    gort_park(refuse, NULL, GORT_WAIT_OTHER);
    note('A');
    gort_wg_wait(&rf.wg);
    note('\0');
}

TEST(refused_park_resumes_before_runnext_g)
{
    run_main(refuse_main, NULL, 1, false);
    CHECK_EQ(atomic_load(&rf.n), 3);
    CHECK_EQ(strcmp(rf.order, "AB"), 0);
}

#define NSLEEPS 21

static struct {
    pair pair;
    atomic_int done; /* the sleeper's */
    int64_t late[NSLEEPS];
    gort_waitgroup wg;
} ts;

static void ts_sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < NSLEEPS; i++) {
        int64_t want = gort_now() + MS;
        gort_sleep(MS);
        ts.late[i] = gort_now() - want;
    }
    atomic_store(&ts.done, 1);
    gort_wg_done(&ts.wg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void ts_main(void *arg)
{
    (void)arg;
    ts.pair.until = &ts.done;
    ts.pair.wg = &ts.wg;
    gort_wg_add(&ts.wg, 3);
    CHECK_EQ(gort_go(ts_sleeper, NULL), 0);
    CHECK_EQ(gort_go(ponger, &ts.pair), 0);
    CHECK_EQ(gort_go(pinger, &ts.pair), 0);
    gort_wg_wait(&ts.wg);
}

TEST(sleeper_wakes_on_time_beside_a_pingpong_pair_procs1)
{
    run_main(ts_main, NULL, 1, false);
    qsort(ts.late, NSLEEPS, sizeof(ts.late[0]), cmp_i64);
    int64_t median = ts.late[NSLEEPS / 2];
    CHECK_MSG(median < (int64_t)(5 * MS * gtest_scale()),
              "median lateness %lld us", (long long)(median / 1000));
}

/* A commit runs with no current G, whether the park goes through
 * schedule() (runnext empty) or straight to the G in runnext. */
static struct {
    gort_g *seen[2];
    gort_g *waker_target;
    uint32_t sem;
    gort_waitgroup wg;
} cs;

static bool record_self(gort_g *g, void *arg)
{
    cs.seen[(uintptr_t)arg] = gort_self();
    cs.waker_target = g;
    return true;
}

static void cs_waker(void *arg)
{
    (void)arg;
    gort_ready(cs.waker_target);
    gort_sem_acquire(&cs.sem); /* the second round: parked, then runnext */
    gort_ready(cs.waker_target);
    gort_wg_done(&cs.wg);
}

static void cs_main(void *arg)
{
    (void)arg;
    cs.seen[0] = cs.seen[1] = gort_self(); /* anything but NULL */
    gort_wg_add(&cs.wg, 1);
    CHECK_EQ(gort_go(cs_waker, NULL), 0); /* never ran: not runnext-direct */
    gort_park(record_self, (void *)0, GORT_WAIT_OTHER);
    gort_sem_release(&cs.sem, false); /* the waker is now in runnext */
    gort_park(record_self, (void *)1, GORT_WAIT_OTHER);
    gort_wg_wait(&cs.wg);
}

TEST(park_commit_runs_with_no_current_g)
{
    run_main(cs_main, NULL, 1, false);
    CHECK(cs.seen[0] == NULL);
    CHECK(cs.seen[1] == NULL);
}
