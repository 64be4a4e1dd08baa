/*
 * netFD: socket creation, default options, listening and connecting.
 *
 * gnet__socket is Go's sock_posix.go socket():
 *
 *   1. socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC in the same call, so
 *      no other thread's fork+exec can inherit the fd in between;
 *   2. default options: an IPv6 socket is dual stack unless the network
 *      asked for IPv6 only ("tcp6"); datagram IP sockets may broadcast;
 *   3. newFD: the poll.FD with its immutable stream / zero-read-is-EOF
 *      flags;
 *   4. with only a local address: listenStream (SO_REUSEADDR, optional
 *      SO_REUSEPORT, bind, listen with the system's backlog, then
 *      register with the netpoller) or listenDatagram (bind, register);
 *      otherwise bind if asked and connect.
 *
 * Connecting never blocks the M: connect(2) on a non-blocking socket
 * answers EINPROGRESS, the fd joins the netpoller, and the G parks
 * until the socket is writable. Writable only means the attempt ended,
 * so SO_ERROR says how: still in progress (or interrupted) waits again,
 * EISCONN -- or 0 with a peer name -- is success, anything else is the
 * connect error. A spurious wake-up (0 but no peer yet) waits again.
 * The dial deadline is the write deadline while this runs.
 *
 * Any failure after socket(2) closes the fd through poll.FD's Close,
 * which also takes it out of the netpoller.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "net_private.h"

/* ------------------------------------------------------------------ */
/* Listen backlog. */

#define DEFAULT_BACKLOG 128

/* Go's maxListenerBacklog from the text of somaxconn: 128 when it is
 * unreadable or 0; kernels before 4.1 keep the backlog in 16 bits. */
int gnet__backlog_from(const char *text, int major, int minor)
{
    long n = 0;
    const char *p = text;

    if (text == NULL || *p < '0' || *p > '9')
        return DEFAULT_BACKLOG;
    while (*p >= '0' && *p <= '9' && n <= 0x7fffffff)
        n = n * 10 + (*p++ - '0');
    if (n == 0 || n > 0x7fffffff)
        return DEFAULT_BACKLOG;
    if (n > 0xffff && (major < 4 || (major == 4 && minor < 1)))
        n = 0xffff;
    return (int)n;
}

static int backlog_value;
static pthread_once_t backlog_once = PTHREAD_ONCE_INIT;

static void read_backlog(void)
{
    char text[32] = "";
    struct utsname u;
    int major = 0, minor = 0;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "re");

    if (f != NULL) {
        if (fgets(text, sizeof(text), f) == NULL)
            text[0] = '\0';
        fclose(f);
    }
    if (uname(&u) == 0)
        sscanf(u.release, "%d.%d", &major, &minor);
    backlog_value = gnet__backlog_from(text, major, minor);
}

int gnet__max_listener_backlog(void)
{
    pthread_once(&backlog_once, read_backlog);
    return backlog_value;
}

/* ------------------------------------------------------------------ */
/* Deadlines. */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

int64_t gnet__dial_deadline(int64_t now, int64_t timeout, int64_t deadline)
{
    int64_t earliest = 0;

    if (timeout != 0) {
        earliest = sat_add(now, timeout);
        /* A deadline of 0 would mean "none": keep it in the past. */
        if (earliest <= 0)
            earliest = 1;
    }
    if (deadline != 0 && (earliest == 0 || deadline < earliest))
        earliest = deadline;
    return earliest;
}

/* Splits what is left before deadline among the addresses still to
 * try, but gives each at least 2 s (or all that is left), as Go does:
 * the first address is the likeliest to answer. */
