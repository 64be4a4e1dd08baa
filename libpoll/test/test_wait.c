/*
 * test_wait.c: reset, wait, the semaphores' transitions, error checks
 * and the waiter count.
 */
#include <sys/epoll.h>

#include "poll_test.h"

/* State shared by a test's Gs. */
static struct {
    int fds[2];
    gpoll_desc *pd;
    gort_g *waiter;
    int result;
    int result2;
    gort_waitgroup wg;
} t;

/* ------------------------------------------------------------------ */

static void reset_body(void *arg)
{
    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);

    put_byte(t.fds[1]);
    await_ready(t.pd, GPOLL_READ);
    /* Reset drops the notification before an I/O attempt. */
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_OK);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_NIL);

    /* Write side: a fresh pipe end is writable at once. */
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_OK);
    CHECK_EQ(sem_state(t.pd, GPOLL_WRITE), GPOLL_SEM_NIL);
}

TEST(reset_drops_pending_notification)
{
    run_main(reset_body, NULL, 1, true);
}

static void reset_errors_body(void *arg)
{
    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);

    gpoll_set_deadline(t.pd, gort_now() - 1, GPOLL_READ);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_ERR_TIMEOUT);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_OK);
    gpoll_set_deadline(t.pd, gort_now() - 1, GPOLL_WRITE);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_ERR_TIMEOUT);

    /* Closing wins over a timeout. */
    gpoll_unblock(t.pd);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_ERR_CLOSING);
}

TEST(reset_reports_timeout_and_closing)
{
    run_main(reset_errors_body, NULL, 1, true);
}

/* ------------------------------------------------------------------ */

static void ready_consumed_body(void *arg)
{
    int32_t base = gpoll_waiters();

    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    put_byte(t.fds[1]);
    await_ready(t.pd, GPOLL_READ);

    /* Pending: no park, no waiter counted, notification consumed. */
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_OK);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_NIL);
    CHECK_EQ(gpoll_waiters(), base);
}

TEST(wait_consumes_pending_notification)
{
    run_main(ready_consumed_body, NULL, 1, true);
}

static void reader(void *arg)
{
    int mode = (int)(intptr_t)arg;

    t.waiter = gort_self();
    t.result = gpoll_wait(t.pd, mode);
    gort_wg_done(&t.wg);
}

static void parks_readable_body(void *arg)
{
    gpoll_state st;
    gort_g *g;

    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    t.result = -1;
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(reader, (void *)(intptr_t)GPOLL_READ), 0);

    g = await_parked(t.pd, GPOLL_READ);
    CHECK(g == t.waiter);
    CHECK_EQ(gpoll_waiters(), 1);
    st = inspect(t.pd);
    CHECK_EQ(st.rg, GPOLL_SEM_G);
    CHECK_EQ(st.wg, GPOLL_SEM_NIL);

    put_byte(t.fds[1]);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
    CHECK_EQ(gpoll_waiters(), 0);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_NIL);
    CHECK_EQ(drain(t.fds[0]), 1);
}

TEST(wait_parks_until_readable)
{
    run_main(parks_readable_body, NULL, 2, false);
}

static void parks_writable_body(void *arg)
{
    (void)arg;
    make_pipe(t.fds);
    fill(t.fds[1]);
    t.pd = open_pd(t.fds[1]);
    t.result = -1;
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(reader, (void *)(intptr_t)GPOLL_WRITE), 0);

    CHECK(await_parked(t.pd, GPOLL_WRITE) == t.waiter);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_NIL);
    CHECK_EQ(gpoll_waiters(), 1);

    /* Room in the pipe is a write edge. */
    CHECK_GT(drain(t.fds[0]), 0);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
    CHECK_EQ(gpoll_waiters(), 0);
}

TEST(wait_parks_until_writable)
{
    run_main(parks_writable_body, NULL, 2, false);
}

static void double_wait_body(void *arg)
{
    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(reader, (void *)(intptr_t)GPOLL_READ), 0);
    await_parked(t.pd, GPOLL_READ);
    /* A second reader on the same descriptor is a caller bug. */
    gpoll_wait(t.pd, GPOLL_READ);
}

