/*
 * test_deadline.c: read and write deadlines and their timers. Most run
 * on the virtual clock, where time moves only when every G is blocked,
 * so that "fires at the deadline" can be checked exactly.
 */
#include "poll_test.h"

static struct {
    int fds[2];
    gpoll_desc *pd;
    int result;
    int result2;
    int64_t woke_at;
    int64_t woke_at2;
    gort_waitgroup wg;
} t;

static void waiter(void *arg)
{
    int mode = (int)(intptr_t)arg;
    int r = gpoll_wait(t.pd, mode);

    if (mode == GPOLL_READ) {
        t.result = r;
        t.woke_at = gort_now();
    } else {
        t.result2 = r;
        t.woke_at2 = gort_now();
    }
    gort_wg_done(&t.wg);
}

static void spawn(int mode)
{
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(waiter, (void *)(intptr_t)mode), 0);
}

static void setup_pipe(void)
{
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    t.result = t.result2 = -1;
}

/* ------------------------------------------------------------------ */

static void past_body(void *arg)
{
    (void)arg;
    setup_pipe();
    /* Data queued and the notification pending... */
    put_byte(t.fds[1]);
    await_ready(t.pd, GPOLL_READ);

    /* ...yet a deadline equal to now has expired: timeout at once. */
    gpoll_set_deadline(t.pd, gort_now(), GPOLL_READ);
    CHECK_EQ(inspect(t.pd).rd, -1);
    CHECK(inspect(t.pd).info & GPOLL_INFO_EXPIRED_READ);
    CHECK(!inspect(t.pd).rt_set);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_ERR_TIMEOUT);
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_ERR_TIMEOUT);

    /* One in the past, likewise. */
    gpoll_set_deadline(t.pd, 0, GPOLL_READ);
    gpoll_set_deadline(t.pd, gort_now() - 5 * SEC, GPOLL_READ);
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_ERR_TIMEOUT);
    gpoll_set_deadline(t.pd, -7, GPOLL_READ);
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_ERR_TIMEOUT);

    /* Clearing it lets the next read succeed, data and all. */
    gpoll_set_deadline(t.pd, 0, GPOLL_READ);
    CHECK_EQ(inspect(t.pd).rd, 0);
    CHECK(!(inspect(t.pd).info & GPOLL_INFO_EXPIRED_READ));
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_OK);
    CHECK_EQ(drain(t.fds[0]), 1);
}

TEST(deadline_past_or_now_times_out_even_with_data)
{
    run_main(past_body, NULL, 1, true);
}

static void fires_body(void *arg)
{
    int64_t deadline;
    gpoll_state st;

    (void)arg;
    setup_pipe();
    deadline = gort_now() + 250 * MS;
    gpoll_set_deadline(t.pd, deadline, GPOLL_READ);
    st = inspect(t.pd);
    CHECK_EQ(st.rd, deadline);
    CHECK(st.rt_set);
    CHECK(!st.wt_set);
    CHECK(!(st.info & GPOLL_INFO_EXPIRED_READ));

    spawn(GPOLL_READ);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_GE(t.woke_at, deadline);
    /* Virtual time jumps straight to the timer. */
    CHECK_LT(t.woke_at, deadline + 50 * MS);
    st = inspect(t.pd);
    CHECK_EQ(st.rd, -1);
    CHECK(st.info & GPOLL_INFO_EXPIRED_READ);
    CHECK(!(st.info & GPOLL_INFO_EXPIRED_WRITE));
    /* Writes are unaffected. */
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_OK);
}

TEST(deadline_fires_while_parked)
{
    run_main(fires_body, NULL, 1, true);
}

static void write_fires_body(void *arg)
{
    int64_t deadline;

    (void)arg;
    make_pipe(t.fds);
    fill(t.fds[1]);
    t.pd = open_pd(t.fds[1]);
    deadline = gort_now() + 100 * MS;
    gpoll_set_deadline(t.pd, deadline, GPOLL_WRITE);
    CHECK(inspect(t.pd).wt_set);
    CHECK(!inspect(t.pd).rt_set);
    spawn(GPOLL_WRITE);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result2, GPOLL_ERR_TIMEOUT);
    CHECK_GE(t.woke_at2, deadline);
    CHECK_EQ(inspect(t.pd).wd, -1);
    CHECK(inspect(t.pd).info & GPOLL_INFO_EXPIRED_WRITE);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_OK);
}

