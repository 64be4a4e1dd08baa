/*
 * fdMutex: who may use an fd, and when it may be closed.
 *
 * Every operation on a poll.FD holds a reference for its duration, so
 * that the system fd is not closed (and its number reused) under it.
 * Reads are serialised among themselves by a read lock and writes by a
 * write lock, but a reader and a writer run side by side: a socket is
 * full duplex. Close sets the closing bit; from then on no reference or
 * lock can be taken, every G waiting for a lock is woken and fails, and
 * whoever drops the last reference destroys the fd.
 *
 * All of this lives in one 64-bit word so that each transition is a
 * single compare-and-swap:
 *
 *   bit 0        closing
 *   bit 1        read lock held
 *   bit 2        write lock held
 *   bits 3..22   references (20 bits)
 *   bits 23..42  Gs waiting for the read lock (20 bits)
 *   bits 43..62  Gs waiting for the write lock (20 bits)
 *
 * A lock holder also holds a reference. A G that finds its lock taken
 * counts itself as a waiter and sleeps on the matching libsched
 * semaphore (rsema or wsema); the unlocker removes one waiter from the
 * count and releases the semaphore once, and the woken G tries again
 * from the start. Close removes all waiters from the counts and
 * releases the semaphore once per waiter; each then sees closing.
 *
 * Rejected: a gort_mutex per direction plus a separate reference
 * count. Close would then have to wake lock waiters through the mutex,
 * which has no notion of "give up", and the closing check and the
 * reference taken would be two steps a Close could slip between.
 */
#include "net_private.h"

#define MU_CLOSED ((uint64_t)1 << 0)
#define MU_RLOCK ((uint64_t)1 << 1)
#define MU_WLOCK ((uint64_t)1 << 2)
#define MU_REF ((uint64_t)1 << 3)
#define MU_REF_MASK ((((uint64_t)1 << 20) - 1) << 3)
#define MU_RWAIT ((uint64_t)1 << 23)
#define MU_RMASK ((((uint64_t)1 << 20) - 1) << 23)
#define MU_WWAIT ((uint64_t)1 << 43)
#define MU_WMASK ((((uint64_t)1 << 20) - 1) << 43)

_Static_assert((MU_REF_MASK & MU_RMASK) == 0, "fdMutex fields overlap");
_Static_assert((MU_RMASK & MU_WMASK) == 0, "fdMutex fields overlap");
_Static_assert((MU_WMASK >> 63) == 0, "fdMutex write waiters overflow");

#define TOO_MANY "too many concurrent operations on one fd (max 1048575)"

static uint64_t load(gnet__fdmu *mu)
{
    return atomic_load_explicit(&mu->state, memory_order_acquire);
}

static bool cas(gnet__fdmu *mu, uint64_t *old, uint64_t new)
{
    return atomic_compare_exchange_weak_explicit(
        &mu->state, old, new, memory_order_acq_rel, memory_order_acquire);
}

/* Takes a reference unless the fd is closing. */
bool gnet__fdmu_incref(gnet__fdmu *mu)
{
    uint64_t old = load(mu);

    for (;;) {
        if (old & MU_CLOSED)
            return false;
        uint64_t new = old + MU_REF;
        GNET__CHECK((new &MU_REF_MASK) != 0, TOO_MANY);
        if (cas(mu, &old, new))
            return true;
    }
}

/* Wakes every G counted in the waiter field mask of old. */
static void wake_all(uint64_t old, uint64_t mask, uint64_t one, uint32_t *sema)
{
    while (old & mask) {
        old -= one;
        gort_sem_release(sema, false);
    }
}

/* Sets closing and takes a reference (which the closer's decref drops).
 * Returns false if the fd was already closing. */
bool gnet__fdmu_incref_and_close(gnet__fdmu *mu)
{
    uint64_t old = load(mu);

    for (;;) {
        if (old & MU_CLOSED)
            return false;
        uint64_t new = (old | MU_CLOSED) + MU_REF;
        GNET__CHECK((new &MU_REF_MASK) != 0, TOO_MANY);

        /* The waiters leave the counts now; each is released below and
         * finds closing when it retries. */
        new &= ~(MU_RMASK | MU_WMASK);
        if (cas(mu, &old, new)) {
            wake_all(old, MU_RMASK, MU_RWAIT, &mu->rsema);
            wake_all(old, MU_WMASK, MU_WWAIT, &mu->wsema);
            return true;
        }
    }
}

/* Drops a reference. Returns true if this was the last one of a closing
 * fd: the caller must destroy it. */
bool gnet__fdmu_decref(gnet__fdmu *mu)
{
    uint64_t old = load(mu);

    for (;;) {
        GNET__CHECK((old & MU_REF_MASK) != 0, "reference count underflow");
        uint64_t new = old - MU_REF;
        if (cas(mu, &old, new))
            return (new &(MU_CLOSED | MU_REF_MASK)) == MU_CLOSED;
    }
}

/* Takes the read (or write) lock and a reference, sleeping while
 * another G holds it. Returns false if the fd is or becomes closing. */
bool gnet__fdmu_rwlock(gnet__fdmu *mu, bool read)
{
    uint64_t bit = read ? MU_RLOCK : MU_WLOCK;
    uint64_t wait = read ? MU_RWAIT : MU_WWAIT;
    uint64_t mask = read ? MU_RMASK : MU_WMASK;
    uint32_t *sema = read ? &mu->rsema : &mu->wsema;
    uint64_t old = load(mu);

    for (;;) {
        if (old & MU_CLOSED)
            return false;
        uint64_t new;
        if ((old & bit) == 0) {
            new = (old | bit) + MU_REF;
            GNET__CHECK((new &MU_REF_MASK) != 0, TOO_MANY);
        } else {
            new = old + wait;
            GNET__CHECK((new &mask) != 0, TOO_MANY);
        }
        if (!cas(mu, &old, new))
            continue;
        if ((old & bit) == 0)
            return true;

        /* Counted as a waiter: the unlocker (or Close) uncounts us
         * before it releases the semaphore. */
        gort_sem_acquire(sema);
        old = load(mu);
    }
}

/* Releases the lock and its reference, waking one waiter. Returns true
 * if the caller must destroy the fd (last reference of a closing fd). */
bool gnet__fdmu_rwunlock(gnet__fdmu *mu, bool read)
{
    uint64_t bit = read ? MU_RLOCK : MU_WLOCK;
    uint64_t wait = read ? MU_RWAIT : MU_WWAIT;
    uint64_t mask = read ? MU_RMASK : MU_WMASK;
    uint32_t *sema = read ? &mu->rsema : &mu->wsema;
    uint64_t old = load(mu);

    for (;;) {
        GNET__CHECK((old & bit) != 0 && (old & MU_REF_MASK) != 0,
                    "unlock of an fd lock that is not held");
        uint64_t new = (old & ~bit) - MU_REF;
        if (old & mask)
            new -= wait;
        if (!cas(mu, &old, new))
            continue;
        if (old & mask)
            gort_sem_release(sema, false);
        return (new &(MU_CLOSED | MU_REF_MASK)) == MU_CLOSED;
    }
}

void gnet__fdmu_inspect(gnet__fdmu *mu, gnet__fdmu_view *v)
{
    uint64_t s = load(mu);

    v->closed = (s & MU_CLOSED) != 0;
    v->rlocked = (s & MU_RLOCK) != 0;
    v->wlocked = (s & MU_WLOCK) != 0;
    v->refs = (s & MU_REF_MASK) >> 3;
    v->rwaiters = (s & MU_RMASK) >> 23;
    v->wwaiters = (s & MU_WMASK) >> 43;
}