TEST(wait_double_wait_aborts)
{
    run_main(double_wait_body, NULL, 1, true);
}

static void bad_mode_body(void *arg)
{
    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    gpoll_wait(t.pd, GPOLL_RW);
}

TEST(wait_bad_mode_aborts)
{
    run_main(bad_mode_body, NULL, 1, true);
}

/* ------------------------------------------------------------------ */

static void rw_waiter(void *arg)
{
    int mode = (int)(intptr_t)arg;
    int r = gpoll_wait(t.pd, mode);

    if (mode == GPOLL_READ)
        t.result = r;
    else
        t.result2 = r;
    gort_wg_done(&t.wg);
}

/* A socket end with a full send buffer and nothing to read: both a
 * reader and a writer can park on it. */
static void park_both(void)
{
    make_socketpair(t.fds);
    fill(t.fds[0]);
    t.pd = open_pd(t.fds[0]);
    t.result = t.result2 = -1;
    gort_wg_add(&t.wg, 2);
    CHECK_EQ(gort_go(rw_waiter, (void *)(intptr_t)GPOLL_READ), 0);
    CHECK_EQ(gort_go(rw_waiter, (void *)(intptr_t)GPOLL_WRITE), 0);
    await_parked(t.pd, GPOLL_READ);
    await_parked(t.pd, GPOLL_WRITE);
    CHECK_EQ(gpoll_waiters(), 2);
}

static void unblock_both_body(void *arg)
{
    gpoll_state st;

    (void)arg;
    park_both();
    gpoll_set_deadline(t.pd, gort_now() + 10 * SEC, GPOLL_READ);
    gpoll_set_deadline(t.pd, gort_now() + 20 * SEC, GPOLL_WRITE);
    CHECK(inspect(t.pd).rt_set && inspect(t.pd).wt_set);

    gpoll_unblock(t.pd);
    st = inspect(t.pd);
    CHECK(st.closing);
    CHECK(!st.rt_set && !st.wt_set);
    CHECK_EQ(st.rg, GPOLL_SEM_NIL);
    CHECK_EQ(st.wg, GPOLL_SEM_NIL);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_CLOSING);
    CHECK_EQ(t.result2, GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_waiters(), 0);
    gpoll_close(t.pd);
    close(t.fds[0]);

    /* The deleted timers never fire into the reused descriptor. */
    gort_sleep(30 * SEC);
}

TEST(unblock_wakes_both_waiters_with_closing)
{
    run_main(unblock_both_body, NULL, 1, true);
}

static void wait_after_unblock_body(void *arg)
{
    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    put_byte(t.fds[1]);
    await_ready(t.pd, GPOLL_READ);
    gpoll_unblock(t.pd);
    /* Closing wins even over a pending notification. */
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_WRITE), GPOLL_ERR_CLOSING);
}

TEST(wait_after_unblock_returns_closing)
{
    run_main(wait_after_unblock_body, NULL, 1, true);
}

/* ------------------------------------------------------------------ */
/* Error checks: closing, then timeout, then not pollable (reads). */

static void checkerr_order_body(void *arg)
{
    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_OK);

    gpoll__set_event_err(t.pd, true, inspect(t.pd).fdseq);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_ERR_NOT_POLLABLE);
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_ERR_NOT_POLLABLE);
    /* A write error is left for the write call to report. */
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_OK);

    gpoll_set_deadline(t.pd, gort_now(), GPOLL_RW);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_ERR_TIMEOUT);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_ERR_TIMEOUT);

    gpoll_unblock(t.pd);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_WRITE), GPOLL_ERR_CLOSING);
}

TEST(checkerr_order_closing_timeout_not_pollable)
{
    run_main(checkerr_order_body, NULL, 1, true);
}

