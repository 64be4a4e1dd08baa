/*
 * netpoll.c: pollDescs, the semaphores Gs park on, and deadlines.
 *
 * A pollDesc (gpoll_desc) belongs to one registered fd. It has two
 * binary semaphores, rg for readers and wg for writers, each holding
 * one of:
 *
 *   PD_NIL    nothing pending, nobody waiting
 *   PD_READY  an I/O readiness notification is pending
 *   PD_WAIT   a G is about to park (set by the G itself)
 *   G         that G is parked, waiting
 *
 * Transitions (each a compare-and-swap; no lock is needed for them):
 *
 *   NIL   -> WAIT   gpoll_wait, before parking
 *   WAIT  -> G      the park commit, on the scheduler stack, once the G
 *                   has left its M; if it fails the G resumes at once
 *   READY -> NIL    gpoll_wait consumes a pending notification, or
 *                   gpoll_reset drops it before an I/O attempt
 *   *     -> READY  an epoll event (netpoll); returns the G, if any
 *   WAIT/G -> NIL   a deadline, gpoll_unblock, or the waiter itself
 *                   after it wakes up
 *   G     -> NIL    the waiter itself, when a signal interrupts the wait
 *                   of an interruptible host thread (blockcancel); if a
 *                   waker took G first, the waiter waits for it
 *
 * Everything else (closing, deadlines, timers, sequences) is under
 * pd->lock, and summarised in the atomic info bits so that a G can
 * check for closing, timeout and event errors without the lock. The
 * order that keeps wake-ups from being lost: a waiter stores PD_WAIT,
 * then reads the info bits; a closer or deadline publishes the info
 * bits, then reads the semaphore. One of the two always sees the other.
 *
 * Deadlines are absolute gort_now() nanoseconds at the API. Inside, as
 * in Go, rd/wd hold 0 for none, -1 once expired, or the deadline.
 * Timers are invalidated rather than trusted: each carries the rseq or
 * wseq current when it was set, and the callback does nothing when the
 * number has moved on (the deadline was changed, the pd was unblocked
 * or reused). When rd == wd one timer serves both directions.
 *
 * The waiter count (netpollWaiters) goes up when a park commits and
 * down for every G taken out of a semaphore, whatever woke it, so that
 * the scheduler can skip polling when nobody waits.
 *
 * Rejected: a per-pd lock around the semaphores. The fast path of a
 * ready fd would then take a lock per I/O, and netpoll would contend
 * with every reader.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netpoll.h"

static _Atomic int32_t netpoll_waiters;

void gpoll__throw(const char *func, const char *what, const char *file,
                  int line)
{
    fprintf(stderr, "%s: %s (%s:%d)\n", func, what, file, line);
    abort();
}

int32_t gpoll_waiters(void)
{
    return atomic_load(&netpoll_waiters);
}

void gpoll__adjust_waiters(int32_t delta)
{
    if (delta != 0)
        atomic_fetch_add(&netpoll_waiters, delta);
}

static _Atomic uintptr_t *sem_of(gpoll_desc *pd, int mode)
{
    return mode == GPOLL_WRITE ? &pd->wg : &pd->rg;
}

/* ------------------------------------------------------------------ */
/* Info bits. */

void gpoll__publish_info(gpoll_desc *pd)
{
    uint32_t info = 0;
    uint32_t x;

    if (pd->closing)
        info |= GPOLL_INFO_CLOSING;
    if (pd->rd < 0)
        info |= GPOLL_INFO_EXPIRED_READ;
    if (pd->wd < 0)
        info |= GPOLL_INFO_EXPIRED_WRITE;
    info |= (uint32_t)(atomic_load(&pd->fdseq) & GPOLL_INFO_FDSEQ_MASK)
            << GPOLL_INFO_FDSEQ_SHIFT;

    /* Everything but the event-error bit, which netpoll owns. */
    x = atomic_load(&pd->info);
    while (!atomic_compare_exchange_weak(&pd->info, &x,
                                         (x & GPOLL_INFO_EVENT_ERR) | info))
        ;
}

static uint32_t info_seq(uint32_t x)
{
    return (x >> GPOLL_INFO_FDSEQ_SHIFT) & GPOLL_INFO_FDSEQ_MASK;
}

