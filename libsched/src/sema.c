/*
 * sema.c: Go's runtime semaphore, and a mutex and wait group on it.
 *
 * A semaphore is any uint32_t in the user's memory. Waiters are kept
 * off to the side, in a table of 251 roots hashed by address, each a
 * lock and a FIFO list of waiters (the waiter record lives on the
 * waiting G's stack). Acquire first tries to decrement the count
 * without locking. Otherwise it registers as a waiter (nwait), checks
 * the count once more under the root lock, queues itself and parks;
 * the park commit drops the root lock, so a release on another M can
 * only find the waiter once it has fully left its M. Release bumps the
 * count and, if anyone waits, dequeues the first waiter for this
 * address and readies it; the woken G retries the decrement.
 *
 * With handoff, the releaser takes the count on the waiter's behalf
 * (so no barging G can steal it), and yields so that the woken G runs
 * next. gort_sem_acquire_until adds a timer that dequeues the waiter
 * and readies it with a timeout.
 *
 * Lock order: root lock, then the scheduler's. A timer callback takes
 * the root lock with no other held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define SEMTABSZ 251

typedef struct semwaiter {
    gort_g *g;
    uint32_t *addr;
    struct semwaiter *next;
    struct semwaiter *prev;
    bool acquired;  /* the releaser decremented for us (handoff) */
    bool queued;    /* still in the root's list; under root lock */
    bool timedout;
} semwaiter;

typedef struct semroot {
    gort__lock_t lock;
    _Atomic uint32_t nwait;   /* waiters, for the lock-free release */
    semwaiter *head, *tail;   /* under lock */
    char pad[64 - sizeof(gort__lock_t) - sizeof(uint32_t) -
             2 * sizeof(void *)];
} semroot;

_Static_assert(sizeof(semroot) == 64, "semroot is one cache line");

static semroot semtable[SEMTABSZ];

void gort__sema_init(void)
{
    memset(semtable, 0, sizeof semtable);
}

static semroot *root_of(uint32_t *addr)
{
    return &semtable[((uintptr_t)addr >> 3) % SEMTABSZ];
}

static bool cansemacquire(uint32_t *addr)
{
    _Atomic uint32_t *a = (_Atomic uint32_t *)addr;
    uint32_t v = atomic_load(a);
    while (v > 0) {
        if (atomic_compare_exchange_weak(a, &v, v - 1))
            return true;
    }
    return false;
}

static void enqueue(semroot *r, semwaiter *w)
{
    w->next = NULL;
    w->prev = r->tail;
    if (r->tail)
        r->tail->next = w;
    else
        r->head = w;
    r->tail = w;
    w->queued = true;
}

static void dequeue(semroot *r, semwaiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        r->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        r->tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = false;
}

/* Under the root lock, where every change to nwait is made: a plain
 * store, no locked instruction. The increment stays a full barrier: a
 * waiter's count must be visible before it looks at the semaphore
 * once more, against a release that bumps the count and then reads
 * nwait without the lock. */
static void nwait_dec(semroot *r)
{
    atomic_store_explicit(
        &r->nwait,
        atomic_load_explicit(&r->nwait, memory_order_relaxed) - 1,
        memory_order_release);
}

static bool unlock_root(gort_g *g, void *arg)
{
    (void)g;
    gort__unlock(&((semroot *)arg)->lock);
    return true;
}

/* The waiter record lives on the waiting G's stack, so the timeout
 * reaches it only through the G (which outlives every wait), under the
 * root lock, and only for the wait it was set for: seq carries the
 * wait's generation and the root's index. */
static void sem_timeout(void *arg, uintptr_t seq, int64_t delay)
{
    (void)delay;
    gort_g *g = arg;
    semroot *r = &semtable[seq % SEMTABSZ];

    gort__lock(&r->lock);
    semwaiter *w = g->semw;
    if (w == NULL || g->semgen != seq / SEMTABSZ || !w->queued) {
        gort__unlock(&r->lock);
        return; /* a release got there first */
    }
    dequeue(r, w);
    g->semw = NULL;
    nwait_dec(r);
    w->timedout = true;
    gort__unlock(&r->lock);
    gort_ready(g);
}

