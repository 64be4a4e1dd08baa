/*
 * timer.c: per-P timer heaps, sleep, and the virtual clock's timers.
 *
 * Each P owns a 4-ary min-heap of timers keyed on heap_when, under the
 * heap's lock. A timer is in at most one heap (t->heap). Its own lock
 * guards what the user asked for (active, when, period, fn, arg, seq);
 * the heap's lock guards where it sits (heap, heap_when, heap_idx).
 * Lock order: timer, then heap.
 *
 *   set/modify  under t.lock: record when; if t sits in a heap, move it
 *               there (sift up or down); otherwise push it on the
 *               caller's P's heap (some P's, from a thread without one).
 *   del         under t.lock: clear active. That is all: deletion only
 *               marks. The heap's owner drops the entry when it reaches
 *               the top, or sweeps the heap when a quarter is deleted.
 *   run         the scheduler pops due entries under the heap lock,
 *               then takes t.lock (the order allows it, since the heap
 *               lock is released first) and fires t if it is still
 *               active and due; a timer moved later meanwhile goes back
 *               in, one moved to another heap is left alone.
 *
 * A callback runs with no lock held, so it may set timers (its own
 * too) and ready Gs. When a new timer is earlier than the one a
 * blocked poller sleeps until, the poller is woken.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define TIMER_LOCK(t) gort__lock((gort__lock_t *)&(t)->lock)
/* heap and heap_when change under the heap lock, and a setter holding
 * only the timer lock reads them: atomic accesses. */
#define SET_HEAP(t, v) __atomic_store_n(&(t)->heap, (v), __ATOMIC_RELEASE)
#define GET_HEAP(t) __atomic_load_n(&(t)->heap, __ATOMIC_ACQUIRE)
#define SET_HEAP_WHEN(t, v)                                                \
    __atomic_store_n(&(t)->heap_when, (v), __ATOMIC_RELEASE)
#define GET_HEAP_WHEN(t) __atomic_load_n(&(t)->heap_when, __ATOMIC_ACQUIRE)
#define TIMER_UNLOCK(t) gort__unlock((gort__lock_t *)&(t)->lock)

_Static_assert(sizeof(gort__lock_t) == sizeof(uint32_t),
               "timer lock word must fit the public field");

void gort__timers_init(gort__timers *ts)
{
    memset(ts, 0, sizeof *ts);
}

void gort__timers_fini(gort__timers *ts)
{
    for (int32_t i = 0; i < ts->len; i++) {
        gort_timer *t = ts->heap[i];
        t->heap_idx = -1;
        SET_HEAP(t, NULL);
        t->active = 0;
    }
    free(ts->heap);
    memset(ts, 0, sizeof *ts);
}

/* ------------------------------------------------------------------ */
/* The heap. Under ts->lock. */

static void heap_set(gort__timers *ts, int32_t i, gort_timer *t)
{
    ts->heap[i] = t;
    t->heap_idx = i;
}

static void sift_up(gort__timers *ts, int32_t i)
{
    gort_timer *t = ts->heap[i];
    while (i > 0) {
        int32_t parent = (i - 1) / 4;
        if (ts->heap[parent]->heap_when <= t->heap_when)
            break;
        heap_set(ts, i, ts->heap[parent]);
        i = parent;
    }
    heap_set(ts, i, t);
}

static void sift_down(gort__timers *ts, int32_t i)
{
    gort_timer *t = ts->heap[i];
    for (;;) {
        int32_t c = 4 * i + 1, best = -1;
        int64_t bw = t->heap_when;
        for (int32_t k = c; k < c + 4 && k < ts->len; k++) {
            if (ts->heap[k]->heap_when < bw) {
                bw = ts->heap[k]->heap_when;
                best = k;
            }
        }
        if (best < 0)
            break;
        heap_set(ts, i, ts->heap[best]);
        i = best;
    }
    heap_set(ts, i, t);
}

static void publish_when0(gort__timers *ts)
{
    atomic_store(&ts->when0, ts->len ? ts->heap[0]->heap_when : 0);
}

