/*
 * Spawning: many short-lived Gs, unique ids, and a chain of Gs that
 * each spawn their successor without starving anyone else.
 */
#include "sched_test.h"

/* ------------------------------------------------------------------ */
/* 100,000 Gs that yield a few times and exit. */

#define NSPAWN 100000
#define YIELDS 3

/* At most this many spawned Gs alive at once, so that the test needs a
 * bounded number of stacks whatever the scheduler's policy. Under
 * ThreadSanitizer each G is a fiber, and it allows 8128 threads and
 * fibers together. */
#ifdef __SANITIZE_THREAD__
#define MAX_LIVE 4000
#else
#define MAX_LIVE 10000
#endif

static struct {
    atomic_int ran;
    atomic_uchar runs[NSPAWN]; /* how often G i ran to its end */
    uint32_t slots;            /* free places for live Gs */
    gort_waitgroup wg;
    int procs;
} sp;

static void spawned(void *arg)
{
    uintptr_t i = (uintptr_t)arg;

    for (int k = 0; k < YIELDS; k++)
        gort_yield();
    atomic_fetch_add(&sp.runs[i], 1);
    atomic_fetch_add(&sp.ran, 1);
    gort_sem_release(&sp.slots, false);
    gort_wg_done(&sp.wg);
}

static void spawn_main(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_procs(), sp.procs);

    sp.slots = MAX_LIVE;
    for (uintptr_t i = 0; i < NSPAWN; i++) {
        gort_sem_acquire(&sp.slots);
        gort_wg_add(&sp.wg, 1);
        CHECK_EQ(gort_go(spawned, (void *)i), 0);
    }
    gort_wg_wait(&sp.wg);

    CHECK_EQ(atomic_load(&sp.ran), NSPAWN);
    for (int i = 0; i < NSPAWN; i++)
        CHECK_MSG(atomic_load(&sp.runs[i]) == 1, "G %d ran %d times", i,
                  (int)atomic_load(&sp.runs[i]));
    CHECK_EQ(sp.slots, MAX_LIVE);
}

static void spawn_many(int procs)
{
    sp.procs = procs;
    run_main(spawn_main, NULL, procs, false);
    CHECK_EQ(atomic_load(&sp.ran), NSPAWN);
}

TEST(spawn_100k_yielding_gs_procs1)
{
    spawn_many(1);
}

TEST(spawn_100k_yielding_gs_procs2)
{
    spawn_many(2);
}

/* ------------------------------------------------------------------ */
/* Every G has its own id. */

#define NIDS 1000

static struct {
    uint64_t ids[NIDS];
    gort_waitgroup wg;
} gi;