static void event_err_body(void *arg)
{
    gort_glist l = {0};
    gpoll_state st;

    (void)arg;
    park_both();
    st = inspect(t.pd);
    /* An error event readies both directions and marks the error. */
    gpoll__netpoll_event(gpoll__tag_pack(t.pd, st.fdseq), EPOLLERR, 0, &l);
    CHECK_EQ(l.n, 2);
    CHECK(inspect(t.pd).info & GPOLL_INFO_EVENT_ERR);
    CHECK_EQ(gpoll_waiters(), 0);
    gort_ready_list(&l);
    gort_wg_wait(&t.wg);
    /* Both were woken as ready: the G that was parked does not recheck
     * errors when its semaphore says ready. */
    CHECK_EQ(t.result, GPOLL_OK);
    CHECK_EQ(t.result2, GPOLL_OK);
    /* The next read wait reports it; writes do not. */
    CHECK_EQ(gpoll_wait(t.pd, GPOLL_READ), GPOLL_ERR_NOT_POLLABLE);
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_WRITE), GPOLL_OK);

    /* Any event other than a bare EPOLLERR clears it again. */
    gpoll__netpoll_event(gpoll__tag_pack(t.pd, st.fdseq), EPOLLERR | EPOLLIN, 0,
                         &l);
    CHECK(!(inspect(t.pd).info & GPOLL_INFO_EVENT_ERR));
    CHECK_EQ(gpoll_reset(t.pd, GPOLL_READ), GPOLL_OK);
}

TEST(event_error_fails_only_reads)
{
    run_main(event_err_body, NULL, 1, true);
}

/* ------------------------------------------------------------------ */
/* The waiter count follows every kind of wake-up. */

static void waiters_body(void *arg)
{
    (void)arg;
    CHECK_EQ(gpoll_waiters(), 0);
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);

    /* By event. */
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(reader, (void *)(intptr_t)GPOLL_READ), 0);
    await_parked(t.pd, GPOLL_READ);
    CHECK_EQ(gpoll_waiters(), 1);
    put_byte(t.fds[1]);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_OK);
    CHECK_EQ(gpoll_waiters(), 0);
    drain(t.fds[0]);

    /* By deadline. */
    gpoll_set_deadline(t.pd, gort_now() + 50 * MS, GPOLL_READ);
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(reader, (void *)(intptr_t)GPOLL_READ), 0);
    await_parked(t.pd, GPOLL_READ);
    CHECK_EQ(gpoll_waiters(), 1);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_TIMEOUT);
    CHECK_EQ(gpoll_waiters(), 0);
    gpoll_set_deadline(t.pd, 0, GPOLL_READ);

    /* By close. */
    gort_wg_add(&t.wg, 1);
    CHECK_EQ(gort_go(reader, (void *)(intptr_t)GPOLL_READ), 0);
    await_parked(t.pd, GPOLL_READ);
    CHECK_EQ(gpoll_waiters(), 1);
    gpoll_unblock(t.pd);
    gort_wg_wait(&t.wg);
    CHECK_EQ(t.result, GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_waiters(), 0);
}

TEST(waiters_count_every_wakeup)
{
    run_main(waiters_body, NULL, 1, true);
}

/* A wake-up that lands between "about to park" and the park itself
 * must neither lose the G nor count it. */
static bool commit_raced;

static void ready_during_commit_body(void *arg)
{
    gort_glist l = {0};

    (void)arg;
    make_pipe(t.fds);
    t.pd = open_pd(t.fds[0]);
    /* Forge the window: PD_WAIT stored, the event arrives. */
    atomic_store(&t.pd->rg, GPOLL__PD_WAIT);
    gpoll__ready(&l, t.pd, GPOLL_READ);
    CHECK_EQ(l.n, 0);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_READY);
    CHECK_EQ(gpoll_waiters(), 0);
    atomic_store(&t.pd->rg, GPOLL__PD_NIL);

    /* Same window for a deadline: it empties the semaphore, and the
     * commit then fails, so the G returns without parking. */
    atomic_store(&t.pd->rg, GPOLL__PD_WAIT);
    gpoll_set_deadline(t.pd, gort_now() - 1, GPOLL_READ);
    CHECK_EQ(sem_state(t.pd, GPOLL_READ), GPOLL_SEM_NIL);
    CHECK_EQ(gpoll_waiters(), 0);
    commit_raced = true;
}

TEST(wakeup_before_commit_is_not_lost)
{
    run_main(ready_during_commit_body, NULL, 1, true);
    CHECK(commit_raced);
}