static void heap_push(gort__timers *ts, gort_timer *t, int64_t when)
{
    if (ts->len == ts->cap) {
        int32_t cap = ts->cap ? ts->cap * 2 : 64;
        gort_timer **h = realloc(ts->heap, (size_t)cap * sizeof *h);
        INVARIANT(h != NULL, "out of memory for the timer heap");
        ts->heap = h;
        ts->cap = cap;
    }
    SET_HEAP(t, ts);
    SET_HEAP_WHEN(t, when);
    heap_set(ts, ts->len++, t);
    sift_up(ts, ts->len - 1);
    publish_when0(ts);
}

static void heap_remove(gort__timers *ts, int32_t i)
{
    gort_timer *t = ts->heap[i];
    int32_t last = --ts->len;
    if (t->del_counted) {
        t->del_counted = 0;
        atomic_fetch_sub(&ts->ndeleted, 1);
    }
    /* The index first: once heap is NULL (a release), a setter may
     * push t into another heap and write a new index. */
    t->heap_idx = -1;
    SET_HEAP(t, NULL);
    if (i != last) {
        heap_set(ts, i, ts->heap[last]);
        sift_down(ts, i);
        sift_up(ts, ts->heap[i]->heap_idx);
    }
    publish_when0(ts);
}

/* Moves t (in ts) to a new key. */
static void heap_update(gort__timers *ts, gort_timer *t, int64_t when)
{
    int64_t old = t->heap_when;
    SET_HEAP_WHEN(t, when);
    if (when < old)
        sift_up(ts, t->heap_idx);
    else
        sift_down(ts, t->heap_idx);
    publish_when0(ts);
}

/* Drops deleted entries when they make up a quarter of the heap. */
static void sweep(gort__timers *ts)
{
    int32_t nd = atomic_load(&ts->ndeleted);
    if (nd < 64 || nd < ts->len / 4)
        return;

    int32_t j = 0;
    for (int32_t i = 0; i < ts->len; i++) {
        gort_timer *t = ts->heap[i];
        if (atomic_load_explicit((_Atomic uint8_t *)&t->active,
                                 memory_order_acquire)) {
            /* Re-set without the heap lock after a delete: it no
             * longer counts as deleted. */
            if (t->del_counted) {
                t->del_counted = 0;
                atomic_fetch_sub(&ts->ndeleted, 1);
            }
            heap_set(ts, j++, t);
        } else {
            t->heap_idx = -1;
            SET_HEAP(t, NULL);
            if (t->del_counted) {
                t->del_counted = 0;
                atomic_fetch_sub(&ts->ndeleted, 1);
            }
        }
    }
    ts->len = j;
    for (int32_t i = ts->len / 4; i >= 0 && ts->len > 0; i--)
        sift_down(ts, i);
    publish_when0(ts);
}

/* Pops deleted timers off the top, so that when0 is a real one. */
static void clean_head(gort__timers *ts)
{
    while (ts->len > 0 &&
           !atomic_load_explicit((_Atomic uint8_t *)&ts->heap[0]->active,
                                 memory_order_acquire))
        heap_remove(ts, 0);
}

/* ------------------------------------------------------------------ */
/* Where a new timer goes. */

static __thread gort__timers *override_heap;

void gort__timers_override(gort__timers *ts)
{
    override_heap = ts;
}

static gort__timers *my_heap(void)
{
    if (override_heap)
        return override_heap;
    gort__m *m = gort__getm();
    if (m && m->p)
        return &m->p->timers;
    /* No P: spread over the Ps by thread. */
    uintptr_t h = (uintptr_t)pthread_self();
    h ^= h >> 17;
    return &gort__s.allp[h % (uintptr_t)gort__s.nprocs]->timers;
}

void gort__wake_for_timer(int64_t when)
{
    if (!atomic_load(&gort__s.running) || override_heap)
        return;
    if (atomic_load(&gort__s.lastpoll) == 0) {
        int64_t until = atomic_load(&gort__s.polluntil);
        if (until == 0 || until > when)
            gort__poller->wake();
        return;
    }
    /* Nobody in the poller: have an idle M look. */
    gort__wakep();
}

