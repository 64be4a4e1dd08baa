/*
 * netpoll_epoll.c: the epoll backend, and libpoll's hook into libsched.
 *
 * The backend's interface (netpoll.h), as Go names it:
 *
 *   gpoll__init            netpollinit: the epoll fd and the break fd
 *   gpoll__backend_open    netpollopen: register an fd, edge-triggered
 *   gpoll__backend_close   netpollclose: deregister it
 *   gpoll__netpoll         netpoll(delay): collect readied Gs
 *   gpoll__netpoll_break   netpollBreak: wake a blocked netpoll
 *   gpoll_is_poll_descriptor
 *
 * Every fd is registered exactly once, for EPOLLIN | EPOLLOUT |
 * EPOLLRDHUP, edge-triggered: switching between reading and writing
 * then costs no epoll_ctl, and the semaphores in the pollDesc decide
 * which direction anyone cares about. The event's data word is the
 * pollDesc address tagged with its fd sequence; netpoll drops an event
 * whose tag is not the descriptor's current sequence, because the
 * descriptor has since been closed (and perhaps reused for another fd)
 * while the event was on its way.
 *
 * The break fd is an eventfd registered level-triggered. A non-blocking
 * poll leaves it alone: nobody needs waking then, and the level keeps
 * the event for the next blocking poll, which drains it and clears the
 * wake flag. netpollBreak writes only when it sets the flag, so any
 * number of wake requests cost one write until a poll drains it.
 *
 * Rejected: a pipe for the break (two fds for one counter), and
 * EPOLLONESHOT registrations (an epoll_ctl per wait).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "netpoll.h"

enum { MAX_EVENTS = 128 };

/* The longest wait netpoll asks of epoll_wait: 1e9 ms, about 11.5 days,
 * an arbitrary cap well inside epoll's int timeout. */
#define MAX_WAIT_MS 1000000000

static gpoll__mutex init_lock;
static _Atomic bool inited;       /* set once epfd and break_fd are valid */
static int init_err;              /* under init_lock */
static int epfd = -1;             /* immutable once inited */
static int break_fd = -1;         /* immutable once inited */
static _Atomic uint32_t wake_sig; /* a break is in flight */
static bool installed;            /* under init_lock */

_Static_assert(sizeof(uintptr_t) == 8, "tagged pointers need 64 bits");

/* ------------------------------------------------------------------ */
/* Tagged pointers. */

uint64_t gpoll__tag_pack(gpoll_desc *pd, uintptr_t tag)
{
    return ((uint64_t)(uintptr_t)pd << (64 - GPOLL__ADDR_BITS)) |
           (tag & GPOLL__TAG_MASK);
}

gpoll_desc *gpoll__tag_pointer(uint64_t tp)
{
    /* Arithmetic shift restores a sign-extended address, though user
     * space never has one. */
    int64_t v = (int64_t)tp >> GPOLL__TAG_BITS;

    return (gpoll_desc *)(uintptr_t)((uint64_t)v << GPOLL__ALIGN_BITS);
}

uintptr_t gpoll__tag_value(uint64_t tp)
{
    return (uintptr_t)(tp & GPOLL__TAG_MASK);
}

/* ------------------------------------------------------------------ */
/* Initialisation. */

static int create(void)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = GPOLL__BREAK_DATA};
    int err;

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -errno;
    break_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (break_fd < 0) {
        err = -errno;
        goto close_epfd;
    }
    /* Level-triggered: see the design note above. */
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, break_fd, &ev) < 0) {
        err = -errno;
        goto close_break;
    }
    return 0;

close_break:
    close(break_fd);
    break_fd = -1;
close_epfd:
    close(epfd);
    epfd = -1;
    return err;
}

int gpoll__init(void)
{
    int err;

    if (atomic_load(&inited))
        return 0;
    gpoll__lock(&init_lock);
    if (!atomic_load(&inited) && init_err == 0) {
        init_err = create();
        if (init_err == 0)
            atomic_store(&inited, true);
    }
    err = init_err;
    gpoll__unlock(&init_lock);
    return err;
}

bool gpoll__inited(void)
{
    return atomic_load(&inited);
}

static const gort_poller poller = {
    .poll = gpoll__netpoll,
    .wake = gpoll__netpoll_break,
    .waiters = gpoll_waiters,
};

int gpoll_install(void)
{
    int err = gpoll__init();

    if (err < 0)
        return err;
    gpoll__lock(&init_lock);
    /* libsched takes a poller only while stopped. A running runtime
     * that already has this one needs nothing more. */
    if (!gort_running())
        gort_set_poller(&poller);
    else if (!installed)
        err = -EBUSY;
    if (err == 0)
        installed = true;
    gpoll__unlock(&init_lock);
    return err;
}

bool gpoll_is_poll_descriptor(int fd)
{
    return atomic_load(&inited) && fd >= 0 && (fd == epfd || fd == break_fd);
}

int gpoll__epfd(void)
{
    return atomic_load(&inited) ? epfd : -1;
}

