/*
 * lock.c: the runtime-internal mutex that guards a pollDesc and the
 * poll cache.
 *
 * A three-state futex mutex: 0 unlocked, 1 locked, 2 locked with
 * possible sleepers. The holder of a pollDesc lock never parks and
 * holds it for a handful of instructions plus, at most, a timer update,
 * so a short spin catches almost every contended acquire before the
 * futex is needed.
 *
 * Rejected: gort_mutex, because it parks the G, and a timer callback or
 * the poller on a scheduler stack has no G to park; libsched's internal
 * lock, because it is private to libsched.
 */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "netpoll.h"

enum { UNLOCKED, LOCKED, SLEEPING };
enum { SPIN_TRIES = 64 };

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL,
            0);
}

static void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void gpoll__lock(gpoll__mutex *m)
{
    uint32_t v = UNLOCKED;

    if (atomic_compare_exchange_strong(&m->state, &v, LOCKED))
        return;

    /* Spin while the holder is most likely still running. */
    for (int i = 0; i < SPIN_TRIES; i++) {
        v = UNLOCKED;
        if (atomic_load_explicit(&m->state, memory_order_relaxed) == UNLOCKED &&
            atomic_compare_exchange_weak(&m->state, &v, LOCKED))
            return;
        cpu_relax();
    }

    /* Announce a sleeper; whoever unlocks then issues a wake-up. Taking
     * the lock this way leaves it marked SLEEPING, which costs at most
     * one needless wake-up. */
    while (atomic_exchange(&m->state, SLEEPING) != UNLOCKED)
        futex_wait(&m->state, SLEEPING);
}

void gpoll__unlock(gpoll__mutex *m)
{
    uint32_t old = atomic_exchange(&m->state, UNLOCKED);

    GPOLL__CHECK(old != UNLOCKED, "unlock of unlocked mutex");
    if (old == SLEEPING)
        futex_wake(&m->state);
}