/* Places t (locked, active) in a heap at t->when. was says whether t
 * was active before this set. */
static void place(gort_timer *t, bool was)
{
    gort__timers *ts = GET_HEAP(t);
    int64_t when = t->when;
    bool earlier = false;

    /* Moved later while set: leave the entry where it is. When it
     * reaches the top, the runner sees t->when is later and moves it
     * then, so resetting a deadline on every message costs no heap
     * work. Only for a timer that stayed active: a deleted one may be
     * swept out of its heap meanwhile. A stale heap pointer is safe:
     * the runner that popped the entry takes t's lock after us and
     * re-places t itself. */
    if (was && ts && when >= GET_HEAP_WHEN(t))
        return;

    if (ts) {
        gort__lock(&ts->lock);
        if (t->heap == ts) {
            int64_t w0 = atomic_load(&ts->when0);
            if (t->del_counted) {
                t->del_counted = 0;
                atomic_fetch_sub(&ts->ndeleted, 1);
            }
            heap_update(ts, t, when);
            earlier = when < w0;
            gort__unlock(&ts->lock);
            goto wake;
        }
        /* The runner took it out meanwhile. */
        gort__unlock(&ts->lock);
    }

    ts = my_heap();
    gort__lock(&ts->lock);
    int64_t w0 = atomic_load(&ts->when0);
    heap_push(ts, t, when);
    earlier = w0 == 0 || when < w0;
    gort__unlock(&ts->lock);

wake:
    if (earlier)
        gort__wake_for_timer(when);
}

void gort_timer_set(gort_timer *t, int64_t when, int64_t period,
                    gort_timer_fn fn, void *arg, uintptr_t seq)
{
    if (t == NULL)
        return;
    INVARIANT(fn != NULL, "timer without a function");
    INVARIANT(atomic_load(&gort__s.running) || override_heap,
              "timer set with no runtime");
    if (when <= 0)
        when = 1; /* past: due at once */
    if (period < 0)
        period = 0;

    TIMER_LOCK(t);
    bool was = t->active;
    t->fn = fn;
    t->arg = arg;
    t->seq = seq;
    t->when = when;
    t->period = period;
    atomic_store_explicit((_Atomic uint8_t *)&t->active, 1,
                          memory_order_release);
    place(t, was);
    TIMER_UNLOCK(t);
}

void gort_timer_modify(gort_timer *t, int64_t when, int64_t period)
{
    if (t == NULL)
        return;
    TIMER_LOCK(t);
    INVARIANT(t->fn != NULL, "modify of a timer never set");
    gort_timer_fn fn = t->fn;
    void *arg = t->arg;
    uintptr_t seq = t->seq;
    TIMER_UNLOCK(t);
    gort_timer_set(t, when, period, fn, arg, seq);
}

bool gort_timer_del(gort_timer *t)
{
    if (t == NULL)
        return false;
    TIMER_LOCK(t);
    bool was = t->active;
    atomic_store_explicit((_Atomic uint8_t *)&t->active, 0,
                          memory_order_release);
    gort__timers *ts = GET_HEAP(t);
    if (was && ts) {
        /* Count it, so the owner knows when a sweep pays. */
        gort__lock(&ts->lock);
        if (t->heap == ts && !t->del_counted) {
            t->del_counted = 1;
            atomic_fetch_add(&ts->ndeleted, 1);
        }
        gort__unlock(&ts->lock);
    }
    TIMER_UNLOCK(t);
    return was;
}

/* ------------------------------------------------------------------ */
/* Running timers. */

/* Pops one due timer and fires it if it still should. Returns false
 * when nothing is due. */
