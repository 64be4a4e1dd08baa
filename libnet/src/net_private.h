/*
 * net_private.h: libnet's internals shared across its files.
 *
 * Layers, bottom up (each file opens with its own design notes):
 *
 *   fd_mutex.c  fdMutex: reference count, read lock, write lock and the
 *               closing bit of one fd, packed in one atomic word.
 *   fd.c        poll.FD: a system fd with its fdMutex and pollDesc;
 *               Read/Write/Accept/... with the EAGAIN -> wait -> retry
 *               loop, deadlines, Close. Errors are negative codes.
 *   addr.c      networks, address parsing, name resolution, formatting.
 *   sock.c      netFD: socket creation, default options, listenStream,
 *               listenDatagram, non-blocking connect.
 *   net.c       the public gnet_ API: dial, listen, conns, listeners.
 *   errors.c    the structured gnet_error and Go's way of printing it.
 *
 * Internal error convention: negative errno, or one of the GNET__ERR_
 * codes below for Go's poll errors (they lie outside errno's range).
 */
#ifndef GNET_NET_PRIVATE_H
#define GNET_NET_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gort_net.h"
#include "gort_poll.h"
#include "gort_sched.h"

/* Always-on invariant check: "function: what broke", then abort. */
#define GNET__CHECK(cond, what)                                                \
    do {                                                                       \
        if (!(cond))                                                           \
            gnet__fatal(__func__, (what), __FILE__, __LINE__);                 \
    } while (0)

_Noreturn void gnet__fatal(const char *fn, const char *what, const char *file,
                           int line);

/* Go's poll errors and friends, as negative codes beyond errno. */
enum {
    GNET__ERR_CLOSING = -10001,        /* errClosing / ErrFileClosing */
    GNET__ERR_TIMEOUT = -10002,        /* ErrDeadlineExceeded */
    GNET__ERR_NOT_POLLABLE = -10003,   /* ErrNotPollable */
    GNET__ERR_NO_DEADLINE = -10004,    /* ErrNoDeadline */
    GNET__ERR_UNEXPECTED_EOF = -10005, /* io.ErrUnexpectedEOF */
    GNET__ERR_WAIT_UNSUPPORTED = -10006
};

/* ------------------------------------------------------------------ */
/* fdMutex (fd_mutex.c). */

typedef struct gnet__fdmu {
    _Atomic uint64_t state; /* bits: see fd_mutex.c; atomic */
    uint32_t rsema;         /* read waiters park here; libsched sema */
    uint32_t wsema;         /* write waiters park here; libsched sema */
} gnet__fdmu;

bool gnet__fdmu_incref(gnet__fdmu *mu);
bool gnet__fdmu_incref_and_close(gnet__fdmu *mu);
bool gnet__fdmu_decref(gnet__fdmu *mu);
bool gnet__fdmu_rwlock(gnet__fdmu *mu, bool read);
bool gnet__fdmu_rwunlock(gnet__fdmu *mu, bool read);

/* For tests: the decoded state word. */
typedef struct gnet__fdmu_view {
    bool closed, rlocked, wlocked;
    uint64_t refs, rwaiters, wwaiters;
} gnet__fdmu_view;
void gnet__fdmu_inspect(gnet__fdmu *mu, gnet__fdmu_view *v);

/* ------------------------------------------------------------------ */
/* poll.FD (fd.c). */

typedef struct gnet__fd {
    gnet__fdmu fdmu;       /* serialises Read, Write and Close */
    int sysfd;             /* immutable until destroy, then -1 */
    gpoll_desc *pd;        /* set by init; NULL: not in the netpoller */
    uint32_t csema;        /* released by destroy; Close waits on it */
    bool is_blocking;      /* fd left blocking: no pd, Close won't wait */
    bool is_stream;        /* immutable: stream, not packet based */
    bool zero_read_is_eof; /* immutable: not for datagram sockets */
    bool is_file;          /* immutable: closed error says "file" */
    bool is_socket;        /* immutable: sends use MSG_NOSIGNAL */
} gnet__fd;

void gnet__fd_new(gnet__fd *fd, int sysfd, int sotype, bool is_socket);
int gnet__fd_init(gnet__fd *fd, bool is_file, bool pollable);
int gnet__fd_close(gnet__fd *fd);
int gnet__fd_incref(gnet__fd *fd);
void gnet__fd_decref(gnet__fd *fd);

ssize_t gnet__fd_read(gnet__fd *fd, void *p, size_t n);
ssize_t gnet__fd_write(gnet__fd *fd, const void *p, size_t n, size_t *written);
ssize_t gnet__fd_read_from(gnet__fd *fd, void *p, size_t n, gnet_addr *from);
ssize_t gnet__fd_write_to(gnet__fd *fd, const void *p, size_t n,
                          const gnet_addr *to);
ssize_t gnet__fd_read_msg(gnet__fd *fd, void *p, size_t n, void *oob,
                          size_t *oobn, int *flags, gnet_addr *from);
