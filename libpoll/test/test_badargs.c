/*
 * Bad arguments through libpoll's public functions: each is a clear
 * error code or a documented no-op, never a crash. (A bad mode is an
 * invariant and aborts; test_wait.c and test_deadline.c cover that.)
 */
#include "poll_test.h"

static void open_rejects_body(void *arg)
{
    gpoll_desc *pd = (gpoll_desc *)1;
    gpoll_cache_stats before, after;
    int fds[2];

    (void)arg;
    gpoll_cache_inspect(&before);
    CHECK_EQ(gpoll_open(-1, &pd), -EBADF);
    CHECK_EQ(gpoll_open(INT32_MIN, &pd), -EBADF);
    CHECK_EQ(gpoll_open(1000000, &pd), -EBADF);
    make_pipe(fds);
    CHECK_EQ(gpoll_open(fds[0], NULL), -EINVAL);

    /* A regular file cannot be polled; an fd registered twice is
     * refused the second time. */
    int f = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    CHECK_GE(f, 0);
    CHECK_EQ(gpoll_open(f, &pd), -EPERM);
    close(f);
    gpoll_desc *ok = open_pd(fds[0]);
    CHECK_EQ(gpoll_open(fds[0], &pd), -EEXIST);

    /* No failed open kept a descriptor. */
    gpoll_cache_inspect(&after);
    CHECK_EQ(after.in_use, before.in_use + 1);
    gpoll_unblock(ok);
    gpoll_close(ok);
    gpoll_cache_inspect(&after);
    CHECK_EQ(after.in_use, before.in_use);
    close(fds[0]);
    close(fds[1]);
}

TEST(open_rejects_bad_fds_and_null_out)
{
    run_main(open_rejects_body, NULL, 1, false);
}

static void null_desc_body(void *arg)
{
    gpoll_state st;

    (void)arg;
    CHECK_EQ(gpoll_reset(NULL, GPOLL_READ), GPOLL_ERR_NOT_POLLABLE);
    CHECK_EQ(gpoll_reset(NULL, GPOLL_WRITE), GPOLL_ERR_NOT_POLLABLE);
    CHECK_EQ(gpoll_wait(NULL, GPOLL_READ), GPOLL_ERR_NOT_POLLABLE);
    CHECK_EQ(gpoll_wait(NULL, GPOLL_WRITE), GPOLL_ERR_NOT_POLLABLE);
    gpoll_set_deadline(NULL, gort_now() + SEC, GPOLL_RW);
    gpoll_unblock(NULL);
    gpoll_close(NULL);
    memset(&st, 0x5a, sizeof(st));
    gpoll_inspect(NULL, &st);
    CHECK_EQ(st.fd, -1);
    CHECK_EQ(st.info, 0);
    CHECK(st.rg_g == NULL && st.wg_g == NULL);
    gpoll_inspect(NULL, NULL);
    gpoll_cache_inspect(NULL);
    CHECK(!gpoll_is_poll_descriptor(-1));
    CHECK(!gpoll_is_poll_descriptor(INT32_MAX));
    CHECK_EQ(gpoll_waiters(), 0);
}

TEST(null_descriptor_is_not_pollable)
{
    run_main(null_desc_body, NULL, 1, false);
}

/* After gpoll_unblock and gpoll_close, the descriptor sits in the cache
 * until reused: every call on it says closing, and deadlines are
 * ignored. */
static void closed_desc_body(void *arg)
{
    int fds[2];
    gpoll_state st;

    (void)arg;
    make_pipe(fds);
    gpoll_desc *pd = open_pd(fds[0]);
    gpoll_unblock(pd);
    gpoll_close(pd);

    CHECK_EQ(gpoll_reset(pd, GPOLL_READ), GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_reset(pd, GPOLL_WRITE), GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_wait(pd, GPOLL_READ), GPOLL_ERR_CLOSING);
    CHECK_EQ(gpoll_wait(pd, GPOLL_WRITE), GPOLL_ERR_CLOSING);
    gpoll_set_deadline(pd, gort_now() - 1, GPOLL_RW);
    gpoll_inspect(pd, &st);
    CHECK(st.closing);
    CHECK(!st.rt_set && !st.wt_set);
    CHECK_EQ(gpoll_waiters(), 0);
    close(fds[0]);
    close(fds[1]);
}

TEST(closed_descriptor_reports_closing)
{
    run_main(closed_desc_body, NULL, 1, false);
}

/* Deadlines take any int64: INT64_MIN has expired, INT64_MAX never
 * fires, and neither overflows on the way. */
static void extreme_deadlines_body(void *arg)
{
    int fds[2];
    gpoll_state st;

    (void)arg;
    make_pipe(fds);
    gpoll_desc *pd = open_pd(fds[0]);
    gpoll_set_deadline(pd, INT64_MIN, GPOLL_READ);
    CHECK_EQ(gpoll_reset(pd, GPOLL_READ), GPOLL_ERR_TIMEOUT);
    gpoll_set_deadline(pd, INT64_MAX, GPOLL_READ);
    CHECK_EQ(gpoll_reset(pd, GPOLL_READ), GPOLL_OK);
    gpoll_inspect(pd, &st);
    CHECK_GT(st.rd, 0);
    gpoll_set_deadline(pd, -1, GPOLL_RW);
    CHECK_EQ(gpoll_reset(pd, GPOLL_WRITE), GPOLL_ERR_TIMEOUT);
    gpoll_set_deadline(pd, 0, GPOLL_RW);
    CHECK_EQ(gpoll_reset(pd, GPOLL_READ), GPOLL_OK);
    CHECK_EQ(gpoll_reset(pd, GPOLL_WRITE), GPOLL_OK);
    gpoll_unblock(pd);
    gpoll_close(pd);
    close(fds[0]);
    close(fds[1]);
}

TEST(extreme_deadlines_neither_overflow_nor_fire_early)
{
    run_main(extreme_deadlines_body, NULL, 1, false);
}