void gpoll__set_event_err(gpoll_desc *pd, bool err, uintptr_t seq)
{
    uint32_t want = (uint32_t)(seq & GPOLL_INFO_FDSEQ_MASK);
    uint32_t x = atomic_load(&pd->info);

    /* A stale event must not mark the descriptor's next use. The check
     * is repeated after every failed swap: the pd may have been freed
     * and reopened in between. */
    for (;;) {
        if (seq != 0 && info_seq(x) != want)
            return;
        if (((x & GPOLL_INFO_EVENT_ERR) != 0) == err)
            return;
        if (atomic_compare_exchange_weak(&pd->info, &x,
                                         x ^ GPOLL_INFO_EVENT_ERR))
            return;
    }
}

/* Go's netpollcheckerr: closing first, then an expired deadline of this
 * mode, then (reads only) an event error. A write error is left for the
 * write call itself, which reports it more precisely. */
static int checkerr(gpoll_desc *pd, int mode)
{
    uint32_t info = atomic_load(&pd->info);

    if (info & GPOLL_INFO_CLOSING)
        return GPOLL_ERR_CLOSING;
    if ((mode == GPOLL_READ && (info & GPOLL_INFO_EXPIRED_READ)) ||
        (mode == GPOLL_WRITE && (info & GPOLL_INFO_EXPIRED_WRITE)))
        return GPOLL_ERR_TIMEOUT;
    if (mode == GPOLL_READ && (info & GPOLL_INFO_EVENT_ERR))
        return GPOLL_ERR_NOT_POLLABLE;
    return GPOLL_OK;
}

/* ------------------------------------------------------------------ */
/* The semaphores. */

/* Go's netpollunblock. With ioready, leaves PD_READY behind; without,
 * only takes out a waiter. Returns the parked G, if there was one, and
 * counts it off the waiters in *delta. */
static gort_g *unblock_sem(gpoll_desc *pd, int mode, bool ioready,
                           int32_t *delta)
{
    _Atomic uintptr_t *gpp = sem_of(pd, mode);
    uintptr_t old = atomic_load(gpp);
    uintptr_t new = ioready ? GPOLL__PD_READY : GPOLL__PD_NIL;

    for (;;) {
        if (old == GPOLL__PD_READY)
            return NULL;
        /* Without I/O there is nothing to record for a G that has not
         * started waiting; it checks deadlines and closing itself. */
        if (old == GPOLL__PD_NIL && !ioready)
            return NULL;
        if (atomic_compare_exchange_weak(gpp, &old, new))
            break;
    }
    if (old == GPOLL__PD_NIL || old == GPOLL__PD_WAIT)
        return NULL;
    *delta -= 1;
    return (gort_g *)old;
}

/* The park commit (Go's netpollblockcommit). Runs on the scheduler
 * stack once the G is off its M. The waiter is counted before the swap
 * so that the count never dips below its baseline when a wake-up races
 * the commit. */
static bool blockcommit(gort_g *g, void *arg)
{
    _Atomic uintptr_t *gpp = arg;
    uintptr_t expect = GPOLL__PD_WAIT;

    atomic_fetch_add(&netpoll_waiters, 1);
    if (atomic_compare_exchange_strong(gpp, &expect, (uintptr_t)g))
        return true;
    atomic_fetch_sub(&netpoll_waiters, 1);
    return false;
}

/* Takes an interrupted waiter back out of its semaphore (see
 * gort_park_cancelable): it is then nobody's to wake, and no longer
 * counted. */
static bool blockcancel(gort_g *g, void *arg)
{
    _Atomic uintptr_t *gpp = arg;
    uintptr_t expect = (uintptr_t)g;

    if (!atomic_compare_exchange_strong(gpp, &expect, GPOLL__PD_NIL))
        return false;
    gpoll__adjust_waiters(-1);
    return true;
}

enum { BLOCK_WOKEN, BLOCK_READY, BLOCK_INTERRUPTED };

/* Go's netpollblock. Returns BLOCK_READY if I/O is ready, BLOCK_WOKEN
 * on a deadline or close (or a spurious wake-up the caller retries),
 * BLOCK_INTERRUPTED when a signal ended the wait of an interruptible
 * host thread. */
