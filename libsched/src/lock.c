/*
 * lock.c: the runtime's own locks, notes, clock and fatal errors.
 *
 * The runtime cannot use gort_mutex for its own structures: that mutex
 * parks Gs, and the scheduler itself runs on g0 where nothing may park.
 * These locks block the thread instead. A lock word is 0 (free),
 * 1 (held) or 2 (held, maybe with sleepers); a short spin comes before
 * the futex, since runtime critical sections are a few dozen
 * instructions. A note is a one-shot event an M sleeps on.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

_Noreturn void gort__throw(const char *func, const char *what,
                           const char *file, int line)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "gort: fatal error: %s: %s (%s:%d)\n",
                     func, what, file, line);
    if (n > 0)
        (void)!write(2, buf, (size_t)n < sizeof buf ? (size_t)n
                                                   : sizeof buf - 1);
    abort();
}

int gort__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns)
{
    struct timespec ts, *tsp = NULL;

    if (ns >= 0) {
        ts.tv_sec = ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
    return r < 0 ? -errno : 0;
}

void gort__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

bool gort__trylock(gort__lock_t *l)
{
    uint32_t zero = 0;
    return atomic_compare_exchange_strong_explicit(
        l, &zero, 1, memory_order_acquire, memory_order_relaxed);
}

void gort__lock(gort__lock_t *l)
{
    if (likely(gort__trylock(l)))
        return;

    for (int i = 0; i < 100; i++) {
        cpu_relax();
        if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
            gort__trylock(l))
            return;
    }

    /* Marking 2 means the unlocker must wake someone. */
    while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
        gort__futex_wait(l, 2, -1);
}

void gort__unlock(gort__lock_t *l)
{
    uint32_t old = atomic_exchange_explicit(l, 0, memory_order_release);
    INVARIANT(old != 0, "unlock of unlocked lock");
    if (old == 2)
        gort__futex_wake(l, 1);
}

void gort__noteclear(gort__note *n)
{
    atomic_store(&n->key, 0);
}

void gort__notewakeup(gort__note *n)
{
    uint32_t old = atomic_exchange(&n->key, 1);
    INVARIANT(old == 0, "double wakeup");
    gort__futex_wake(&n->key, 1);
}

void gort__notesleep(gort__note *n)
{
    while (atomic_load(&n->key) == 0)
        gort__futex_wait(&n->key, 0, -1);
}

bool gort__notetsleep(gort__note *n, int64_t ns)
{
    if (ns < 0) {
        gort__notesleep(n);
        return true;
    }

    int64_t deadline = gort_nanotime_real() + ns;
    while (atomic_load(&n->key) == 0) {
        int64_t left = deadline - gort_nanotime_real();
        if (left <= 0)
            return false;
        gort__futex_wait(&n->key, 0, left);
    }
    return true;
}

int64_t gort_nanotime_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gort__nanotime(void)
{
    if (unlikely(gort__s.virtual_clock))
        return atomic_load_explicit(&gort__s.vclock, memory_order_acquire);
    return gort_nanotime_real();
}

int64_t gort_now(void)
{
    return gort__nanotime();
}