TEST(deadline_write_fires_while_parked)
{
    run_main(write_fires_body, NULL, 1, true);
}

static void expire_parked_body(void *arg)
{
    (void)arg;
    setup_pipe();
    gpoll_set_deadline(t.pd, gort_now() + 10 * SEC, GPOLL_READ);
    spawn(GPOLL_READ);
    await_parked(t.pd, GPOLL_READ);
    /* Moving the deadline into the past wakes the parked reader now. */
    gpoll_set_deadline(t.pd, gort_now() - 1, GPOLL_READ);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_NIL);
    CHECK(!inspect(t.pd).rt_set);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_LT(t.woke_at, gort_now() + 1);
    CHECK_EQ(gpoll_waiters(), 0);
}

TEST(deadline_set_in_past_wakes_parked_reader)
{
    run_main(expire_parked_body, NULL, 1, true);
}

static void clear_body(void *arg)
{
    gpoll_state st;
    uintptr_t rseq;

    (void)arg;
    setup_pipe();
    gpoll_set_deadline(t.pd, gort_now() + 100 * MS, GPOLL_READ);
    rseq = inspect(t.pd).rseq;
    gpoll_set_deadline(t.pd, 0, GPOLL_READ);
    st = inspect(t.pd);
    CHECK_EQ(st.rd, 0);
    CHECK(!st.rt_set);
    /* The old timer is invalidated as well as deleted. */
    CHECK_EQ(st.rseq, rseq + 1);

    /* A reader with no deadline waits for data, however long. */
    spawn(GPOLL_READ);
    await_parked(t.pd, GPOLL_READ);
    gort_sleep(5 * SEC);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_G);
    put_byte(t.fds[1]);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
}

TEST(deadline_clear_disarms_timer)
{
    run_main(clear_body, NULL, 1, true);
}

static void move_body(void *arg)
{
    int64_t start, later, earlier;
    uintptr_t rseq;

    (void)arg;
    setup_pipe();
    start = gort_now();
    gpoll_set_deadline(t.pd, start + 100 * MS, GPOLL_READ);
    rseq = inspect(t.pd).rseq;
    spawn(GPOLL_READ);
    await_parked(t.pd, GPOLL_READ);

    /* Later: the first timer is stale and must not wake the reader. */
    later = start + 400 * MS;
    gpoll_set_deadline(t.pd, later, GPOLL_READ);
    CHECK_EQ(inspect(t.pd).rseq, rseq + 1);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_GE(t.woke_at, later);

    /* Earlier: the reset timer fires at the new time. */
    gpoll_set_deadline(t.pd, 0, GPOLL_READ);
    start = gort_now();
    gpoll_set_deadline(t.pd, start + 900 * MS, GPOLL_READ);
    spawn(GPOLL_READ);
    await_parked(t.pd, GPOLL_READ);
    earlier = start + 300 * MS;
    gpoll_set_deadline(t.pd, earlier, GPOLL_READ);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_GE(t.woke_at, earlier);
    CHECK_LT(t.woke_at, start + 900 * MS);
}

TEST(deadline_move_later_and_earlier)
{
    run_main(move_body, NULL, 1, true);
}

static void same_body(void *arg)
{
    int64_t d;
    uintptr_t rseq;

    (void)arg;
    setup_pipe();
    d = gort_now() + SEC;
    gpoll_set_deadline(t.pd, d, GPOLL_READ);
    rseq = inspect(t.pd).rseq;
    /* The same deadline again changes nothing, not even the timer. */
    gpoll_set_deadline(t.pd, d, GPOLL_READ);
    CHECK_EQ(inspect(t.pd).rseq, rseq);
    CHECK_EQ(inspect(t.pd).rd, d);
    /* Two past deadlines are both "expired": the second is a no-op. */
    gpoll_set_deadline(t.pd, gort_now() - 1, GPOLL_READ);
    rseq = inspect(t.pd).rseq;
    gpoll_set_deadline(t.pd, gort_now() - 2, GPOLL_READ);
    CHECK_EQ(inspect(t.pd).rseq, rseq);
}