int gnet__partial_deadline(int64_t now, int64_t deadline, int remaining,
                           int64_t *out)
{
    const int64_t sane_minimum = 2000000000;

    *out = 0;
    if (deadline == 0)
        return 0;
    int64_t left = sat_add(deadline, -now);
    if (left <= 0)
        return GNET__ERR_TIMEOUT;
    int64_t share = left / (remaining > 0 ? remaining : 1);
    if (share < sane_minimum)
        share = left < sane_minimum ? left : sane_minimum;
    *out = now + share;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Options. */

static int set_int(int s, int level, int name, int v)
{
    return setsockopt(s, level, name, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int set_default_sockopts(int s, int family, int sotype, bool v6only)
{
    int rc = 0;

    /* Ignored failure, as in Go: some systems never admit dual stack,
     * and a caller who needs it finds out at bind. */
    if (family == AF_INET6 && sotype != SOCK_RAW)
        set_int(s, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? 1 : 0);
    if ((sotype == SOCK_DGRAM || sotype == SOCK_RAW) && family != AF_UNIX)
        rc = set_int(s, SOL_SOCKET, SO_BROADCAST, 1);
    return rc;
}

static void name_of(int s, gnet_addr *a, bool peer)
{
    a->len = sizeof(a->ss);
    int rc = peer ? getpeername(s, (struct sockaddr *)&a->ss, &a->len)
                  : getsockname(s, (struct sockaddr *)&a->ss, &a->len);
    if (rc < 0)
        a->len = 0;
}

/* ------------------------------------------------------------------ */
/* listenStream and listenDatagram. */

static int bind_to(int s, const gnet_addr *a)
{
    return bind(s, (const struct sockaddr *)&a->ss, a->len) < 0 ? -errno : 0;
}

static int listen_stream(gnet__netfd *fd, const gnet__sockparams *sp,
                         const char **call)
{
    int s = fd->pfd.sysfd;
    int rc;

    *call = "setsockopt";
    if ((rc = set_int(s, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
        return rc;
    if (sp->reuse_port && (rc = set_int(s, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
        return rc;

    *call = "bind";
    if ((rc = bind_to(s, sp->laddr)) < 0)
        return rc;

    *call = "listen";
    int backlog = sp->backlog > 0 ? sp->backlog : gnet__max_listener_backlog();
    if (listen(s, backlog) < 0)
        return -errno;

    *call = "";
    if ((rc = gnet__fd_init(&fd->pfd, false, true)) < 0)
        return rc;
    name_of(s, &fd->laddr, false);
    return 0;
}

static int listen_datagram(gnet__netfd *fd, const gnet__sockparams *sp,
                           const char **call)
{
    int s = fd->pfd.sysfd;
    int rc;

    *call = "setsockopt";
    if (sp->reuse_port && (rc = set_int(s, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
        return rc;
    *call = "bind";
    if ((rc = bind_to(s, sp->laddr)) < 0)
        return rc;
    *call = "";
    if ((rc = gnet__fd_init(&fd->pfd, false, true)) < 0)
        return rc;
    name_of(s, &fd->laddr, false);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Connecting. */

/* Waits for an in-progress connect to end; fills peer on success. */
static int wait_connected(gnet__netfd *fd, gnet_addr *peer, const char **call)
{
    int s = fd->pfd.sysfd;

    for (;;) {
        int rc = gnet__fd_wait_write(&fd->pfd);
        if (rc < 0) {
            *call = "";
            return rc;
        }

        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
            *call = "getsockopt";
            return -errno;
        }
        switch (soerr) {
        case EINPROGRESS:
        case EALREADY:
        case EINTR:
            continue;
        case EISCONN:
            return 0;
        case 0:
            /* The poller can wake us early; only a peer name proves
             * the connection is up. */
            name_of(s, peer, true);
            if (peer->len > 0)
                return 0;
            continue;
        default:
            *call = "connect";
            return -soerr;
        }
    }
}

static int connect_fd(gnet__netfd *fd, const gnet__sockparams *sp,
                      gnet_addr *peer, const char **call)
{
    int s = fd->pfd.sysfd;
    int rc = 0;

    if (connect(s, (const struct sockaddr *)&sp->raddr->ss, sp->raddr->len) < 0)
        rc = -errno;
    switch (rc) {
    case -EINPROGRESS:
    case -EALREADY:
    case -EINTR:
        break;
    case 0:
    case -EISCONN:
        *call = "";
        return gnet__fd_init(&fd->pfd, false, true);
    default:
        *call = "connect";
        return rc;
    }

    *call = "";
    if ((rc = gnet__fd_init(&fd->pfd, false, true)) < 0)
        return rc;
    if (sp->deadline != 0)
        gnet__fd_set_deadline(&fd->pfd, sp->deadline, GPOLL_WRITE);
    rc = wait_connected(fd, peer, call);
    if (sp->deadline != 0)
        gnet__fd_set_deadline(&fd->pfd, 0, GPOLL_WRITE);
    return rc;
}

static int dial(gnet__netfd *fd, const gnet__sockparams *sp, const char **call)
{
    int s = fd->pfd.sysfd;
    gnet_addr peer;
    int rc;

    memset(&peer, 0, sizeof(peer));
    if (sp->laddr != NULL) {
        *call = "bind";
        if ((rc = bind_to(s, sp->laddr)) < 0)
            return rc;
    }
    if (sp->raddr != NULL) {
        if ((rc = connect_fd(fd, sp, &peer, call)) < 0)
            return rc;
        fd->is_connected = true;
    } else {
        *call = "";
        if ((rc = gnet__fd_init(&fd->pfd, false, true)) < 0)
            return rc;
    }

    name_of(s, &fd->laddr, false);
    if (peer.len == 0)
        name_of(s, &peer, true);
    if (peer.len == 0 && sp->raddr != NULL)
        peer = *sp->raddr;
    fd->raddr = peer;
    return 0;
}

/* ------------------------------------------------------------------ */
/* socket(). */

int gnet__socket(gnet__netfd *fd, const char *net, const gnet__sockparams *sp,
                 const char **call)
{
    int rc;

    memset(fd, 0, sizeof(*fd));
    *call = "socket";
    int s = socket(sp->family, sp->sotype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;

    *call = "setsockopt";
    if ((rc = set_default_sockopts(s, sp->family, sp->sotype, sp->ipv6only)) <
        0) {
        close(s);
        return rc;
    }

    fd->family = sp->family;
    fd->sotype = sp->sotype;
    gnet__copy(fd->net, sizeof(fd->net), net);
    gnet__fd_new(&fd->pfd, s, sp->sotype, true);

    if (sp->laddr != NULL && sp->raddr == NULL) {
        if (sp->sotype == SOCK_DGRAM)
            rc = listen_datagram(fd, sp, call);
        else
            rc = listen_stream(fd, sp, call);
    } else {
        rc = dial(fd, sp, call);
    }
    if (rc < 0)
        gnet__fd_close(&fd->pfd);
    return rc;
}
