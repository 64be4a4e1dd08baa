/*
 * poll.FD: a system fd, its fdMutex and its pollDesc.
 *
 * Every I/O call follows one pattern:
 *
 *   1. take the fdMutex (read lock, write lock or a plain reference);
 *      failure means the fd is closing;
 *   2. prepare: gpoll_reset the mode, which fails at once if the fd is
 *      closing or the mode's deadline has passed -- even when data or
 *      buffer space is ready, so an expired deadline always wins;
 *   3. try the system call; retry EINTR;
 *   4. on EAGAIN park in gpoll_wait until the fd is ready, the deadline
 *      expires or Close unblocks it; retry when ready (a host thread
 *      marked interruptible gets -EINTR when a signal comes first, so
 *      that its own handlers can run before it calls again);
 *   5. drop the fdMutex; the last reference of a closing fd destroys it.
 *
 * The pollDesc wrapper (prepare, wait, convert) turns libpoll's codes
 * into the GNET__ERR_ codes: closing -> "use of closed network
 * connection" (or "file"), timeout -> "i/o timeout", not pollable.
 *
 * Close: sets closing in the fdMutex (no new operation can start),
 * unblocks the pollDesc so every parked reader and writer wakes with
 * the closing error, drops its own reference, and then waits on csema
 * until the last operation in flight has dropped its reference and
 * destroyed the fd. So when Close returns, the system fd is closed and
 * its address or port is free again.
 *
 * Files that cannot be polled (regular files: epoll says EPERM) keep
 * pd == NULL and stay blocking; their calls run between
 * gort_entersyscall and gort_exitsyscall so that a slow disk does not
 * hold a P. They have no deadlines and Close does not wait for them.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net_private.h"

/* Larger stream reads and writes are split, as Go does, so that one
 * call never asks the kernel for more than it handles in one go. */
#define MAX_RW (1 << 30)

void gnet__fd_new(gnet__fd *fd, int sysfd, int sotype, bool is_socket)
{
    memset(fd, 0, sizeof(*fd));
    fd->sysfd = sysfd;
    fd->is_stream = sotype == SOCK_STREAM;
    fd->zero_read_is_eof = sotype != SOCK_DGRAM && sotype != SOCK_RAW;
    fd->is_socket = is_socket;
}

