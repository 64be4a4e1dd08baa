/*
 * Foreign threads: plain pthreads that call into the runtime while it
 * runs. Such a thread gets its own G on first use; it can park and be
 * readied by a goroutine, and wait on a semaphore a goroutine releases
 * (and the other way round).
 */
#include "sched_test.h"

#define PARK_ROUNDS 20

static struct {
    gort_g *_Atomic self;   /* the foreign thread's G */
    gort_g *_Atomic parked; /* published by the commit function */
    atomic_int readied;     /* gort_ready calls made */
    atomic_int resumed;     /* returns from gort_park */
    uint32_t done;          /* released by the readying G at its end */
} fp;

static bool publish_parked(gort_g *g, void *arg)
{
    (void)arg;
    atomic_store(&fp.parked, g);
    return true;
}

static void *parker(void *arg)
{
    gort_g *self = gort_self();

    (void)arg;
    CHECK(self != NULL);
    CHECK(gort_self() == self);
    atomic_store(&fp.self, self);

    for (int i = 0; i < PARK_ROUNDS; i++) {
        gort_park(publish_parked, NULL, GORT_WAIT_OTHER);
        /* Back only because a G readied this thread. */
        CHECK_EQ(atomic_load(&fp.readied), i + 1);
        atomic_fetch_add(&fp.resumed, 1);
    }
    return NULL;
}

/* Readies the parked foreign thread PARK_ROUNDS times. */
static void ready_foreign(void)
{
    for (int i = 0; i < PARK_ROUNDS; i++) {
        int64_t deadline = gort_nanotime_real() + 10 * SEC;
        gort_g *g;

        while ((g = atomic_exchange(&fp.parked, NULL)) == NULL) {
            CHECK_LT(gort_nanotime_real(), deadline);
            gort_sleep(100 * US);
        }
        CHECK(g == atomic_load(&fp.self));
        CHECK_EQ(atomic_load(&fp.resumed), i);
        atomic_fetch_add(&fp.readied, 1);
        gort_ready(g);
    }
}

static void park_main(void *arg)
{
    pthread_t t;

    (void)arg;
    CHECK_EQ(pthread_create(&t, NULL, parker, NULL), 0);
    ready_foreign();
    join_thread(t);
    CHECK_EQ(atomic_load(&fp.resumed), PARK_ROUNDS);
}

TEST(foreign_thread_parks_and_g_readies_it_under_main)
{
    run_main(park_main, NULL, 2, false);
}

/* The same with the runtime started by gort_start: no main G; the test
 * thread is foreign too and waits on a semaphore for the G. */

static void readying_g(void *arg)
{
    (void)arg;
    ready_foreign();
    gort_sem_release(&fp.done, false);
}

TEST(foreign_thread_parks_and_g_readies_it_under_start)
{
    gort_config cfg;
    pthread_t t;

    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = 2;
    CHECK_EQ(gort_start(&cfg), 0);
    CHECK(gort_running());

    CHECK_EQ(pthread_create(&t, NULL, parker, NULL), 0);
    CHECK_EQ(gort_go(readying_g, NULL), 0);
    gort_sem_acquire(&fp.done);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(atomic_load(&fp.resumed), PARK_ROUNDS);

    gort_stop();
    CHECK(!gort_running());
}

/* ------------------------------------------------------------------ */
/* Semaphores between a foreign thread and a G. */

#define SEM_ROUNDS 1000

static struct {
    uint32_t first; /* released by the G after a pause */
    atomic_int first_released;
    uint32_t to_thread, to_g;
    atomic_int g_rounds, thread_rounds;
    uint32_t never;
    int64_t timeout_waited;
} fs;

static void *sem_thread(void *arg)
{
    int64_t t0;

    (void)arg;
    /* Blocks until the G, which sleeps first, releases. */
    gort_sem_acquire(&fs.first);
    CHECK(atomic_load(&fs.first_released));

    for (int i = 0; i < SEM_ROUNDS; i++) {
        gort_sem_acquire(&fs.to_thread);
        CHECK_EQ(atomic_load(&fs.g_rounds), i + 1);
        atomic_fetch_add(&fs.thread_rounds, 1);
        gort_sem_release(&fs.to_g, false);
    }

    /* A deadline works on a foreign thread too. */
    t0 = gort_now();
    CHECK_EQ(gort_sem_acquire_until(&fs.never, t0 + 20 * MS), -ETIMEDOUT);
    fs.timeout_waited = gort_now() - t0;
    return NULL;
}

static void sem_main(void *arg)
{
    pthread_t t;

    (void)arg;
    CHECK_EQ(pthread_create(&t, NULL, sem_thread, NULL), 0);
    gort_sleep(20 * MS);
    atomic_store(&fs.first_released, 1);
    gort_sem_release(&fs.first, false);

    for (int i = 0; i < SEM_ROUNDS; i++) {
        atomic_fetch_add(&fs.g_rounds, 1);
        gort_sem_release(&fs.to_thread, false);
        gort_sem_acquire(&fs.to_g);
        CHECK_EQ(atomic_load(&fs.thread_rounds), i + 1);
    }
    join_thread(t);
    CHECK_GE(fs.timeout_waited, 20 * MS);
}

TEST(foreign_thread_sem_acquire_released_by_g)
{
    run_main(sem_main, NULL, 2, false);
}

/* A host thread counts for the deadlock check only from its first gort
 * call. One that starts late must still find the main G waiting for it,
 * not a process stopped with "deadlock!". */
static uint32_t late_sem;

static void *late_releaser(void *arg)
{
    struct timespec ts = {0, 100 * 1000 * 1000};

    (void)arg;
    nanosleep(&ts, NULL); /* no gort call yet: invisible to the runtime */
    gort_sem_release(&late_sem, false);
    return NULL;
}

static void late_main(void *arg)
{
    pthread_t t;

    (void)arg;
    CHECK_EQ(pthread_create(&t, NULL, late_releaser, NULL), 0);
    gort_sem_acquire(&late_sem); /* no timer, no I/O: looks dead */
    CHECK_EQ(pthread_join(t, NULL), 0);
}

TEST(host_thread_that_calls_in_late_is_not_a_deadlock)
{
    gort_config cfg = {.procs = 1};

    CHECK_EQ(gort_main(late_main, NULL, &cfg), 0);
}
