/*
 * test_host.c: host threads (not goroutines) waiting for I/O. With no
 * goroutine parked, no M is left in the poller by anyone else: the
 * host thread's own wait must get one there.
 */
#include <stdatomic.h>
#include <time.h>

#include "poll_test.h"

#define ROUNDS 100

static struct {
    int fds[2];
    gpoll_desc *pd;
    _Atomic int round; /* rounds the waiter has finished */
} h;

static void *host_reader(void *arg)
{
    char c;

    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        while (read(h.fds[0], &c, 1) != 1)
            CHECK_EQ(gpoll_wait(h.pd, GPOLL_READ), GPOLL_OK);
        atomic_store(&h.round, i + 1);
    }
    return NULL;
}

/* Before the fix, every wake-up waited for the monitor's poll, up to
 * 10 ms: a hundred rounds took about a second. Now each is a wake-up
 * by the M blocked in the poller, tens of microseconds. */
TEST(host_thread_io_wait_is_woken_promptly_with_no_goroutines)
{
    gort_config cfg = {.procs = 1};
    pthread_t th;

    CHECK_EQ(gpoll_install(), 0);
    CHECK_EQ(gort_start(&cfg), 0);
    make_pipe(h.fds);
    h.pd = open_pd(h.fds[0]);
    CHECK_EQ(pthread_create(&th, NULL, host_reader, NULL), 0);

    int64_t t0 = gort_nanotime_real();
    for (int i = 0; i < ROUNDS; i++) {
        /* Write only once the reader is parked: each round is a full
         * park, event and wake-up. */
        while (sem_state(h.pd, GPOLL_READ) != GPOLL_SEM_G)
            sched_yield();
        put_byte(h.fds[1]);
        while (atomic_load(&h.round) != i + 1)
            sched_yield();
    }
    int64_t took = gort_nanotime_real() - t0;

    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_LT(took, scaled(300 * MS));
    close_pd(h.pd, h.fds[0]);
    CHECK_EQ(close(h.fds[1]), 0);
    gort_stop();
}