int gpoll__break_fd(void)
{
    return atomic_load(&inited) ? break_fd : -1;
}

uint32_t gpoll__wake_sig(void)
{
    return atomic_load(&wake_sig);
}

/* ------------------------------------------------------------------ */
/* Registration. */

int gpoll__backend_open(int fd, gpoll_desc *pd)
{
    struct epoll_event ev;

    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = gpoll__tag_pack(pd, atomic_load(&pd->fdseq));
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    return 0;
}

int gpoll__backend_close(int fd)
{
    struct epoll_event ev = {0};

    if (epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev) < 0)
        return -errno;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Break. */

void gpoll__netpoll_break(void)
{
    uint32_t zero = 0;
    uint64_t one = 1;

    /* Without an epoll instance nobody can be blocked in it. */
    if (!atomic_load(&inited))
        return;
    /* A break already in flight will wake the poller; one is enough. */
    if (!atomic_compare_exchange_strong(&wake_sig, &zero, 1))
        return;
    for (;;) {
        if (write(break_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
            return;
        if (errno == EINTR)
            continue;
        /* A full counter already wakes every poll. */
        if (errno == EAGAIN)
            return;
        GPOLL__THROW("write to break fd failed");
    }
}

static void drain_break(void)
{
    uint64_t count;

    /* One read resets an eventfd (no EFD_SEMAPHORE) to zero. */
    while (read(break_fd, &count, sizeof(count)) < 0 && errno == EINTR)
        ;
    atomic_store(&wake_sig, 0);
}

/* ------------------------------------------------------------------ */
/* Polling. */

int gpoll__netpoll_waitms(int64_t delay)
{
    if (delay < 0)
        return -1;
    if (delay == 0)
        return 0;
    /* A sub-millisecond wait still sleeps 1 ms rather than spin. */
    if (delay <= 1000000)
        return 1;
    /* Longer waits are cut to whole milliseconds; waking a little early
     * only makes the scheduler poll again for the remainder. */
    if (delay < INT64_C(1000000000000000))
        return (int)(delay / 1000000);
    return MAX_WAIT_MS;
}

void gpoll__netpoll_event(uint64_t data, uint32_t events, int64_t delay,
                          gort_glist *out)
{
    int mode = 0;
    gpoll_desc *pd;
    uintptr_t tag;

    if (events == 0)
        return;
    if (data == GPOLL__BREAK_DATA) {
        GPOLL__CHECK(events == EPOLLIN, "break fd ready for other than in");
        /* Only a blocking poll drains: see the design note. */
        if (delay != 0)
            drain_break();
        return;
    }

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        mode += GPOLL_READ;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        mode += GPOLL_WRITE;
    if (mode == 0)
        return;

    pd = gpoll__tag_pointer(data);
    tag = gpoll__tag_value(data);
    /* The descriptor went back to the cache since this registration. */
    if (atomic_load(&pd->fdseq) != tag)
        return;
    gpoll__set_event_err(pd, events == EPOLLERR, tag);
    gpoll__ready(out, pd, mode);
}

/* epoll_pwait2 (Linux 5.11) takes the timeout in nanoseconds. Where
 * it exists a timed poll waits exactly as long as asked, so a deadline
 * fires on time rather than up to a millisecond late; the seed's
 * millisecond rounding (gpoll__netpoll_waitms) remains for kernels
 * without it. Long waits keep the same cap either way. */
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif
static _Atomic int have_pwait2 = 1;

static int epoll_wait_ns(struct epoll_event *ev, int64_t delay, int waitms)
{
    if (delay > 0 && atomic_load_explicit(&have_pwait2,
                                          memory_order_relaxed)) {
        int64_t cap = (int64_t)MAX_WAIT_MS * 1000000;
        int64_t d = delay < cap ? delay : cap;
        struct timespec ts = {.tv_sec = d / 1000000000,
                              .tv_nsec = d % 1000000000};
        long n = syscall(SYS_epoll_pwait2, epfd, ev, MAX_EVENTS, &ts, NULL,
                         (size_t)0);
        if (n >= 0 || errno != ENOSYS)
            return (int)n;
        atomic_store(&have_pwait2, 0);
    }
    return epoll_wait(epfd, ev, MAX_EVENTS, waitms);
}

void gpoll__netpoll(int64_t delay, gort_glist *out)
{
    struct epoll_event events[MAX_EVENTS];
    int waitms, n;

    if (!atomic_load(&inited))
        return;
    waitms = gpoll__netpoll_waitms(delay);
    for (;;) {
        n = epoll_wait_ns(events, delay, waitms);
        if (n >= 0)
            break;
        GPOLL__CHECK(errno == EINTR, "epoll_wait failed");
        /* An interrupted timed wait returns empty so that the caller
         * can work out how long is left; the others just retry. */
        if (waitms > 0)
            return;
    }
    for (int i = 0; i < n; i++)
        gpoll__netpoll_event(events[i].data.u64, events[i].events, delay, out);
}
