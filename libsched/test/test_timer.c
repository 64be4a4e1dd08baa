/*
 * Timers: set, modify earlier and later, delete, periodic, and many
 * timers firing in time order.
 *
 * All but one run on the virtual clock with one P: time moves only when
 * every G is blocked, and then straight to the next timer, so a timer
 * fires exactly at its when and the tests can say so.
 */
#include "sched_test.h"

#define MAX_FIRES 16

/* What a timer function saw, and a wake-up for the G that waits. */
struct rec {
    event ev;
    int target; /* fire ev at this many calls */
    atomic_int fires;
    int64_t at[MAX_FIRES]; /* gort_now() in each call */
    uintptr_t seq[MAX_FIRES];
    int64_t delay[MAX_FIRES];
};

static void on_timer(void *arg, uintptr_t seq, int64_t delay)
{
    struct rec *r = arg;
    int n = atomic_fetch_add(&r->fires, 1);

    if (n < MAX_FIRES) {
        r->at[n] = gort_now();
        r->seq[n] = seq;
        r->delay[n] = delay;
    }
    if (n + 1 == r->target)
        event_fire(&r->ev);
}

static void rec_init(struct rec *r, int target)
{
    memset(r, 0, sizeof(*r));
    r->target = target;
}

static void run_vclock(gort_fn fn)
{
    run_main(fn, NULL, 1, true);
}

/* ------------------------------------------------------------------ */

static gort_timer t1 = GORT_TIMER_INIT;
static struct rec r1;

static void set_fires_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    rec_init(&r1, 1);
    gort_timer_set(&t1, t0 + 5 * MS, 0, on_timer, &r1, 42);
    event_wait(&r1.ev);

    CHECK_EQ(atomic_load(&r1.fires), 1);
    CHECK_EQ(r1.seq[0], 42);
    CHECK_EQ(r1.at[0], t0 + 5 * MS);
    CHECK_GE(r1.delay[0], 0);

    /* A one-shot timer fires once; once fired, it is no longer set. */
    gort_sleep(50 * MS);
    CHECK_EQ(atomic_load(&r1.fires), 1);
    CHECK(!gort_timer_del(&t1));
}

TEST(timer_fires_at_its_time)
{
    run_vclock(set_fires_main);
}

static void past_fires_main(void *arg)
{
    (void)arg;
    /* Move the clock on first, so that a time in the past is still a
     * positive one whatever the virtual clock starts at. */
    gort_sleep(1 * SEC);
    rec_init(&r1, 1);
    /* when <= now fires as soon as the scheduler looks. */
    gort_timer_set(&t1, gort_now() - 500 * MS, 0, on_timer, &r1, 1);
    event_wait(&r1.ev);
    CHECK_EQ(atomic_load(&r1.fires), 1);
    CHECK_GE(r1.delay[0], 500 * MS);
}

TEST(timer_in_the_past_fires_at_once)
{
    run_vclock(past_fires_main);
}

static void real_clock_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    rec_init(&r1, 1);
    gort_timer_set(&t1, t0 + 20 * MS, 0, on_timer, &r1, 7);
    event_wait(&r1.ev);
    CHECK_EQ(atomic_load(&r1.fires), 1);
    CHECK_GE(r1.at[0], t0 + 20 * MS);
    CHECK_LT(r1.at[0], t0 + (int64_t)(5 * SEC * gtest_scale()));
    CHECK_GE(gort_nanotime_real(), t0 + 20 * MS);
}

TEST(timer_fires_on_the_real_clock)
{
    run_main(real_clock_main, NULL, 2, false);
}

/* ------------------------------------------------------------------ */

static void modify_earlier_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    rec_init(&r1, 1);
    gort_timer_set(&t1, t0 + 100 * MS, 0, on_timer, &r1, 1);
    gort_timer_modify(&t1, t0 + 10 * MS, 0);
    event_wait(&r1.ev);
    CHECK_EQ(r1.at[0], t0 + 10 * MS);

    /* It does not fire again at the old time. */
    gort_sleep_until(t0 + 200 * MS);
    CHECK_EQ(atomic_load(&r1.fires), 1);
}

TEST(timer_modify_earlier)
{
    run_vclock(modify_earlier_main);
}

static void modify_later_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    rec_init(&r1, 1);
    gort_timer_set(&t1, t0 + 10 * MS, 0, on_timer, &r1, 1);
    gort_timer_modify(&t1, t0 + 100 * MS, 0);

    /* Past the old time: nothing yet. */
    gort_sleep_until(t0 + 50 * MS);
    CHECK_EQ(atomic_load(&r1.fires), 0);

    event_wait(&r1.ev);
    CHECK_EQ(r1.at[0], t0 + 100 * MS);
    gort_sleep_until(t0 + 200 * MS);
    CHECK_EQ(atomic_load(&r1.fires), 1);
}

