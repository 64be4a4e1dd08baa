/* fdMutex: references, the two locks and close, alone and contended. */
#include "net_test.h"

TEST(fdmu_refs_then_close_refuses_new_refs)
{
    gnet__fdmu mu;
    gnet__fdmu_view v;

    memset(&mu, 0, sizeof(mu));
    CHECK(gnet__fdmu_incref(&mu));
    CHECK(gnet__fdmu_incref(&mu));
    gnet__fdmu_inspect(&mu, &v);
    CHECK_EQ(v.refs, 2);

    /* Close holds a reference of its own until it drops it. */
    CHECK(gnet__fdmu_incref_and_close(&mu));
    CHECK(!gnet__fdmu_incref_and_close(&mu));
    CHECK(!gnet__fdmu_incref(&mu));
    CHECK(!gnet__fdmu_rwlock(&mu, true));
    CHECK(!gnet__fdmu_rwlock(&mu, false));
    gnet__fdmu_inspect(&mu, &v);
    CHECK(v.closed);
    CHECK_EQ(v.refs, 3);

    /* Only the last reference of a closing fd says "destroy". */
    CHECK(!gnet__fdmu_decref(&mu));
    CHECK(!gnet__fdmu_decref(&mu));
    CHECK(gnet__fdmu_decref(&mu));
}

TEST(fdmu_decref_of_open_fd_never_destroys)
{
    gnet__fdmu mu;

    memset(&mu, 0, sizeof(mu));
    CHECK(gnet__fdmu_incref(&mu));
    CHECK(!gnet__fdmu_decref(&mu));
    CHECK(gnet__fdmu_rwlock(&mu, true));
    CHECK(!gnet__fdmu_rwunlock(&mu, true));
}

TEST(fdmu_unlock_of_unheld_lock_aborts)
{
    gnet__fdmu mu;

    memset(&mu, 0, sizeof(mu));
    gnet__fdmu_rwunlock(&mu, false);
}

TEST(fdmu_decref_underflow_aborts)
{
    gnet__fdmu mu;

    memset(&mu, 0, sizeof(mu));
    gnet__fdmu_decref(&mu);
}

/* ------------------------------------------------------------------ */

typedef struct contender {
    gnet__fdmu *mu;
    bool read;
    _Atomic int state; /* 0 waiting, 1 got it (or true), 2 refused */
    bool unlock_after;
    gort_waitgroup wg;
} contender;

static void contend(void *arg)
{
    contender *c = arg;
    bool ok = gnet__fdmu_rwlock(c->mu, c->read);

    atomic_store(&c->state, ok ? 1 : 2);
    if (ok && c->unlock_after)
        gnet__fdmu_rwunlock(c->mu, c->read);
    gort_wg_done(&c->wg);
}

static void start(contender *c, gnet__fdmu *mu, bool read, bool unlock)
{
    memset(c, 0, sizeof(*c));
    c->mu = mu;
    c->read = read;
    c->unlock_after = unlock;
    gort_wg_add(&c->wg, 1);
    CHECK_EQ(gort_go(contend, c), 0);
}

/* Waits (bounded) until the mutex counts n waiters of the kind. */
static void await_waiters(gnet__fdmu *mu, bool read, uint64_t n)
{
    gnet__fdmu_view v;
    int64_t end = gort_now() + SLOW_BOUND(5 * SEC);

    for (;;) {
        gnet__fdmu_inspect(mu, &v);
        if ((read ? v.rwaiters : v.wwaiters) == n)
            return;
        CHECK_LT(gort_now(), end);
        gort_sleep(MS);
    }
}

NET_TEST(fdmu_readers_serialise_reader_and_writer_do_not)
{
    gnet__fdmu mu;
    contender b;

    memset(&mu, 0, sizeof(mu));
    CHECK(gnet__fdmu_rwlock(&mu, true));

    /* A second reader waits... */
    start(&b, &mu, true, true);
    await_waiters(&mu, true, 1);
    CHECK_EQ(atomic_load(&b.state), 0);

    /* ...but a writer does not. */
    CHECK(gnet__fdmu_rwlock(&mu, false));
    CHECK(!gnet__fdmu_rwunlock(&mu, false));
    CHECK_EQ(atomic_load(&b.state), 0);

    /* Unlocking hands the read lock to the waiter. */
    CHECK(!gnet__fdmu_rwunlock(&mu, true));
    gort_wg_wait(&b.wg);
    CHECK_EQ(atomic_load(&b.state), 1);

    gnet__fdmu_view v;
    gnet__fdmu_inspect(&mu, &v);
    CHECK(!v.rlocked && !v.wlocked);
    CHECK_EQ(v.refs, 0);
    CHECK_EQ(v.rwaiters, 0);
}

NET_TEST(fdmu_close_wakes_lock_waiters_last_unlock_destroys)
{
    gnet__fdmu mu;
    contender r, w;

    memset(&mu, 0, sizeof(mu));
    CHECK(gnet__fdmu_rwlock(&mu, true));
    CHECK(gnet__fdmu_rwlock(&mu, false));
    start(&r, &mu, true, true);
    start(&w, &mu, false, true);
    await_waiters(&mu, true, 1);
    await_waiters(&mu, false, 1);

    CHECK(gnet__fdmu_incref_and_close(&mu));
    gort_wg_wait(&r.wg);
    gort_wg_wait(&w.wg);
    CHECK_EQ(atomic_load(&r.state), 2);
    CHECK_EQ(atomic_load(&w.state), 2);

    gnet__fdmu_view v;
    gnet__fdmu_inspect(&mu, &v);
    CHECK_EQ(v.rwaiters, 0);
    CHECK_EQ(v.wwaiters, 0);
    CHECK_EQ(v.refs, 3);

    /* The closer's reference, then the two lock holders': the last
     * one out destroys. */
    CHECK(!gnet__fdmu_decref(&mu));
    CHECK(!gnet__fdmu_rwunlock(&mu, true));
    CHECK(gnet__fdmu_rwunlock(&mu, false));
}

typedef struct hammer {
    gnet__fdmu *mu;
    bool read;
    int64_t *counter; /* guarded by the lock under test */
    gort_waitgroup *wg;
} hammer;

static void hammer_fn(void *arg)
{
    hammer *h = arg;

    for (int i = 0; i < 2000; i++) {
        CHECK(gnet__fdmu_rwlock(h->mu, h->read));
        int64_t v = *h->counter;
        if (i % 7 == 0)
            gort_yield();
        *h->counter = v + 1;
        CHECK(!gnet__fdmu_rwunlock(h->mu, h->read));
    }
    gort_wg_done(h->wg);
}

/* Many Gs on two Ps: the lock excludes, so no increment is lost. */
NET_TEST(fdmu_lock_excludes_under_contention)
{
    gnet__fdmu mu;
    int64_t reads = 0, writes = 0;
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    hammer hs[8];

    memset(&mu, 0, sizeof(mu));
    for (int i = 0; i < 8; i++) {
        hs[i].mu = &mu;
        hs[i].read = i % 2 == 0;
        hs[i].counter = hs[i].read ? &reads : &writes;
        hs[i].wg = &wg;
        gort_wg_add(&wg, 1);
        CHECK_EQ(gort_go(hammer_fn, &hs[i]), 0);
    }
    gort_wg_wait(&wg);
    CHECK_EQ(reads, 4 * 2000);
    CHECK_EQ(writes, 4 * 2000);

    gnet__fdmu_view v;
    gnet__fdmu_inspect(&mu, &v);
    CHECK_EQ(v.refs, 0);
}
