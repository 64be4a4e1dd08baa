/*
 * gort_poll.h: Go's netpoller in C.
 *
 * The public surface of libpoll, which builds on libsched. A pollDesc
 * (gpoll_desc) ties a non-blocking fd to the Gs waiting to read or
 * write it, and to its read and write deadlines. The fd is registered
 * once with epoll, edge-triggered; Gs park on the descriptor's rg/wg
 * semaphores and are readied by epoll events, deadline timers or
 * gpoll_unblock.
 *
 * Conventions: functions return a poll error code (GPOLL_OK,
 * GPOLL_ERR_CLOSING, GPOLL_ERR_TIMEOUT, GPOLL_ERR_NOT_POLLABLE) where the
 * seed's poll_runtime_* functions do, and 0 or a negative errno
 * elsewhere. Deadlines are absolute nanoseconds on gort_now()'s clock:
 * 0 means none, a value <= now has already expired, a huge value never
 * fires.
 *
 * Bad arguments are errors, not crashes: gpoll_open fails with -EINVAL
 * for a NULL out and -EBADF for a negative fd; a NULL descriptor is
 * not pollable (gpoll_reset and gpoll_wait return
 * GPOLL_ERR_NOT_POLLABLE) and gpoll_close, gpoll_unblock and
 * gpoll_set_deadline ignore it. A mode other than GPOLL_READ,
 * GPOLL_WRITE (and GPOLL_RW for deadlines) is a broken invariant and
 * aborts, as Go's runtime throws.
 */
#ifndef GORT_POLL_H
#define GORT_POLL_H

#include <stdbool.h>
#include <stdint.h>

#include "gort_sched.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gpoll_desc gpoll_desc;

/* Modes, as Go's runtime spells them. */
#define GPOLL_READ 'r'
#define GPOLL_WRITE 'w'
#define GPOLL_RW ('r' + 'w')

/* Poll error codes (Go's pollNoError, pollErrClosing, ...). */
enum {
    GPOLL_OK = 0,
    GPOLL_ERR_CLOSING = 1,
    GPOLL_ERR_TIMEOUT = 2,
    GPOLL_ERR_NOT_POLLABLE = 3,
    /* Not Go's: a signal ended the wait of a host thread marked
     * interruptible (gort_set_interruptible), which then runs its
     * handlers and may wait again. Goroutines never see it. */
    GPOLL_ERR_INTERRUPTED = 4
};

/* Installs the netpoller as libsched's poller. Idempotent; call before
 * gort_main/gort_start (libnet does it for its users). Returns 0 or a
 * negative errno (-EBUSY: the runtime already runs without it). */
int gpoll_install(void);

/* Registers fd (already non-blocking) and returns its descriptor.
 * -EPERM means the fd cannot be polled (a regular file). */
int gpoll_open(int fd, gpoll_desc **out);

/* Deregisters and returns the descriptor to the cache. Requires a prior
 * gpoll_unblock; aborts otherwise. */
void gpoll_close(gpoll_desc *pd);

/* Resets the mode's semaphore before an I/O attempt. Returns the error
 * that stops the attempt (closing, timeout), or GPOLL_OK. */
int gpoll_reset(gpoll_desc *pd, int mode);

/* Parks the current G until the fd is ready in mode, its deadline
 * expires or it is unblocked. Returns GPOLL_OK when ready; on an
 * interruptible host thread, GPOLL_ERR_INTERRUPTED when a signal came
 * first. */
int gpoll_wait(gpoll_desc *pd, int mode);

/* Sets the mode's deadline (absolute ns; 0 clears). */
void gpoll_set_deadline(gpoll_desc *pd, int64_t deadline, int mode);

/* Marks closing, bumps the sequences and wakes both waiters with
 * GPOLL_ERR_CLOSING. */
void gpoll_unblock(gpoll_desc *pd);

/* Reports whether fd is one the poller uses itself (the epoll fd or the
 * break eventfd), which a user must not close. */
bool gpoll_is_poll_descriptor(int fd);

/* ------------------------------------------------------------------ */
/* Introspection for tests. */

/* The atomic info bits (Go's pollInfo): a summary of closing, expired
 * deadlines and the fd sequence, plus the event-error bit. */
#define GPOLL_INFO_CLOSING 0x1u       /* unblocked, about to close */
#define GPOLL_INFO_EVENT_ERR 0x2u     /* epoll reported an error */
#define GPOLL_INFO_EXPIRED_READ 0x4u  /* rd < 0 */
#define GPOLL_INFO_EXPIRED_WRITE 0x8u /* wd < 0 */
#define GPOLL_INFO_FDSEQ_SHIFT 4      /* low bits of the fd sequence */
#define GPOLL_INFO_FDSEQ_BITS 20
#define GPOLL_INFO_FDSEQ_MASK ((1u << GPOLL_INFO_FDSEQ_BITS) - 1)

/* What rg/wg hold. */
enum { GPOLL_SEM_NIL, GPOLL_SEM_READY, GPOLL_SEM_WAIT, GPOLL_SEM_G };

typedef struct gpoll_state {
    int fd;
    uintptr_t fdseq;
    uint32_t info;       /* the atomic info bits */
    int rg, wg;          /* GPOLL_SEM_* */
    gort_g *rg_g, *wg_g; /* the parked G, when GPOLL_SEM_G */
    bool closing;
    uintptr_t rseq, wseq;
    int64_t rd, wd;      /* deadlines as stored: <0 expired, 0 none */
    bool rt_set, wt_set; /* deadline timers armed */
} gpoll_state;

void gpoll_inspect(gpoll_desc *pd, gpoll_state *st);

typedef struct gpoll_cache_stats {
    int64_t in_use;
    int64_t free;
    int64_t blocks;
} gpoll_cache_stats;

void gpoll_cache_inspect(gpoll_cache_stats *st);

/* Gs currently parked in gpoll_wait (the seed's netpollWaiters). */
int32_t gpoll_waiters(void);

#ifdef __cplusplus
}
#endif
#endif