static int block(gpoll_desc *pd, int mode)
{
    _Atomic uintptr_t *gpp = sem_of(pd, mode);
    uintptr_t old;

    for (;;) {
        uintptr_t v = GPOLL__PD_READY;
        if (atomic_compare_exchange_strong(gpp, &v, GPOLL__PD_NIL))
            return true;
        v = GPOLL__PD_NIL;
        if (atomic_compare_exchange_strong(gpp, &v, GPOLL__PD_WAIT))
            break;
        /* Anything but NIL or READY means another G waits here; looping
         * would never end. */
        GPOLL__CHECK(v == GPOLL__PD_READY || v == GPOLL__PD_NIL, "double wait");
    }

    /* The closer and the deadline publish the info bits before they
     * look at the semaphore; having stored PD_WAIT, look at the bits. */
    int parked = 0;
    if (checkerr(pd, mode) == GPOLL_OK)
        parked = gort_park_cancelable(blockcommit, (void *)gpp,
                                      GORT_WAIT_IO, blockcancel);

    /* Whatever woke us, leave the semaphore empty without losing a
     * PD_READY that arrived meanwhile. */
    old = atomic_exchange(gpp, GPOLL__PD_NIL);
    GPOLL__CHECK(old <= GPOLL__PD_WAIT, "corrupted pollDesc");
    if (old == GPOLL__PD_READY)
        return BLOCK_READY;
    return parked == -EINTR ? BLOCK_INTERRUPTED : BLOCK_WOKEN;
}

void gpoll__ready(gort_glist *out, gpoll_desc *pd, int mode)
{
    int32_t delta = 0;
    gort_g *rg = NULL, *wg = NULL;

    if (mode == GPOLL_READ || mode == GPOLL_RW)
        rg = unblock_sem(pd, GPOLL_READ, true, &delta);
    if (mode == GPOLL_WRITE || mode == GPOLL_RW)
        wg = unblock_sem(pd, GPOLL_WRITE, true, &delta);
    if (rg != NULL)
        gort_glist_push(out, rg);
    if (wg != NULL)
        gort_glist_push(out, wg);
    gpoll__adjust_waiters(delta);
}

/* Readies the Gs a deadline or close took out (Go's netpollgoready). */
static void goready(gort_g *rg, gort_g *wg, int32_t delta)
{
    gpoll__adjust_waiters(delta);
    if (rg != NULL)
        gort_ready(rg);
    if (wg != NULL)
        gort_ready(wg);
}

/* ------------------------------------------------------------------ */
/* Open, close, reset, wait, unblock. */

int gpoll_open(int fd, gpoll_desc **out)
{
    gpoll_desc *pd;
    uintptr_t rg, wg;
    int err;

    /* Bad arguments are errors, not crashes: -EINVAL for a NULL out,
     * -EBADF for a negative fd (epoll would say so too, but only after
     * a descriptor was taken from the cache). */
    if (out == NULL)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    err = gpoll__init();
    if (err < 0)
        return err;
    pd = gpoll__cache_alloc();
    if (pd == NULL)
        return -ENOMEM;

    gpoll__lock(&pd->lock);
    /* A free descriptor may still say PD_READY from its last use, but
     * a parked G would mean a close without unblock slipped through. */
    wg = atomic_load(&pd->wg);
    GPOLL__CHECK(wg == GPOLL__PD_NIL || wg == GPOLL__PD_READY,
                 "blocked write on free pollDesc");
    rg = atomic_load(&pd->rg);
    GPOLL__CHECK(rg == GPOLL__PD_NIL || rg == GPOLL__PD_READY,
                 "blocked read on free pollDesc");
    pd->fd = fd;
    /* Sequence 0 means "do not check" to set_event_err. */
    if (atomic_load(&pd->fdseq) == 0)
        atomic_store(&pd->fdseq, 1);
    pd->closing = false;
    gpoll__set_event_err(pd, false, 0);
    pd->rseq++;
    atomic_store(&pd->rg, GPOLL__PD_NIL);
    pd->rd = 0;
    pd->wseq++;
    atomic_store(&pd->wg, GPOLL__PD_NIL);
    pd->wd = 0;
    pd->self = pd;
    gpoll__publish_info(pd);
    gpoll__unlock(&pd->lock);

    err = gpoll__backend_open(fd, pd);
    if (err < 0) {
        gpoll__cache_free(pd);
        return err;
    }
    *out = pd;
    return 0;
}

void gpoll_close(gpoll_desc *pd)
{
    uintptr_t rg, wg;

    if (pd == NULL)
        return;

    /* Without a prior unblock a G could stay parked on a descriptor
     * that is about to serve another fd. */
    GPOLL__CHECK(pd->closing, "close of pollDesc without unblock");
    wg = atomic_load(&pd->wg);
    GPOLL__CHECK(wg == GPOLL__PD_NIL || wg == GPOLL__PD_READY,
                 "blocked write on closing pollDesc");
    rg = atomic_load(&pd->rg);
    GPOLL__CHECK(rg == GPOLL__PD_NIL || rg == GPOLL__PD_READY,
                 "blocked read on closing pollDesc");
    /* The fd may already be closed by the caller; that is not an error
     * worth reporting here. */
    (void)gpoll__backend_close(pd->fd);
    gpoll__cache_free(pd);
}

