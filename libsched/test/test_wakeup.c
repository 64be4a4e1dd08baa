/*
 * Wake-up latency: a G readied while every P is idle starts promptly.
 *
 * With two Ps, the main G parks and nothing else runs, so both Ps go
 * idle and their Ms sleep. A foreign thread waits a moment, then
 * readies the G. The time from gort_ready to the G running is measured
 * on the real clock, fifty times: the median must be under 1 ms (an
 * idle M is woken, nobody waits for a timer or the monitor), the worst
 * case under a generous 50 ms.
 */
#include "sched_test.h"

#define TRIALS 50
#define IDLE_PAUSE (2 * MS)

static struct {
    gort_g *_Atomic parked;   /* the main G, once it has parked */
    _Atomic int64_t ready_at; /* real time just before gort_ready */
    atomic_int registered;    /* the readier has its own G */
    int64_t latency[TRIALS];
} lat;

static bool publish_parked(gort_g *g, void *arg)
{
    (void)arg;
    atomic_store(&lat.parked, g);
    return true;
}

static void *readier(void *arg)
{
    (void)arg;
    /* A foreign thread known to the runtime (it gets its own G) tells
     * the runtime that someone outside the Gs may still wake them. */
    CHECK(gort_self() != NULL);
    atomic_store(&lat.registered, 1);

    for (int i = 0; i < TRIALS; i++) {
        gort_g *g;

        while ((g = atomic_exchange(&lat.parked, NULL)) == NULL)
            thread_sleep(20 * US);
        /* Long enough for the Ps to go idle and their Ms to sleep. */
        thread_sleep(IDLE_PAUSE);
        atomic_store(&lat.ready_at, gort_nanotime_real());
        gort_ready(g);
    }
    return NULL;
}

static void latency_main(void *arg)
{
    pthread_t t;

    (void)arg;
    CHECK_EQ(pthread_create(&t, NULL, readier, NULL), 0);
    CHECK(wait_flag(&lat.registered, 10 * SEC));

    for (int i = 0; i < TRIALS; i++) {
        gort_park(publish_parked, NULL, GORT_WAIT_OTHER);
        lat.latency[i] = gort_nanotime_real() - atomic_load(&lat.ready_at);
    }
    join_thread(t);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

TEST(ready_on_idle_p_starts_within_1ms)
{
    int64_t median;

    run_main(latency_main, NULL, 2, false);

    qsort(lat.latency, TRIALS, sizeof(lat.latency[0]), cmp_i64);
    median = (lat.latency[TRIALS / 2 - 1] + lat.latency[TRIALS / 2]) / 2;
    fprintf(stderr, "latency: min %lld ns, median %lld ns, max %lld ns\n",
            (long long)lat.latency[0], (long long)median,
            (long long)lat.latency[TRIALS - 1]);
    CHECK_GE(lat.latency[0], 0);
    CHECK_LT(median, (int64_t)(1 * MS * gtest_scale()));
    CHECK_LT(lat.latency[TRIALS - 1], (int64_t)(50 * MS * gtest_scale()));
}

/* ------------------------------------------------------------------ */
/* A G readied into the runnext of a P whose G then keeps the P without
 * switching is stolen by an idle P after a short grace period, as Go
 * steals runnext from a running P. */

static struct {
    uint32_t sem;
    atomic_int ran;
} st;

static void stranded_b(void *arg)
{
    (void)arg;
    gort_sem_acquire(&st.sem);
    atomic_store(&st.ran, 1);
}

static void stranded_a(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_go(stranded_b, NULL), 0);
    gort_sleep(10 * MS);                 /* let B park */
    gort_sem_release(&st.sem, false);    /* B -> this P's runnext */
    int64_t deadline = gort_nanotime_real() + 5 * SEC;
    while (!atomic_load(&st.ran) && gort_nanotime_real() < deadline)
        ;                                /* never yields */
    CHECK(atomic_load(&st.ran));
}

TEST(runnext_of_busy_p_is_stolen_by_idle_p)
{
    run_main(stranded_a, NULL, 2, false);
}