static void record_id(void *arg)
{
    gi.ids[(uintptr_t)arg] = gort_goid(gort_self());
    gort_wg_done(&gi.wg);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void ids_main(void *arg)
{
    uint64_t mine = gort_goid(gort_self());

    (void)arg;
    CHECK_EQ(gort_goid(gort_self()), mine);
    for (uintptr_t i = 0; i < NIDS; i++) {
        gort_wg_add(&gi.wg, 1);
        CHECK_EQ(gort_go(record_id, (void *)i), 0);
    }
    gort_wg_wait(&gi.wg);

    qsort(gi.ids, NIDS, sizeof(gi.ids[0]), cmp_u64);
    for (int i = 0; i < NIDS; i++) {
        CHECK_NE(gi.ids[i], mine);
        if (i > 0)
            CHECK_MSG(gi.ids[i] != gi.ids[i - 1], "two Gs have id %llu",
                      (unsigned long long)gi.ids[i]);
    }
}

TEST(goids_are_unique)
{
    run_main(ids_main, NULL, 2, false);
}

/* ------------------------------------------------------------------ */
/*
 * A spawn-your-successor chain: each link spawns the next and exits.
 * A spawned G may go to runnext and inherit the spawner's time slice,
 * so the chain can hold its P for as long as it lasts unless the slice
 * ends. Two other Gs wait meanwhile, one in the local run queue and one
 * in the global queue; both must run before the chain ends.
 *
 * Each link burns a few microseconds so that the chain lasts far longer
 * than a time slice however fast spawning is.
 */

/* ThreadSanitizer slows the links' busy work twentyfold. */
#ifdef __SANITIZE_THREAD__
#define CHAIN_LEN 20000
#else
#define CHAIN_LEN 100000
#endif
#define LINK_WORK 5000

static struct {
    atomic_int links;       /* links started */
    atomic_int local_seen;  /* links started when the local victim ran */
    atomic_int global_seen; /* ... when the global victim ran again */
    gort_waitgroup wg;
} ch;

static void local_victim(void *arg)
{
    (void)arg;
    atomic_store(&ch.local_seen, atomic_load(&ch.links));
    gort_wg_done(&ch.wg);
}

static void global_victim(void *arg)
{
    (void)arg;
    /* gort_yield puts this G on the global queue. */
    gort_yield();
    atomic_store(&ch.global_seen, atomic_load(&ch.links));
    gort_wg_done(&ch.wg);
}

static void chain_link(void *arg)
{
    int n = atomic_fetch_add(&ch.links, 1) + 1;

    (void)arg;
    if (n == 1) {
        /* The first link starts the victims, then the chain goes on. */
        CHECK_EQ(gort_go(global_victim, NULL), 0);
        CHECK_EQ(gort_go(local_victim, NULL), 0);
    }
    spin(LINK_WORK);
    if (n < CHAIN_LEN)
        CHECK_EQ(gort_go(chain_link, NULL), 0);
    else
        gort_wg_done(&ch.wg);
}

static void chain_main(void *arg)
{
    (void)arg;
    atomic_store(&ch.local_seen, -1);
    atomic_store(&ch.global_seen, -1);
    gort_wg_add(&ch.wg, 3);
    CHECK_EQ(gort_go(chain_link, NULL), 0);
    gort_wg_wait(&ch.wg);
}

TEST(spawn_chain_does_not_starve_runnable_gs)
{
    run_main(chain_main, NULL, 1, false);
    fprintf(stderr, "victims ran after %d and %d of %d links\n",
            atomic_load(&ch.local_seen), atomic_load(&ch.global_seen),
            CHAIN_LEN);
    CHECK_EQ(atomic_load(&ch.links), CHAIN_LEN);
    CHECK_GE(atomic_load(&ch.local_seen), 1);
    CHECK_LT(atomic_load(&ch.local_seen), CHAIN_LEN);
    CHECK_GE(atomic_load(&ch.global_seen), 1);
    CHECK_LT(atomic_load(&ch.global_seen), CHAIN_LEN);
}

/* ------------------------------------------------------------------ */
/*
 * A G gets its stack when it first runs. A burst of spawns whose Gs
 * each run to the end before the next starts (one P, nothing blocks)
 * then needs one stack besides the spawner's, handed from each dead G
 * to the next; and Gs alive at the same time still each have their
 * own.
 */

/* ThreadSanitizer makes a fiber for each G that starts. */
#ifdef __SANITIZE_THREAD__
#define BURST 10000
#else
#define BURST 50000
#endif

static struct {
    gort_waitgroup wg;
    atomic_int ran;
    uint32_t hold;          /* keeps the "together" Gs alive */
    char *_Atomic sps[64];  /* a local's address in each of those */
} bu;

static void burst_g(void *arg)
{
    (void)arg;
    atomic_fetch_add(&bu.ran, 1);
    gort_wg_done(&bu.wg);
}

static void together_g(void *arg)
{
    char here;

    atomic_store(&bu.sps[(uintptr_t)arg], &here);
    gort_wg_done(&bu.wg);
    gort_sem_acquire(&bu.hold);
}

static void burst_main(void *arg)
{
    gort_stats st;

    (void)arg;
    gort_get_stats(&st);
    CHECK_EQ(st.stacks, 1); /* the main G's */

    gort_wg_add(&bu.wg, BURST);
    for (int i = 0; i < BURST; i++)
        CHECK_EQ(gort_go(burst_g, NULL), 0);
    gort_get_stats(&st);
    CHECK_EQ(st.stacks, 1); /* none of them has run yet */
    gort_wg_wait(&bu.wg);
    CHECK_EQ(atomic_load(&bu.ran), BURST);
    gort_get_stats(&st);
    CHECK_EQ(st.stacks, 2);

    /* 64 at once: one stack each, no two alike. */
    gort_wg_add(&bu.wg, 64);
    for (uintptr_t i = 0; i < 64; i++)
        CHECK_EQ(gort_go(together_g, (void *)i), 0);
    gort_wg_wait(&bu.wg);
    gort_get_stats(&st);
    CHECK_EQ(st.stacks, 1 + 64);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < i; j++) {
            ptrdiff_t d = atomic_load(&bu.sps[i]) - atomic_load(&bu.sps[j]);
            CHECK_MSG(d > 4096 || d < -4096, "Gs %d and %d share a stack",
                      i, j);
        }
    for (int i = 0; i < 64; i++)
        gort_sem_release(&bu.hold, false);
}

TEST(spawned_gs_get_stacks_when_they_first_run)
{
    run_main(burst_main, NULL, 1, false);
}
