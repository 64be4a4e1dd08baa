/*
 * netpoll.h: libpoll's private structures, shared by its source files
 * and exposed to its tests (the one small window onto the internals).
 *
 * Lock order (take left before right, never the reverse):
 *
 *   pollcache.lock            (a leaf: nothing is taken under it)
 *   pd->lock -> libsched's timer locks
 *
 * A deadline timer's callback runs with no libsched lock held and takes
 * pd->lock; gpoll_set_deadline and gpoll_unblock take pd->lock and then
 * set or delete the timer. Both paths therefore take pd->lock first.
 */
#ifndef GPOLL_NETPOLL_H
#define GPOLL_NETPOLL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gort_poll.h"
#include "gort_sched.h"

/* ------------------------------------------------------------------ */
/* Invariants. Always on: a corrupted pollDesc must not slip through a
 * release build. */

_Noreturn void gpoll__throw(const char *func, const char *what,
                            const char *file, int line);

#define GPOLL__THROW(what) gpoll__throw(__func__, (what), __FILE__, __LINE__)
#define GPOLL__CHECK(cond, what)                                               \
    do {                                                                       \
        if (__builtin_expect(!(cond), 0))                                      \
            GPOLL__THROW(what);                                                \
    } while (0)

/* ------------------------------------------------------------------ */
/* Runtime-internal mutex (lock.c). It blocks the thread, never parks a
 * G, so it may be taken on a scheduler stack and in timer callbacks.
 * Zeroed memory is an unlocked mutex. */

typedef struct gpoll__mutex {
    _Atomic uint32_t state; /* 0 unlocked, 1 locked, 2 locked + sleepers */
} gpoll__mutex;

void gpoll__lock(gpoll__mutex *m);
void gpoll__unlock(gpoll__mutex *m);

/* ------------------------------------------------------------------ */
/* The pollDesc. */

/* What rg/wg hold besides a G pointer (Go's pdNil, pdReady, pdWait). A
 * G pointer is always larger than pdWait. */
#define GPOLL__PD_NIL ((uintptr_t)0)
#define GPOLL__PD_READY ((uintptr_t)1)
#define GPOLL__PD_WAIT ((uintptr_t)2)

/* The fd sequence travels with every epoll registration as the tag of
 * a tagged pointer: the pollDesc address shifted left past the unused
 * top bits of a user-space address, its low alignment bits reused too.
 * On x86_64 and aarch64 (48-bit user addresses) with 8-byte alignment
 * that leaves 64 - 48 + 3 = 19 bits of tag. */
#define GPOLL__ADDR_BITS 48
#define GPOLL__ALIGN_BITS 3
#define GPOLL__TAG_BITS (64 - GPOLL__ADDR_BITS + GPOLL__ALIGN_BITS)
#define GPOLL__TAG_MASK ((UINT64_C(1) << GPOLL__TAG_BITS) - 1)

/* The fd-sequence field inside the info bits is wider than the tag, so
 * every fd sequence fits in it unchanged. */
_Static_assert(GPOLL_INFO_FDSEQ_BITS >= GPOLL__TAG_BITS,
               "the info bits must hold a whole fd sequence");
_Static_assert(GPOLL_INFO_FDSEQ_SHIFT + GPOLL_INFO_FDSEQ_BITS <= 32,
               "the info bits are 32 bits wide");

/*
 * One descriptor per registered fd. Descriptors live in the poll cache
 * and are never returned to the C heap: an epoll event or a deadline
 * timer that arrives after the fd was closed still points at valid
 * memory, and checks the fd sequence (events) or rseq/wseq (timers) to
 * find that it is stale.
 */
struct gpoll_desc {
    gpoll_desc *link; /* free list; under pollcache.lock */
    int fd;           /* constant while the pd is open */

    /* Bumped (within the tag mask, skipping 0) each time the pd goes
     * back to the cache. Written under lock; netpoll reads it
     * atomically to drop events for an earlier registration. */
    _Atomic uintptr_t fdseq;

    /* Summary of closing, rd < 0, wd < 0 and the fd sequence, written
     * under lock by publish_info; plus the event-error bit, which only
     * netpoll (atomically) and gpoll_open write. Read without the lock
     * by checkerr. */
    _Atomic uint32_t info;