static void check_mode(int mode)
{
    GPOLL__CHECK(mode == GPOLL_READ || mode == GPOLL_WRITE, "bad mode");
}

int gpoll_reset(gpoll_desc *pd, int mode)
{
    int err;

    /* No descriptor: the fd is not in the poller. */
    if (pd == NULL)
        return GPOLL_ERR_NOT_POLLABLE;
    check_mode(mode);
    err = checkerr(pd, mode);
    if (err != GPOLL_OK)
        return err;
    atomic_store(sem_of(pd, mode), GPOLL__PD_NIL);
    return GPOLL_OK;
}

int gpoll_wait(gpoll_desc *pd, int mode)
{
    int err;

    if (pd == NULL)
        return GPOLL_ERR_NOT_POLLABLE;
    check_mode(mode);
    err = checkerr(pd, mode);
    if (err != GPOLL_OK)
        return err;
    for (;;) {
        int b = block(pd, mode);
        if (b == BLOCK_READY)
            return GPOLL_OK;
        err = checkerr(pd, mode);
        if (err != GPOLL_OK)
            return err;
        if (b == BLOCK_INTERRUPTED)
            return GPOLL_ERR_INTERRUPTED;
        /* A deadline fired and was moved again before this G ran:
         * nothing happened, as far as the caller can tell. Wait again. */
    }
}

void gpoll_unblock(gpoll_desc *pd)
{
    int32_t delta = 0;
    gort_g *rg, *wg;

    if (pd == NULL)
        return;

    gpoll__lock(&pd->lock);
    GPOLL__CHECK(!pd->closing, "unblock on closing pollDesc");
    pd->closing = true;
    pd->rseq++;
    pd->wseq++;
    gpoll__publish_info(pd);
    rg = unblock_sem(pd, GPOLL_READ, false, &delta);
    wg = unblock_sem(pd, GPOLL_WRITE, false, &delta);
    if (pd->rt_fn != NULL) {
        gort_timer_del(&pd->rt);
        pd->rt_fn = NULL;
    }
    if (pd->wt_fn != NULL) {
        gort_timer_del(&pd->wt);
        pd->wt_fn = NULL;
    }
    gpoll__unlock(&pd->lock);
    goready(rg, wg, delta);
}

/* ------------------------------------------------------------------ */
/* Deadlines. */

void gpoll__deadline(gpoll_desc *pd, uintptr_t seq, bool read, bool write)
{
    int32_t delta = 0;
    gort_g *rg = NULL, *wg = NULL;

    gpoll__lock(&pd->lock);
    /* A timer set before the last deadline change, unblock or reuse
     * carries an old sequence: the event it stands for is gone. */
    if (seq != (read ? pd->rseq : pd->wseq)) {
        gpoll__unlock(&pd->lock);
        return;
    }
    if (read) {
        GPOLL__CHECK(pd->rd > 0 && pd->rt_fn != NULL,
                     "inconsistent read deadline");
        pd->rd = -1;
        gpoll__publish_info(pd);
        rg = unblock_sem(pd, GPOLL_READ, false, &delta);
    }
    if (write) {
        GPOLL__CHECK(pd->wd > 0 && (pd->wt_fn != NULL || read),
                     "inconsistent write deadline");
        pd->wd = -1;
        gpoll__publish_info(pd);
        wg = unblock_sem(pd, GPOLL_WRITE, false, &delta);
    }
    gpoll__unlock(&pd->lock);
    goready(rg, wg, delta);
}

static void read_deadline(void *arg, uintptr_t seq, int64_t delay)
{
    (void)delay;
    gpoll__deadline(arg, seq, true, false);
}

static void write_deadline(void *arg, uintptr_t seq, int64_t delay)
{
    (void)delay;
    gpoll__deadline(arg, seq, false, true);
}

static void rw_deadline(void *arg, uintptr_t seq, int64_t delay)
{
    (void)delay;
    gpoll__deadline(arg, seq, true, true);
}

/* Brings one deadline timer in line with its deadline d after a change
 * (Go's step: arm a fresh timer, or invalidate and re-arm or delete the
 * one in use). changed says whether d or the timer's sharing changed. */