TEST(deadline_unchanged_is_noop)
{
    run_main(same_body, NULL, 1, true);
}

/* ------------------------------------------------------------------ */
/* Equal deadlines share the read timer. */

static void park_both(void)
{
    make_socketpair(t.fds);
    fill(t.fds[0]);
    t.pd = open_pd(t.fds[0]);
    t.result = t.result2 = -1;
    spawn(GPOLL_READ);
    spawn(GPOLL_WRITE);
    await_parked(t.pd, GPOLL_READ);
    await_parked(t.pd, GPOLL_WRITE);
}

static void combo_body(void *arg)
{
    int64_t d;
    gpoll_state st;

    (void)arg;
    park_both();
    d = gort_now() + 200 * MS;
    gpoll_set_deadline(t.pd, d, GPOLL_RW);
    st = inspect(t.pd);
    CHECK_EQ(st.rd, d);
    CHECK_EQ(st.wd, d);
    CHECK(st.rt_set);
    CHECK(!st.wt_set);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_EQ(t.result2, GPOLL_ERR_TIMEOUT);
    CHECK_GE(t.woke_at, d);
    CHECK_GE(t.woke_at2, d);
    st = inspect(t.pd);
    CHECK_EQ(st.rd, -1);
    CHECK_EQ(st.wd, -1);
    CHECK_EQ(gpoll_waiters(), 0);
}

TEST(deadline_equal_read_write_share_one_timer)
{
    run_main(combo_body, NULL, 1, true);
}

static void combo_by_parts_body(void *arg)
{
    int64_t d;
    gpoll_state st;
    uintptr_t rseq, wseq;

    (void)arg;
    setup_pipe();
    d = gort_now() + SEC;
    /* Set separately, equal: the write timer gives way to the read
     * timer, which now serves both. */
    gpoll_set_deadline(t.pd, d, GPOLL_WRITE);
    CHECK(inspect(t.pd).wt_set);
    wseq = inspect(t.pd).wseq;
    rseq = inspect(t.pd).rseq;
    gpoll_set_deadline(t.pd, d, GPOLL_READ);
    st = inspect(t.pd);
    CHECK(st.rt_set);
    CHECK(!st.wt_set);
    CHECK_EQ(st.wseq, wseq + 1);
    CHECK_EQ(st.rseq, rseq);

    /* Split again: each gets its own timer, and the shared one is
     * re-armed (a new sequence) as read-only. */
    gpoll_set_deadline(t.pd, d + SEC, GPOLL_WRITE);
    st = inspect(t.pd);
    CHECK(st.rt_set);
    CHECK(st.wt_set);
    CHECK_EQ(st.rseq, rseq + 1);
    CHECK_EQ(st.rd, d);
    CHECK_EQ(st.wd, d + SEC);
}

TEST(deadline_sharing_follows_equality)
{
    run_main(combo_by_parts_body, NULL, 1, true);
}

static void split_fire_body(void *arg)
{
    int64_t now;

    (void)arg;
    park_both();
    now = gort_now();
    gpoll_set_deadline(t.pd, now + 100 * MS, GPOLL_RW);
    gpoll_set_deadline(t.pd, now + 300 * MS, GPOLL_WRITE);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_EQ(t.result2, GPOLL_ERR_TIMEOUT);
    CHECK_GE(t.woke_at, now + 100 * MS);
    CHECK_LT(t.woke_at, now + 300 * MS);
    CHECK_GE(t.woke_at2, now + 300 * MS);
}

TEST(deadline_split_timers_fire_separately)
{
    run_main(split_fire_body, NULL, 1, true);
}

/* ------------------------------------------------------------------ */