    /* The semaphores: PD_NIL, PD_READY, PD_WAIT or the parked G.
     * Atomic, no lock: the waiting G, netpoll, timers and unblock all
     * move them with compare-and-swap. */
    _Atomic uintptr_t rg;
    _Atomic uintptr_t wg;

    gpoll__mutex lock; /* protects everything below */
    bool closing;
    uintptr_t rseq;      /* protects from stale read timers */
    uintptr_t wseq;      /* protects from stale write timers */
    int64_t rd;          /* read deadline: 0 none, -1 expired */
    int64_t wd;          /* write deadline: 0 none, -1 expired */
    gort_timer_fn rt_fn; /* rt in use (set, or fired) when non-NULL */
    gort_timer_fn wt_fn; /* wt in use when non-NULL */
    gort_timer rt;       /* read (or shared) deadline timer */
    gort_timer wt;       /* write deadline timer */
    gpoll_desc *self;    /* the timers' arg: this pd */
} __attribute__((aligned(1 << GPOLL__ALIGN_BITS)));

_Static_assert(_Alignof(struct gpoll_desc) >= (1 << GPOLL__ALIGN_BITS),
               "pollDesc alignment frees the tag's low bits");

/* Packs pd and tag into an epoll data word, and back. */
uint64_t gpoll__tag_pack(gpoll_desc *pd, uintptr_t tag);
gpoll_desc *gpoll__tag_pointer(uint64_t tp);
uintptr_t gpoll__tag_value(uint64_t tp);

/* ------------------------------------------------------------------ */
/* The poll cache (pollcache.c). */

#define GPOLL__BLOCK_SIZE 4096

/* A descriptor off the free list, growing the cache by one mmap'd block
 * when it is empty. NULL if mmap fails. */
gpoll_desc *gpoll__cache_alloc(void);
/* Bumps pd's fd sequence, so that events in flight for it are dropped,
 * and puts it back on the free list. */
void gpoll__cache_free(gpoll_desc *pd);
int gpoll__cache_per_block(void);

/* ------------------------------------------------------------------ */
/* pollDesc operations shared with the backend (netpoll.c). */

/* Recomputes pd's info bits from closing, rd, wd and the fd sequence,
 * keeping the event-error bit. Called with pd->lock held after every
 * change that may affect them (Go's publishInfo). */
void gpoll__publish_info(gpoll_desc *pd);
/* Declares pd ready in mode ('r', 'w' or 'r'+'w') after an event;
 * adds the Gs it wakes to out. Go's netpollready. */
void gpoll__ready(gort_glist *out, gpoll_desc *pd, int mode);
/* Sets or clears the event-error bit, unless the info bits already
 * belong to an fd sequence other than seq (0: no check). */
void gpoll__set_event_err(gpoll_desc *pd, bool err, uintptr_t seq);
/* The deadline timer body (Go's netpolldeadlineimpl). */
void gpoll__deadline(gpoll_desc *pd, uintptr_t seq, bool read, bool write);
/* Adds delta to the waiter count (Go's netpollAdjustWaiters). */
void gpoll__adjust_waiters(int32_t delta);

/* ------------------------------------------------------------------ */
/* The epoll backend (netpoll_epoll.c). */

/* Creates the epoll instance and the break eventfd once; later calls
 * return the first call's result. */
int gpoll__init(void);
bool gpoll__inited(void);
/* Registers fd for pd (tagged with its fd sequence); 0 or -errno. */
int gpoll__backend_open(int fd, gpoll_desc *pd);
/* Deregisters fd; 0 or -errno. */
int gpoll__backend_close(int fd);
/* Go's netpoll(delay): polls and adds readied Gs to out. */
void gpoll__netpoll(int64_t delay, gort_glist *out);
/* Go's netpollBreak. */
void gpoll__netpoll_break(void);
/* The epoll_wait timeout, in ms, that netpoll uses for delay ns. */
int gpoll__netpoll_waitms(int64_t delay);
/* Handles one epoll event as netpoll does (exposed for tests that
 * forge stale or erroneous events). delay is the poll's delay. */
void gpoll__netpoll_event(uint64_t data, uint32_t events, int64_t delay,
                          gort_glist *out);
/* The epoll data word that marks the break eventfd. */
#define GPOLL__BREAK_DATA UINT64_C(0)
/* The wake flag (netpollWakeSig): 1 while a break is pending. */
uint32_t gpoll__wake_sig(void);
int gpoll__epfd(void);
int gpoll__break_fd(void);

#endif
