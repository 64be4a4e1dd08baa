/*
 * Thread locking: a G wired to its thread with gort_lock_thread runs
 * only there, through parks, sleeps and yields, while other Gs keep
 * running on the other Ms; after the unlock it may move again.
 */
#include "sched_test.h"

#define ROUNDS 200

static struct {
    pthread_t home;         /* written once, before home_set */
    atomic_int home_set;
    atomic_int moved;       /* times the locked G ran elsewhere */
    atomic_int intruders;   /* other Gs seen on the locked thread */
    atomic_int locked_done;
    atomic_long others;     /* work done by the other Gs */
    uint32_t sem;
    gort_waitgroup wg;
} lk;

static void check_home(void)
{
    if (!pthread_equal(pthread_self(), lk.home))
        atomic_fetch_add(&lk.moved, 1);
}

static void locked_g(void *arg)
{
    (void)arg;
    gort_lock_thread();
    lk.home = pthread_self();
    atomic_store(&lk.home_set, 1);
    for (int i = 0; i < ROUNDS; i++) {
        switch (i % 3) {
        case 0:
            gort_sleep(50 * US);
            break;
        case 1:
            gort_yield();
            break;
        default:
            gort_sem_acquire(&lk.sem);
            break;
        }
        check_home();
    }
    gort_unlock_thread();
    atomic_store(&lk.locked_done, 1);
    gort_wg_done(&lk.wg);
}

static void other_g(void *arg)
{
    (void)arg;
    while (!atomic_load(&lk.locked_done)) {
        if (atomic_load(&lk.home_set) &&
            pthread_equal(pthread_self(), lk.home) &&
            !atomic_load(&lk.locked_done))
            atomic_fetch_add(&lk.intruders, 1);
        atomic_fetch_add(&lk.others, 1);
        /* Feed the locked G's semaphore waits. */
        gort_sem_release(&lk.sem, false);
        gort_sleep(20 * US);
    }
    gort_wg_done(&lk.wg);
}

static void lock_main(void *arg)
{
    (void)arg;
    gort_wg_add(&lk.wg, 4);
    CHECK_EQ(gort_go(locked_g, NULL), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gort_go(other_g, NULL), 0);
    gort_wg_wait(&lk.wg);
}

TEST(locked_g_stays_on_its_thread_procs2)
{
    run_main(lock_main, NULL, 2, false);
    CHECK_EQ(atomic_load(&lk.moved), 0);
    CHECK_EQ(atomic_load(&lk.intruders), 0);
    CHECK_GT(atomic_load(&lk.others), 0);
}

TEST(locked_g_stays_on_its_thread_procs1)
{
    run_main(lock_main, NULL, 1, false);
    CHECK_EQ(atomic_load(&lk.moved), 0);
    CHECK_EQ(atomic_load(&lk.intruders), 0);
    CHECK_GT(atomic_load(&lk.others), 0);
}

/* ------------------------------------------------------------------ */
/* GORT_PROCS sets the P count when the config leaves it 0. */

static atomic_int seen_procs;

static void procs_main(void *arg)
{
    (void)arg;
    atomic_store(&seen_procs, gort_procs());
}

TEST(gort_procs_env_sets_p_count)
{
    setenv("GORT_PROCS", "3", 1);
    run_main(procs_main, NULL, 0, false);
    CHECK_EQ(atomic_load(&seen_procs), 3);
    /* An explicit count wins over the environment. */
    run_main(procs_main, NULL, 2, false);
    CHECK_EQ(atomic_load(&seen_procs), 2);
    unsetenv("GORT_PROCS");
}