static void far_body(void *arg)
{
    (void)arg;
    setup_pipe();
    gpoll_set_deadline(t.pd, INT64_MAX, GPOLL_READ);
    CHECK_EQ(inspect(t.pd).rd, INT64_MAX);
    CHECK(!(inspect(t.pd).info & GPOLL_INFO_EXPIRED_READ));
    spawn(GPOLL_READ);
    await_parked(t.pd, GPOLL_READ);
    /* A year of virtual time: the far deadline does not fire. */
    gort_sleep(365 * 24 * 3600 * SEC);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_G);
    put_byte(t.fds[1]);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
}

TEST(deadline_far_future_never_fires)
{
    run_main(far_body, NULL, 1, true);
}

static void stale_body(void *arg)
{
    uintptr_t old;
    gpoll_state st;

    (void)arg;
    setup_pipe();
    gpoll_set_deadline(t.pd, gort_now() + SEC, GPOLL_READ);
    old = inspect(t.pd).rseq;
    gpoll_set_deadline(t.pd, gort_now() + 2 * SEC, GPOLL_READ);
    spawn(GPOLL_READ);
    await_parked(t.pd, GPOLL_READ);

    /* The first timer's callback, arriving late: it must see its
     * sequence is gone and leave the reader and deadline alone. */
    gpoll__deadline(t.pd, old, true, false);
    st = inspect(t.pd);
    CHECK_EQ(st.rg, GPOLL_SEM_G);
    CHECK_GT(st.rd, 0);
    CHECK(!(st.info & GPOLL_INFO_EXPIRED_READ));

    /* The current one does fire. */
    gpoll__deadline(t.pd, st.rseq, true, false);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
}

TEST(deadline_stale_timer_is_ignored)
{
    run_main(stale_body, NULL, 1, true);
}

static void reuse_stale_body(void *arg)
{
    uintptr_t old;
    gpoll_desc *first;

    (void)arg;
    setup_pipe();
    first = t.pd;
    gpoll_set_deadline(t.pd, gort_now() + SEC, GPOLL_READ);
    old = inspect(t.pd).rseq;
    gpoll_unblock(t.pd);
    gpoll_close(t.pd);

    /* The descriptor serves a new fd with a later deadline. */
    t.pd = open_pd(t.fds[0]);
    CHECK(t.pd == first);
    gpoll_set_deadline(t.pd, gort_now() + 5 * SEC, GPOLL_READ);
    spawn(GPOLL_READ);
    await_parked(t.pd, GPOLL_READ);
    /* The old registration's timer fires into the reused descriptor. */
    gpoll__deadline(t.pd, old, true, false);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_G);
    put_byte(t.fds[1]);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
}

TEST(deadline_timer_of_previous_use_is_ignored)
{
    run_main(reuse_stale_body, NULL, 1, true);
}

static void closing_body(void *arg)
{
    gpoll_state st;

    (void)arg;
    setup_pipe();
    gpoll_unblock(t.pd);
    gpoll_set_deadline(t.pd, gort_now() + SEC, GPOLL_RW);
    st = inspect(t.pd);
    CHECK_EQ(st.rd, 0);
    CHECK_EQ(st.wd, 0);
    CHECK(!st.rt_set && !st.wt_set);
}

TEST(deadline_on_closing_descriptor_is_ignored)
{
    run_main(closing_body, NULL, 1, true);
}

static void refire_body(void *arg)
{
    int64_t d;

    (void)arg;
    setup_pipe();
    /* A fired timer is re-armed by the next deadline. */
    for (int i = 0; i < 5; i++) {
        d = gort_now() + 50 * MS;
        gpoll_set_deadline(t.pd, d, GPOLL_READ);
        spawn(GPOLL_READ);
        gort_wg_wait(&t.wg);
        CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
        CHECK_GE(t.woke_at, d);
        CHECK(inspect(t.pd).rt_set);
    }
}

TEST(deadline_rearms_after_firing)
{
    run_main(refire_body, NULL, 1, true);
}

static void mode_body(void *arg)
{
    (void)arg;
    setup_pipe();
    gpoll_set_deadline(t.pd, 1, 0);
}

TEST(deadline_bad_mode_aborts)
{
    run_main(mode_body, NULL, 1, true);
}
