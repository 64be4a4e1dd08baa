/*
 * Goroutine dumps: on request, as text and JSON, and on SIGQUIT.
 */
#include <signal.h>
#include <unistd.h>

#include "sched_test.h"

static struct {
    uint32_t sem;
    gort_waitgroup wg;
    char text[8192];
    char json[8192];
    int text_rc, json_rc;
} dp;

static void sem_waiter(void *arg)
{
    (void)arg;
    gort_sem_acquire(&dp.sem);
    gort_wg_done(&dp.wg);
}

/* Reads what fn wrote to a pipe. */
static void capture(int (*fn)(int fd, bool json), bool json, char *out,
                    size_t n, int *rc)
{
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    *rc = fn(fds[1], json);
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got < n - 1 && (r = read(fds[0], out + got, n - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(fds[0]);
}

/* Sleeps until n Gs wait, however slow the machine (valgrind,
 * ThreadSanitizer), or 10 s have passed. */
static void await_waiting(int64_t n)
{
    int64_t until = gort_nanotime_real() + 10 * SEC;
    gort_stats st;

    do {
        gort_sleep(1 * MS);
        gort_get_stats(&st);
    } while (st.gs[GORT_GWAITING] < n && gort_nanotime_real() < until);
}

static void dump_main(void *arg)
{
    (void)arg;
    gort_wg_add(&dp.wg, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gort_go(sem_waiter, NULL), 0);
    await_waiting(3);
    capture(gort_dump, false, dp.text, sizeof dp.text, &dp.text_rc);
    capture(gort_dump, true, dp.json, sizeof dp.json, &dp.json_rc);
    for (int i = 0; i < 3; i++)
        gort_sem_release(&dp.sem, false);
    gort_wg_wait(&dp.wg);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

TEST(dump_lists_waiting_gs_as_text_and_json)
{
    run_main(dump_main, NULL, 1, false);
    CHECK_EQ(dp.text_rc, 0);
    CHECK_EQ(dp.json_rc, 0);
    /* The three waiters and the running main G. */
    CHECK_EQ(count(dp.text, "[semacquire, "), 3);
    /* Each entry names its goroutine and its creator. */
    CHECK_EQ(count(dp.text, "goroutine "), 2 * 4);
    CHECK_EQ(count(dp.text, "[running]"), 1);
    CHECK_EQ(count(dp.json, "\"wait_reason\": \"semacquire\""), 3);
    CHECK_EQ(count(dp.json, "\"id\": "), 4);
    CHECK(strncmp(dp.json, "{\"goroutines\": [", 16) == 0);
    CHECK(strstr(dp.json, "]}\n") != NULL);
}

TEST(dump_without_runtime_fails_cleanly)
{
    CHECK_EQ(gort_dump(1, false), -ESRCH);
    CHECK_EQ(gort_dump(-1, true), -EBADF);
}

/* ------------------------------------------------------------------ */

static void quit_main(void *arg)
{
    (void)arg;
    gort_wg_add(&dp.wg, 1);
    CHECK_EQ(gort_go(sem_waiter, NULL), 0);
    await_waiting(1);
    CHECK_EQ(raise(SIGQUIT), 0);
    gort_sleep(100 * MS); /* the monitor writes it within 10 ms */
    gort_sem_release(&dp.sem, false);
    gort_wg_wait(&dp.wg);
}

TEST(sigquit_writes_a_dump_when_enabled)
{
    int fds[2], saved = dup(2);
    CHECK_EQ(pipe(fds), 0);
    CHECK_EQ(dup2(fds[1], 2), 2);

    gort_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.procs = 1;
    cfg.dump_on_sigquit = true;
    CHECK_EQ(gort_main(quit_main, NULL, &cfg), 0);

    dup2(saved, 2);
    close(fds[1]);
    char out[4096];
    ssize_t n = read(fds[0], out, sizeof out - 1);
    CHECK_GT(n, 0);
    out[n] = 0;
    CHECK_MSG(strstr(out, "[semacquire, ") != NULL, "stderr: %s", out);
    /* The handler is gone with the runtime: SIGQUIT is default again.
     * (ThreadSanitizer answers for the kernel's table with its own
     * wrappers, so there the answer means nothing.) */
#ifndef __SANITIZE_THREAD__
    struct sigaction sa;
    sigaction(SIGQUIT, NULL, &sa);
    CHECK(sa.sa_handler == SIG_DFL);
#endif
}