int gnet__fd_init(gnet__fd *fd, bool is_file, bool pollable)
{
    fd->is_file = is_file;
    if (!pollable) {
        fd->is_blocking = true;
        return 0;
    }

    int rc = gpoll_open(fd->sysfd, &fd->pd);
    if (rc < 0) {
        fd->pd = NULL;
        fd->is_blocking = true;
        return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The pollDesc wrapper. */

static int convert(int res)
{
    switch (res) {
    case GPOLL_OK:
        return 0;
    case GPOLL_ERR_CLOSING:
        return GNET__ERR_CLOSING;
    case GPOLL_ERR_TIMEOUT:
        return GNET__ERR_TIMEOUT;
    case GPOLL_ERR_NOT_POLLABLE:
        return GNET__ERR_NOT_POLLABLE;
    case GPOLL_ERR_INTERRUPTED:
        return -EINTR; /* the caller's own signal handlers come first */
    }
    GNET__CHECK(false, "unknown poll error code");
}

static int pd_prepare(gnet__fd *fd, int mode)
{
    if (fd->pd == NULL)
        return 0;
    return convert(gpoll_reset(fd->pd, mode));
}

static int pd_wait(gnet__fd *fd, int mode)
{
    if (fd->pd == NULL)
        return GNET__ERR_WAIT_UNSUPPORTED;
    return convert(gpoll_wait(fd->pd, mode));
}

/* ------------------------------------------------------------------ */
/* Destruction and references. */

static int destroy(gnet__fd *fd)
{
    int rc = 0;

    /* Close unblocked the pollDesc before the last reference went. */
    if (fd->pd != NULL) {
        gpoll_close(fd->pd);
        fd->pd = NULL;
    }
    if (close(fd->sysfd) < 0)
        rc = -errno;
    fd->sysfd = -1;
    gort_sem_release(&fd->csema, false);
    return rc;
}

int gnet__fd_incref(gnet__fd *fd)
{
    return gnet__fdmu_incref(&fd->fdmu) ? 0 : GNET__ERR_CLOSING;
}

void gnet__fd_decref(gnet__fd *fd)
{
    if (gnet__fdmu_decref(&fd->fdmu))
        destroy(fd);
}

static int read_lock(gnet__fd *fd)
{
    return gnet__fdmu_rwlock(&fd->fdmu, true) ? 0 : GNET__ERR_CLOSING;
}

static void read_unlock(gnet__fd *fd)
{
    if (gnet__fdmu_rwunlock(&fd->fdmu, true))
        destroy(fd);
}

static int write_lock(gnet__fd *fd)
{
    return gnet__fdmu_rwlock(&fd->fdmu, false) ? 0 : GNET__ERR_CLOSING;
}

static void write_unlock(gnet__fd *fd)
{
    if (gnet__fdmu_rwunlock(&fd->fdmu, false))
        destroy(fd);
}

int gnet__fd_close(gnet__fd *fd)
{
    if (!gnet__fdmu_incref_and_close(&fd->fdmu))
        return GNET__ERR_CLOSING;

    /* Wake every G parked on the pollDesc; they fail with closing and
     * drop their references. */
    if (fd->pd != NULL)
        gpoll_unblock(fd->pd);

    int rc = 0;
    bool blocking = fd->is_blocking;
    if (gnet__fdmu_decref(&fd->fdmu))
        rc = destroy(fd);

    /* A blocking file may have a G stuck in read(2) for good; waiting
     * for it would hang Close, so only pollable fds wait. */
    if (!blocking)
        gort_sem_acquire(&fd->csema);
    return rc;
}

/* ------------------------------------------------------------------ */
/* System calls: EINTR retried, blocking fds bracketed as syscalls. */

static void enter(gnet__fd *fd)
{
    if (fd->is_blocking)
        gort_entersyscall();
}

static void leave(gnet__fd *fd)
{
    if (fd->is_blocking)
        gort_exitsyscall();
}

static ssize_t sys_read(gnet__fd *fd, void *p, size_t n)
{
    ssize_t r;

    do {
        enter(fd);
        r = read(fd->sysfd, p, n);
        leave(fd);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static ssize_t sys_write(gnet__fd *fd, const void *p, size_t n)
{
    ssize_t r;

    do {
        enter(fd);
        if (fd->is_socket)
            r = send(fd->sysfd, p, n, MSG_NOSIGNAL);
        else
            r = write(fd->sysfd, p, n);
        leave(fd);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* ------------------------------------------------------------------ */
/* Read and Write. */

ssize_t gnet__fd_read(gnet__fd *fd, void *p, size_t n)
{
    ssize_t rc = read_lock(fd);
    if (rc < 0)
        return rc;

    /* A zero-length read returns at once: the syscall would return 0,
     * which on a stream means end of file. */
    if (n == 0)
        goto unlock;
    rc = pd_prepare(fd, GPOLL_READ);
    if (rc < 0)
        goto unlock;
    if (fd->is_stream && n > MAX_RW)
        n = MAX_RW;

    for (;;) {
        rc = sys_read(fd, p, n);
        if (rc == -EAGAIN && fd->pd != NULL) {
            rc = pd_wait(fd, GPOLL_READ);
            if (rc == 0)
                continue;
        }
        break;
    }

unlock:
    read_unlock(fd);
    return rc;
}

ssize_t gnet__fd_write(gnet__fd *fd, const void *p, size_t n, size_t *written)
{
    const char *b = p;
    size_t nn = 0;
    ssize_t rc = write_lock(fd);

    *written = 0;
    if (rc < 0)
        return rc;
    rc = pd_prepare(fd, GPOLL_WRITE);
    if (rc < 0)
        goto unlock;

    /* One write(2) even for n == 0: on a datagram socket that sends an
     * empty datagram. */
    for (;;) {
        size_t max = n;
        if (fd->is_stream && max - nn > MAX_RW)
            max = nn + MAX_RW;

        ssize_t r = sys_write(fd, b + nn, max - nn);
        if (r > 0) {
            GNET__CHECK((size_t)r <= max - nn, "write returned too much");
            nn += (size_t)r;
        }
        if (nn == n) {
            rc = r < 0 ? r : 0;
            break;
        }
        if (r == -EAGAIN && fd->pd != NULL) {
            rc = pd_wait(fd, GPOLL_WRITE);
            if (rc == 0)
                continue;
            break;
        }
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == 0) {
            rc = GNET__ERR_UNEXPECTED_EOF;
            break;
        }
    }

unlock:
    write_unlock(fd);
    *written = nn;
    return rc < 0 ? rc : (ssize_t)nn;
}

/* ------------------------------------------------------------------ */
/* Datagrams and messages. */

ssize_t gnet__fd_read_from(gnet__fd *fd, void *p, size_t n, gnet_addr *from)
{
    ssize_t rc = read_lock(fd);
    if (rc < 0)
        return rc;
    rc = pd_prepare(fd, GPOLL_READ);
    if (rc < 0)
        goto unlock;

    for (;;) {
        from->len = sizeof(from->ss);
        enter(fd);
        rc = recvfrom(fd->sysfd, p, n, 0, (struct sockaddr *)&from->ss,
                      &from->len);
        leave(fd);
        if (rc >= 0)
            break;
        rc = -errno;
        if (rc == -EINTR)
            continue;
        if (rc == -EAGAIN && fd->pd != NULL) {
            rc = pd_wait(fd, GPOLL_READ);
            if (rc == 0)
                continue;
        }
        break;
    }

unlock:
    read_unlock(fd);
    if (rc < 0)
        from->len = 0;
    return rc;
}

ssize_t gnet__fd_write_to(gnet__fd *fd, const void *p, size_t n,
                          const gnet_addr *to)
{
    ssize_t rc = write_lock(fd);
    if (rc < 0)
        return rc;
    rc = pd_prepare(fd, GPOLL_WRITE);
    if (rc < 0)
        goto unlock;

    for (;;) {
        enter(fd);
        rc = sendto(fd->sysfd, p, n, MSG_NOSIGNAL,
                    (const struct sockaddr *)&to->ss, to->len);
        leave(fd);
        if (rc >= 0)
            break;
        rc = -errno;
        if (rc == -EINTR)
            continue;
        if (rc == -EAGAIN && fd->pd != NULL) {
            rc = pd_wait(fd, GPOLL_WRITE);
            if (rc == 0)
                continue;
        }
        break;
    }

unlock:
    write_unlock(fd);
    return rc;
}

ssize_t gnet__fd_read_msg(gnet__fd *fd, void *p, size_t n, void *oob,
                          size_t *oobn, int *flags, gnet_addr *from)
{
    struct iovec iov = {.iov_base = p, .iov_len = n};
    struct msghdr msg;
    ssize_t rc = read_lock(fd);

    if (rc < 0)
        return rc;
    rc = pd_prepare(fd, GPOLL_READ);
    if (rc < 0)
        goto unlock;

    for (;;) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_name = &from->ss;
        msg.msg_namelen = sizeof(from->ss);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = oob;
        msg.msg_controllen = oob != NULL ? *oobn : 0;

        /* File descriptors passed over a unix socket arrive
         * close-on-exec, like every fd libnet makes. */
        enter(fd);
        rc = recvmsg(fd->sysfd, &msg, MSG_CMSG_CLOEXEC);
        leave(fd);
        if (rc >= 0)
            break;
        rc = -errno;
        if (rc == -EINTR)
            continue;
        if (rc == -EAGAIN && fd->pd != NULL) {
            rc = pd_wait(fd, GPOLL_READ);
            if (rc == 0)
                continue;
        }
        break;
    }

unlock:
    read_unlock(fd);
    if (rc < 0) {
        from->len = 0;
        *oobn = 0;
        *flags = 0;
    } else {
        from->len = msg.msg_namelen;
        *oobn = msg.msg_controllen;
        *flags = msg.msg_flags;
    }
    return rc;
}

ssize_t gnet__fd_write_msg(gnet__fd *fd, const void *p, size_t n,
                           const void *oob, size_t oobn, const gnet_addr *to)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    struct msghdr msg;
    ssize_t rc = write_lock(fd);

    if (rc < 0)
        return rc;
    rc = pd_prepare(fd, GPOLL_WRITE);
    if (rc < 0)
        goto unlock;

    memset(&msg, 0, sizeof(msg));
    if (to != NULL && to->len > 0) {
        msg.msg_name = (void *)&to->ss;
        msg.msg_namelen = to->len;
    }
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (void *)oob;
    msg.msg_controllen = oobn;

    for (;;) {
        enter(fd);
        rc = sendmsg(fd->sysfd, &msg, MSG_NOSIGNAL);
        leave(fd);
        if (rc >= 0)
            break;
        rc = -errno;
        if (rc == -EINTR)
            continue;
        if (rc == -EAGAIN && fd->pd != NULL) {
            rc = pd_wait(fd, GPOLL_WRITE);
            if (rc == 0)
                continue;
        }
        break;
    }

unlock:
    write_unlock(fd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Accept, Shutdown, deadlines, options. */

int gnet__fd_accept(gnet__fd *fd, gnet_addr *peer, const char **call)
{
    int rc = read_lock(fd);
    if (rc < 0)
        return rc;
    rc = pd_prepare(fd, GPOLL_READ);
    if (rc < 0)
        goto unlock;

    for (;;) {
        peer->len = sizeof(peer->ss);
        enter(fd);
        rc = accept4(fd->sysfd, (struct sockaddr *)&peer->ss, &peer->len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        leave(fd);
        if (rc >= 0)
            break;
        rc = -errno;

        /* A connection reset while it sat in the backlog is the
         * peer's business; look for the next one. EMFILE and ENFILE
         * come back at once: retrying here would spin. */
        if (rc == -EINTR || rc == -ECONNABORTED)
            continue;
        if (rc == -EAGAIN && fd->pd != NULL) {
            rc = pd_wait(fd, GPOLL_READ);
            if (rc == 0)
                continue;
            break;
        }
        *call = "accept4";
        break;
    }

unlock:
    read_unlock(fd);
    if (rc < 0)
        peer->len = 0;
    return rc;
}

int gnet__fd_shutdown(gnet__fd *fd, int how)
{
    int rc = gnet__fd_incref(fd);
    if (rc < 0)
        return rc;
    if (shutdown(fd->sysfd, how) < 0)
        rc = -errno;
    gnet__fd_decref(fd);
    return rc;
}

/* Waits until the fd is writable, without a reset: a connect in
 * progress has not made the fd writable yet, and a deadline set just
 * before must still apply. */
int gnet__fd_wait_write(gnet__fd *fd)
{
    return pd_wait(fd, GPOLL_WRITE);
}

int gnet__fd_set_deadline(gnet__fd *fd, int64_t t, int mode)
{
    int rc = gnet__fd_incref(fd);
    if (rc < 0)
        return rc;
    if (fd->pd == NULL)
        rc = GNET__ERR_NO_DEADLINE;
    else
        gpoll_set_deadline(fd->pd, t, mode);
    gnet__fd_decref(fd);
    return rc;
}

int gnet__fd_setsockopt_int(gnet__fd *fd, int level, int name, int v)
{
    int rc = gnet__fd_incref(fd);
    if (rc < 0)
        return rc;
    if (setsockopt(fd->sysfd, level, name, &v, sizeof(v)) < 0)
        rc = -errno;
    gnet__fd_decref(fd);
    return rc;
}