ssize_t gnet__fd_write_msg(gnet__fd *fd, const void *p, size_t n,
                           const void *oob, size_t oobn, const gnet_addr *to);
int gnet__fd_accept(gnet__fd *fd, gnet_addr *peer, const char **call);
int gnet__fd_shutdown(gnet__fd *fd, int how);
int gnet__fd_wait_write(gnet__fd *fd);
int gnet__fd_set_deadline(gnet__fd *fd, int64_t t, int mode);
int gnet__fd_setsockopt_int(gnet__fd *fd, int level, int name, int v);

/* ------------------------------------------------------------------ */
/* Networks and addresses (addr.c). */

enum { GNET__NET_IP = 1, GNET__NET_UNIX = 2 };

typedef struct gnet__network {
    char name[16]; /* as given: "tcp", "udp6", "unixgram", ... */
    int kind;      /* GNET__NET_IP or GNET__NET_UNIX */
    int family;    /* AF_UNSPEC, AF_INET (…4), AF_INET6 (…6), AF_UNIX */
    int sotype;    /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
} gnet__network;

int gnet__network_parse(const char *name, gnet__network *nw);

/* An IP endpoint before a socket family is chosen (Go's TCPAddr). */
typedef struct gnet__ip {
    int family;     /* AF_INET, AF_INET6, or AF_UNSPEC: no IP given */
    uint8_t ip[16]; /* AF_INET uses the first 4 bytes */
    uint32_t zone;  /* IPv6 scope id */
    uint16_t port;
} gnet__ip;

#define GNET__MAX_ADDRS 16

/* Resolves address into up to max endpoints; returns the count (>= 1)
 * or -1 with err's cause filled (not its frame). */
int gnet__ip_resolve(const gnet__network *nw, const char *address,
                     gnet__ip *list, int max, gnet_error *err);
bool gnet__ip_is_wildcard(const gnet__ip *a);
bool gnet__ip_is4(const gnet__ip *a);
/* The sockaddr of a for a socket of family; false if it cannot be. */
bool gnet__ip_sockaddr(const gnet__ip *a, int family, gnet_addr *out);
void gnet__ip_from_sockaddr(const gnet_addr *sa, gnet__ip *out);
size_t gnet__ip_format(const gnet__ip *a, char *buf, size_t size);

int gnet__unix_sockaddr(const char *path, gnet_addr *out);

/* Go's favoriteAddrFamily. */
int gnet__favorite_family(const gnet__network *nw, bool listen,
                          const gnet__ip *laddr, const gnet__ip *raddr,
                          bool *ipv6only);

/* ------------------------------------------------------------------ */
/* netFD (sock.c). */

typedef struct gnet__netfd {
    gnet__fd pfd;
    int family;                 /* immutable */
    int sotype;                 /* immutable */
    char net[16];               /* immutable: network name for errors */
    bool is_connected;          /* set before the fd is shared */
    gnet_addr laddr;            /* set before the fd is shared */
    gnet_addr raddr;            /* set before the fd is shared */
    char path[GNET_ADDRSTRLEN]; /* files: the name errors print */
} gnet__netfd;

/* Go's sock_posix.go socket(): creates, configures and then listens
 * (laddr only) or binds and connects. Returns 0 or a negative code;
 * *call names the failing system call. */
typedef struct gnet__sockparams {
    int family;
    int sotype;
    bool ipv6only;
    const gnet_addr *laddr; /* may be NULL */
    const gnet_addr *raddr; /* may be NULL */
    int64_t deadline;       /* connect deadline; 0: none */
    int backlog;            /* listen; 0: the system's */
    bool reuse_port;
} gnet__sockparams;

int gnet__socket(gnet__netfd *fd, const char *net, const gnet__sockparams *sp,
                 const char **call);
int gnet__max_listener_backlog(void);
int gnet__backlog_from(const char *somaxconn_text, int kernel_major,
                       int kernel_minor);

/* Saturating dial deadline: the earlier of now + timeout and deadline. */
int64_t gnet__dial_deadline(int64_t now, int64_t timeout, int64_t deadline);
/* Go's partialDeadline: a share of the time left for one address. */
int gnet__partial_deadline(int64_t now, int64_t deadline, int remaining,
                           int64_t *out);

/* ------------------------------------------------------------------ */
/* Errors (errors.c). */

void gnet__err_ok(gnet_error *e);
/* Fills the frame: op, network and the two addresses (either NULL). */
void gnet__err_frame(gnet_error *e, const char *op, const char *net,
                     const gnet_addr *source, const gnet_addr *addr);
/* Same with the address already as text. */
void gnet__err_frame_text(gnet_error *e, const char *op, const char *net,
                          const char *source, const char *addr);
/* Sets the cause from a negative internal code. */
void gnet__err_code(gnet_error *e, int code, const char *call, bool is_file);
void gnet__err_cause(gnet_error *e, int cause, const char *name,
                     const char *reason);
void gnet__copy(char *dst, size_t size, const char *src);

#endif