TEST(timer_modify_later)
{
    run_vclock(modify_later_main);
}

static void modify_rearms_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    rec_init(&r1, 2);
    gort_timer_set(&t1, t0 + 10 * MS, 0, on_timer, &r1, 3);
    gort_sleep_until(t0 + 20 * MS);
    CHECK_EQ(atomic_load(&r1.fires), 1);

    /* Modifying a timer that has fired sets it again. */
    gort_timer_modify(&t1, t0 + 30 * MS, 0);
    event_wait(&r1.ev);
    CHECK_EQ(atomic_load(&r1.fires), 2);
    CHECK_EQ(r1.at[1], t0 + 30 * MS);
    CHECK_EQ(r1.seq[1], 3);
}

TEST(timer_modify_rearms_a_fired_timer)
{
    run_vclock(modify_rearms_main);
}

/* ------------------------------------------------------------------ */

static void delete_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    rec_init(&r1, 1);
    gort_timer_set(&t1, t0 + 10 * MS, 0, on_timer, &r1, 1);
    CHECK(gort_timer_del(&t1));
    /* Deleted already: nothing left to stop. */
    CHECK(!gort_timer_del(&t1));

    gort_sleep_until(t0 + 100 * MS);
    CHECK_EQ(atomic_load(&r1.fires), 0);

    /* A deleted timer can be set again, and then fires. */
    gort_timer_set(&t1, gort_now() + 10 * MS, 0, on_timer, &r1, 2);
    event_wait(&r1.ev);
    CHECK_EQ(atomic_load(&r1.fires), 1);
    CHECK_EQ(r1.seq[0], 2);
    CHECK_EQ(r1.at[0], t0 + 110 * MS);
}

TEST(timer_deleted_before_firing_never_fires)
{
    run_vclock(delete_main);
}

/* ------------------------------------------------------------------ */

#define PERIOD (10 * MS)
#define PERIODIC_FIRES 5

static void periodic_main(void *arg)
{
    int64_t t0 = gort_now();
    int after_del;

    (void)arg;
    rec_init(&r1, PERIODIC_FIRES);
    gort_timer_set(&t1, t0 + PERIOD, PERIOD, on_timer, &r1, 9);
    event_wait(&r1.ev);
    gort_timer_del(&t1);
    after_del = atomic_load(&r1.fires);
    CHECK_EQ(after_del, PERIODIC_FIRES);

    for (int k = 0; k < PERIODIC_FIRES; k++) {
        CHECK_EQ(r1.at[k], t0 + (k + 1) * PERIOD);
        CHECK_EQ(r1.seq[k], 9);
    }

    /* Deleted: no more calls. */
    gort_sleep(10 * PERIOD);
    CHECK_EQ(atomic_load(&r1.fires), after_del);
}

TEST(timer_periodic_fires_repeatedly)
{
    run_vclock(periodic_main);
}

/* ------------------------------------------------------------------ */

#define NTIMERS 1000

static struct {
    gort_timer t[NTIMERS];
    int64_t when[NTIMERS];
    event ev;
    atomic_int n;
    uintptr_t order[NTIMERS]; /* seq (timer index) in firing order */
    int64_t at[NTIMERS];
} many;

static void on_many(void *arg, uintptr_t seq, int64_t delay)
{
    int n = atomic_fetch_add(&many.n, 1);

    (void)arg;
    (void)delay;
    CHECK_LT(n, NTIMERS);
    many.order[n] = seq;
    many.at[n] = gort_now();
    if (n + 1 == NTIMERS)
        event_fire(&many.ev);
}

static void many_main(void *arg)
{
    int64_t t0 = gort_now();

    (void)arg;
    /* Distinct times in a scrambled order: 7919 is prime to NTIMERS. */
    for (int i = 0; i < NTIMERS; i++) {
        many.when[i] = t0 + (1 + (int64_t)i * 7919 % NTIMERS) * 100 * US;
        gort_timer_set(&many.t[i], many.when[i], 0, on_many, NULL,
                       (uintptr_t)i);
    }
    event_wait(&many.ev);

    CHECK_EQ(atomic_load(&many.n), NTIMERS);
    for (int k = 0; k < NTIMERS; k++) {
        uintptr_t i = many.order[k];

        CHECK_LT(i, NTIMERS);
        CHECK_EQ(many.at[k], many.when[i]);
        if (k > 0)
            CHECK_MSG(many.when[i] > many.when[many.order[k - 1]],
                      "timer %d fired after a later one", (int)many.order[k]);
    }
}

TEST(timers_fire_in_time_order)
{
    run_vclock(many_main);
}