int gort_sem_acquire_until(uint32_t *addr, int64_t deadline)
{
    INVARIANT(addr != NULL, "semaphore at NULL");
    if (cansemacquire(addr))
        return 0;

    semroot *r = root_of(addr);
    semwaiter w;
    memset(&w, 0, sizeof w);
    w.g = gort_self();
    INVARIANT(w.g != NULL, "semaphore used with no runtime");
    w.addr = addr;

    for (;;) {
        if (deadline != 0 && deadline <= gort__nanotime())
            return -ETIMEDOUT;

        gort__lock(&r->lock);
        atomic_fetch_add(&r->nwait, 1);
        if (cansemacquire(addr)) {
            nwait_dec(r);
            gort__unlock(&r->lock);
            return 0;
        }
        w.acquired = false;
        w.timedout = false;
        enqueue(r, &w);
        w.g->semw = &w;
        w.g->semgen++;
        if (deadline != 0)
            gort_timer_set(&w.g->semtimer, deadline, 0, sem_timeout, w.g,
                           (uintptr_t)(w.g->semgen * SEMTABSZ +
                                       (uint64_t)(r - semtable)));
        gort_park(unlock_root, r, GORT_WAIT_SEMACQUIRE);

        if (deadline != 0)
            gort_timer_del(&w.g->semtimer);
        if (w.acquired || cansemacquire(addr))
            return 0;
        if (w.timedout)
            return -ETIMEDOUT;
    }
}

void gort_sem_acquire(uint32_t *addr)
{
    gort_sem_acquire_until(addr, 0);
}

void gort_sem_release(uint32_t *addr, bool handoff)
{
    INVARIANT(addr != NULL, "semaphore at NULL");
    semroot *r = root_of(addr);

    atomic_fetch_add((_Atomic uint32_t *)addr, 1);
    /* Nobody waits: done, without the lock. The waiter increments nwait
     * before its final check of the count, so it cannot be missed. */
    if (atomic_load(&r->nwait) == 0)
        return;

    gort__lock(&r->lock);
    semwaiter *w = r->head;
    while (w && w->addr != addr)
        w = w->next;
    if (w == NULL) {
        gort__unlock(&r->lock);
        return;
    }
    dequeue(r, w);
    w->g->semw = NULL;
    nwait_dec(r);
    bool handed = handoff && cansemacquire(addr);
    w->acquired = handed;
    gort_g *g = w->g;
    gort__unlock(&r->lock);

    /* w may be gone once g is ready. */
    gort_ready(g);
    if (handed)
        gort__yield_local();
}

/* ------------------------------------------------------------------ */
/* Mutex: 0 unlocked, 1 locked, 2 locked and maybe contended. A spare
 * count left in the semaphore only costs a waiter one more look. */

bool gort_mutex_trylock(gort_mutex *mu)
{
    if (mu == NULL)
        return false;
    uint32_t zero = 0;
    return atomic_compare_exchange_strong(
        (_Atomic uint32_t *)&mu->state, &zero, 1);
}

void gort_mutex_lock(gort_mutex *mu)
{
    if (mu == NULL)
        return;
    _Atomic uint32_t *s = (_Atomic uint32_t *)&mu->state;

    if (gort_mutex_trylock(mu))
        return;
    for (int i = 0; i < 4; i++) {
        gort_yield();
        if (gort_mutex_trylock(mu))
            return;
    }
    while (atomic_exchange(s, 2) != 0)
        gort_sem_acquire(&mu->sema);
}

void gort_mutex_unlock(gort_mutex *mu)
{
    if (mu == NULL)
        return;
    uint32_t old = atomic_exchange((_Atomic uint32_t *)&mu->state, 0);
    INVARIANT(old != 0, "unlock of unlocked mutex");
    if (old == 2)
        gort_sem_release(&mu->sema, false);
}

/* ------------------------------------------------------------------ */
/* Wait group: count in the high half, waiters in the low half. */

void gort_wg_add(gort_waitgroup *wg, int delta)
{
    if (wg == NULL)
        return;
    _Atomic uint64_t *st = (_Atomic uint64_t *)&wg->state;
    uint64_t s = atomic_fetch_add(st, (uint64_t)(int64_t)delta << 32) +
                 ((uint64_t)(int64_t)delta << 32);
    int32_t v = (int32_t)(s >> 32);
    uint32_t w = (uint32_t)s;

    INVARIANT(v >= 0, "negative wait group counter");
    if (v > 0 || w == 0)
        return;

    /* Count reached zero with waiters: release them all. New Adds
     * while waiters are being woken would be a misuse. */
    atomic_store(st, 0);
    for (; w > 0; w--)
        gort_sem_release(&wg->sema, false);
}

void gort_wg_done(gort_waitgroup *wg)
{
    if (wg == NULL)
        return;
    gort_wg_add(wg, -1);
}

void gort_wg_wait(gort_waitgroup *wg)
{
    if (wg == NULL)
        return;
    _Atomic uint64_t *st = (_Atomic uint64_t *)&wg->state;
    uint64_t s = atomic_load(st);

    for (;;) {
        if ((s >> 32) == 0)
            return;
        if (atomic_compare_exchange_weak(st, &s, s + 1)) {
            gort_sem_acquire(&wg->sema);
            return;
        }
    }
}