static bool run_one(gort__timers *ts, int64_t now)
{
    gort__lock(&ts->lock);
    sweep(ts);
    clean_head(ts);
    if (ts->len == 0 || ts->heap[0]->heap_when > now) {
        gort__unlock(&ts->lock);
        return false;
    }
    gort_timer *t = ts->heap[0];
    int64_t key = t->heap_when;
    heap_remove(ts, 0);
    gort__unlock(&ts->lock);

    TIMER_LOCK(t);
    if (GET_HEAP(t) != NULL || !t->active) {
        /* Re-placed by a setter, or deleted: not ours to fire. */
        TIMER_UNLOCK(t);
        return true;
    }
    if (t->when > key) {
        /* Moved later while queued: back in at its real time, so that
         * it fires after the timers due before it (maybe still in this
         * run, if it is due too). */
        place(t, false);
        TIMER_UNLOCK(t);
        return true;
    }

    gort_timer_fn fn = t->fn;
    void *arg = t->arg;
    uintptr_t seq = t->seq;
    int64_t delay = now - t->when;
    if (t->period > 0) {
        int64_t n = (now - t->when) / t->period + 1;
        t->when += n * t->period;
        place(t, false);
    } else {
        atomic_store_explicit((_Atomic uint8_t *)&t->active, 0,
                              memory_order_release);
    }
    TIMER_UNLOCK(t);

    fn(arg, seq, delay);
    return true;
}

/* A timer moved later keeps its old key until it reaches the top.
 * Re-key the top entry now and then, so that when0 (the time an idle M
 * sleeps until) is the real next firing rather than a stale one. The
 * timer's lock comes before the heap's, so only a trylock is allowed
 * here; a busy timer is left for the next look. */
static void fix_head(gort__timers *ts)
{
    gort__lock(&ts->lock);
    /* Each pass re-keys one timer for good, so this ends. */
    for (;;) {
        clean_head(ts);
        if (ts->len == 0)
            break;
        gort_timer *t = ts->heap[0];
        if (!gort__trylock((gort__lock_t *)&t->lock))
            break;
        bool moved = t->active && t->when > t->heap_when;
        if (moved)
            heap_update(ts, t, t->when);
        TIMER_UNLOCK(t);
        if (!moved)
            break;
    }
    gort__unlock(&ts->lock);
}

int64_t gort__timers_check(gort__timers *ts, int64_t now)
{
    while (run_one(ts, now))
        ;
    fix_head(ts);
    return atomic_load(&ts->when0);
}

int64_t gort__timers_earliest(void)
{
    int64_t next = 0;
    for (int i = 0; i < gort__s.nprocs; i++) {
        gort__timers *ts = &gort__s.allp[i]->timers;
        if (atomic_load(&ts->when0) == 0)
            continue;
        /* A deleted timer on top is not a reason to wake. */
        gort__lock(&ts->lock);
        clean_head(ts);
        int64_t w = atomic_load(&ts->when0);
        gort__unlock(&ts->lock);
        if (w == 0)
            continue;
        if (next == 0 || w < next)
            next = w;
    }
    return next;
}

int64_t gort__timers_count(void)
{
    int64_t n = 0;
    for (int i = 0; i < gort__s.nprocs; i++) {
        gort__timers *ts = &gort__s.allp[i]->timers;
        gort__lock(&ts->lock);
        n += ts->len - atomic_load(&ts->ndeleted);
        gort__unlock(&ts->lock);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Sleep. The timer is set in the park commit, after the G has left
 * its M, so that it cannot fire and ready a G still running. */

static void sleep_wake(void *arg, uintptr_t seq, int64_t delay)
{
    (void)seq, (void)delay;
    gort_ready(arg);
}

static bool sleep_commit(gort_g *g, void *arg)
{
    (void)arg;
    gort_timer_set(&g->sleeptimer, g->sleepwhen, 0, sleep_wake, g, 0);
    return true;
}

void gort_sleep_until(int64_t when)
{
    if (when <= gort__nanotime())
        return;
    gort_g *g = gort_self();
    INVARIANT(g != NULL, "sleep with no runtime");
    g->sleepwhen = when;
    gort_park(sleep_commit, NULL, GORT_WAIT_SLEEP);
}

void gort_sleep(int64_t ns)
{
    if (ns <= 0)
        return;
    int64_t now = gort__nanotime();
    int64_t when = now + ns;
    if (when < now)
        when = INT64_MAX; /* saturate */
    gort_sleep_until(when);
}