static void rearm(gpoll_desc *pd, gort_timer *t, gort_timer_fn *tfn,
                  uintptr_t *seq, int64_t d, gort_timer_fn fn, bool want,
                  bool changed)
{
    if (*tfn == NULL) {
        if (!want)
            return;
        *tfn = fn;
        gort_timer_set(t, d, 0, fn, pd->self, *seq);
        return;
    }
    if (!changed)
        return;
    (*seq)++;
    if (want) {
        *tfn = fn;
        gort_timer_set(t, d, 0, fn, pd->self, *seq);
    } else {
        gort_timer_del(t);
        *tfn = NULL;
    }
}

/* The API's absolute deadline in rd/wd terms: 0 none, -1 expired. */
static int64_t internal_deadline(int64_t deadline)
{
    if (deadline == 0)
        return 0;
    if (deadline <= gort_now())
        return -1;
    return deadline;
}

void gpoll_set_deadline(gpoll_desc *pd, int64_t deadline, int mode)
{
    if (pd == NULL)
        return;
    int64_t d = internal_deadline(deadline);
    bool r = mode == GPOLL_READ || mode == GPOLL_RW;
    bool w = mode == GPOLL_WRITE || mode == GPOLL_RW;
    int64_t rd0, wd0;
    bool combo0, combo;
    int32_t delta = 0;
    gort_g *rg = NULL, *wg = NULL;

    GPOLL__CHECK(r || w, "bad mode");
    gpoll__lock(&pd->lock);
    if (pd->closing || ((!r || pd->rd == d) && (!w || pd->wd == d)))
        goto unlock;

    rd0 = pd->rd;
    wd0 = pd->wd;
    combo0 = rd0 > 0 && rd0 == wd0;
    if (r)
        pd->rd = d;
    if (w)
        pd->wd = d;
    gpoll__publish_info(pd);

    /* Equal deadlines share the read timer. */
    combo = pd->rd > 0 && pd->rd == pd->wd;
    rearm(pd, &pd->rt, &pd->rt_fn, &pd->rseq, pd->rd,
          combo ? rw_deadline : read_deadline, pd->rd > 0,
          pd->rd != rd0 || combo != combo0);
    rearm(pd, &pd->wt, &pd->wt_fn, &pd->wseq, pd->wd, write_deadline,
          pd->wd > 0 && !combo, pd->wd != wd0 || combo != combo0);

    /* A deadline already past wakes the waiters now; the info bits
     * published above keep them from parking again. */
    if (pd->rd < 0)
        rg = unblock_sem(pd, GPOLL_READ, false, &delta);
    if (pd->wd < 0)
        wg = unblock_sem(pd, GPOLL_WRITE, false, &delta);
unlock:
    gpoll__unlock(&pd->lock);
    goready(rg, wg, delta);
}

/* ------------------------------------------------------------------ */
/* Introspection. */

static int sem_kind(uintptr_t v)
{
    switch (v) {
    case GPOLL__PD_NIL:
        return GPOLL_SEM_NIL;
    case GPOLL__PD_READY:
        return GPOLL_SEM_READY;
    case GPOLL__PD_WAIT:
        return GPOLL_SEM_WAIT;
    default:
        return GPOLL_SEM_G;
    }
}

void gpoll_inspect(gpoll_desc *pd, gpoll_state *st)
{
    uintptr_t rg, wg;

    if (st == NULL)
        return;
    if (pd == NULL) {
        memset(st, 0, sizeof(*st));
        st->fd = -1;
        return;
    }
    gpoll__lock(&pd->lock);
    st->fd = pd->fd;
    st->fdseq = atomic_load(&pd->fdseq);
    st->info = atomic_load(&pd->info);
    rg = atomic_load(&pd->rg);
    wg = atomic_load(&pd->wg);
    st->rg = sem_kind(rg);
    st->wg = sem_kind(wg);
    st->rg_g = st->rg == GPOLL_SEM_G ? (gort_g *)rg : NULL;
    st->wg_g = st->wg == GPOLL_SEM_G ? (gort_g *)wg : NULL;
    st->closing = pd->closing;
    st->rseq = pd->rseq;
    st->wseq = pd->wseq;
    st->rd = pd->rd;
    st->wd = pd->wd;
    st->rt_set = pd->rt_fn != NULL;
    st->wt_set = pd->wt_fn != NULL;
    gpoll__unlock(&pd->lock);
}
