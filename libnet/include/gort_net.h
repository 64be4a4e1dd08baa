/*
 * gort_net.h: Go's internal/poll.FD and net layer on gort.
 *
 * The public surface of libnet, which builds on libsched (goroutines)
 * and libpoll (the netpoller). Every call that waits parks only the
 * calling goroutine: the M goes on running other Gs, and the G is
 * readied by the netpoller, a deadline timer or a Close.
 *
 * Running: libnet needs libpoll's poller installed before the runtime
 * starts. gnet_main() does that and then runs gort_main(); a program
 * that starts the runtime itself calls gnet_install() first.
 *
 * Error convention, the same for every function below: a call returns
 * -1 when it failed and a value >= 0 when it succeeded. When err is not
 * NULL it is filled on failure (and its cause set to GNET_OK on
 * success). A failed write also says in err->n how many bytes were
 * written before the failure; the peer receives exactly those.
 * gnet_error_format() prints an error the way Go prints a *net.OpError:
 *
 *     read tcp 127.0.0.1:5->127.0.0.1:6: i/o timeout
 *     accept tcp 127.0.0.1:7: use of closed network connection
 *     dial tcp 127.0.0.1:1: connect: connection refused
 *
 * Reads return 0 at end of stream on stream sockets; on datagram
 * sockets 0 is an empty datagram. A zero-length read returns 0 at once.
 * Sends never raise SIGPIPE (EPIPE is returned instead).
 *
 * Times are absolute nanoseconds on gort_now()'s clock: 0 means no
 * deadline, a value <= now has already expired, a huge value never
 * fires. Durations (timeouts, keep-alive periods) are nanoseconds.
 *
 * Networks: "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix"
 * (stream), "unixgram" (datagram), "unixpacket" (seqpacket). Addresses:
 * "host:port", "[::1]:80", ":0", a name resolved with getaddrinfo, or
 * for the unix networks a path ("@name" is Linux's abstract namespace).
 *
 * Lifetime: gnet_conn_close() and gnet_listener_close() may be called
 * while other Gs are blocked on the same object; they wake with the
 * closed error. Memory is released only by gnet_conn_free() /
 * gnet_listener_free(), which close first if needed and must be called
 * once, when no other G uses the object any more.
 *
 * Bad arguments are errors, never crashes: a NULL conn or listener, a
 * NULL out pointer, a NULL buffer with a nonzero length, a length
 * above SSIZE_MAX (a negative size cast to size_t), a negative
 * backlog, buffer size or keep-alive period fail with GNET_INVALID
 * ("read: NULL conn", "listen tcp :0: negative backlog"). A NULL
 * address means "" and a NULL err is allowed everywhere. Accessors
 * given NULL return NULL, "", -1 or false. A closed (not yet freed)
 * object fails with the closed error; a freed one cannot be detected.
 *
 * Fork: every fd libnet and libpoll open is close-on-exec, so a child
 * that execs inherits none of them. A child that does not exec has one
 * thread and a copy of the runtime's memory, with locks possibly held
 * by threads that no longer exist: it must not call gort, libpoll or
 * libnet functions (nor start a new runtime), only async-signal-safe
 * calls such as read, write, send, close, exec and _exit. Its inherited
 * sockets are plain fds; closing them does not close the parent's
 * connections. The child shares the parent's epoll instance, so it
 * must not touch the epoll fd either (gpoll_is_poll_descriptor tells
 * which fds those are). docs/reliability.md has the details.
 */
#ifndef GORT_NET_H
#define GORT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "gort_poll.h"
#include "gort_sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Running. */

/* Installs the netpoller (gpoll_install) and runs gort_main(fn, arg,
 * cfg). Returns what gort_main returns, or the install error. */
int gnet_main(gort_fn fn, void *arg, const gort_config *cfg);

/* Installs the netpoller and starts the runtime without a main G
 * (gort_start), for hosts whose own threads call in. */
int gnet_start(const gort_config *cfg);

/* Installs the netpoller only; for programs that call gort_main or
 * gort_start themselves. Idempotent. Returns 0 or a negative errno. */
int gnet_install(void);

/* ------------------------------------------------------------------ */
/* Errors. */

/* What went wrong, under the op/net/address frame (Go's OpError.Err). */
enum gnet_cause {
    GNET_OK = 0,
    GNET_ERRNO,           /* errnum; syscall names the call, if any */
    GNET_CLOSED,          /* use of closed network connection */
    GNET_FILE_CLOSED,     /* use of closed file */
    GNET_TIMEOUT,         /* i/o timeout */
    GNET_NOT_POLLABLE,    /* not pollable */
    GNET_NO_DEADLINE,     /* file type does not support deadline */
    GNET_UNKNOWN_NETWORK, /* unknown network <name> */
    GNET_BAD_ADDRESS,     /* address <name>: <reason> */
    GNET_LOOKUP,          /* lookup <name>: <reason> */
    GNET_MISSING_ADDRESS, /* missing address */
    GNET_NO_SUITABLE,     /* no suitable address found */
    GNET_INVALID,         /* <reason>: an argument libnet rejects */
    GNET_UNEXPECTED_EOF,  /* unexpected EOF (a send that sent nothing) */
    GNET_NCAUSES
};

#define GNET_ADDRSTRLEN 128

/* A structured error; plain data, owned by the caller. Empty strings
 * mean "absent" (Go's nil Source/Addr). */
typedef struct gnet_error {
    int cause;                    /* enum gnet_cause */
    int errnum;                   /* errno for GNET_ERRNO, else 0 */
    int64_t n;                    /* bytes written before a failed send */
    char op[16];                  /* "read", "write", "dial", ... */
    char net[16];                 /* "tcp", "udp", "unix", ... or "" */
    char source[GNET_ADDRSTRLEN]; /* local address, or "" */
    char addr[GNET_ADDRSTRLEN];   /* remote/target address, or "" */
    char syscall[16];             /* "connect", "accept4", ... or "" */
    char name[GNET_ADDRSTRLEN];   /* subject of an address/lookup cause */
    char reason[64];              /* text of address/lookup/invalid */
} gnet_error;

/* Writes the Go-style message (NUL-terminated, truncated to size) and
 * returns the length of the full message, as snprintf does. */
size_t gnet_error_format(const gnet_error *e, char *buf, size_t size);

/* Only the cause part: "connect: connection refused", "i/o timeout". */
size_t gnet_error_cause_format(const gnet_error *e, char *buf, size_t size);

/* Go's Timeout(): a deadline expired, or the cause is ETIMEDOUT or
 * EAGAIN. */
bool gnet_error_is_timeout(const gnet_error *e);

/* The object was closed (network connection or file). */
bool gnet_error_is_closed(const gnet_error *e);

/* ------------------------------------------------------------------ */
/* Addresses. */

/* A socket address; len == 0 means none. A unix socket without a name
 * has len == sizeof(sa_family_t) and prints as "". */
typedef struct gnet_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} gnet_addr;

/* Resolves address for network (as Go's ResolveTCPAddr and friends:
 * IPv4 preferred unless the address is bracketed). An empty host
 * (":80") gives 0.0.0.0, or [::] for "tcp6" and "udp6". */
int gnet_resolve(const char *network, const char *address, gnet_addr *out,
                 gnet_error *err);

/* "127.0.0.1:80", "[::1]:80", "/path", "@abstract"; v4-mapped IPv6
 * addresses print as IPv4, as Go does. Returns the length, as
 * snprintf does. */
size_t gnet_addr_format(const gnet_addr *a, char *buf, size_t size);

/* The port of an IP address, or -1. */
int gnet_addr_port(const gnet_addr *a);

/* Splits "host:port" as Go's SplitHostPort does. host and port get
 * NUL-terminated copies; on failure err says why (GNET_BAD_ADDRESS). */
int gnet_split_host_port(const char *hostport, char *host, size_t hostsize,
                         char *port, size_t portsize, gnet_error *err);

/* ------------------------------------------------------------------ */
/* Listening and dialing. */

typedef struct gnet_conn gnet_conn;
typedef struct gnet_listener gnet_listener;

/* Zero fields take the defaults. */
typedef struct gnet_listen_config {
    int backlog;        /* 0: /proc/sys/net/core/somaxconn (or 128) */
    bool reuse_port;    /* SO_REUSEPORT: several processes, one port */
    int64_t keep_alive; /* accepted TCP conns; 0: 15 s, < 0: off */
} gnet_listen_config;

typedef struct gnet_dial_config {
    int64_t timeout;           /* ns from now; 0: none */
    int64_t deadline;          /* absolute ns; 0: none; earlier wins */
    const char *local_address; /* bind before connecting; NULL: any */
    int64_t keep_alive;        /* TCP; 0: 15 s, < 0: off */
} gnet_dial_config;

/* A listener for "tcp*", "unix" or "unixpacket". cfg may be NULL. */
int gnet_listen(const char *network, const char *address,
                const gnet_listen_config *cfg, gnet_listener **out,
                gnet_error *err);

/* A bound packet conn for "udp*" or "unixgram". cfg may be NULL. */
int gnet_listen_packet(const char *network, const char *address,
                       const gnet_listen_config *cfg, gnet_conn **out,
                       gnet_error *err);

/* Connects (stream) or associates (datagram) with address, trying
 * each resolved address in turn. cfg may be NULL. TCP conns get
 * TCP_NODELAY and keep-alive. */
int gnet_dial(const char *network, const char *address,
              const gnet_dial_config *cfg, gnet_conn **out, gnet_error *err);

/* gnet_dial with only a timeout (ns; 0: none; huge values saturate). */
int gnet_dial_timeout(const char *network, const char *address, int64_t timeout,
                      gnet_conn **out, gnet_error *err);

/* Waits for a connection. EMFILE/ENFILE come back at once so that the
 * caller can back off; ECONNABORTED is retried. */
int gnet_accept(gnet_listener *l, gnet_conn **out, gnet_error *err);

int gnet_listener_close(gnet_listener *l, gnet_error *err);
void gnet_listener_free(gnet_listener *l);
int gnet_listener_set_deadline(gnet_listener *l, int64_t t, gnet_error *err);
const gnet_addr *gnet_listener_addr(const gnet_listener *l);
int gnet_listener_sysfd(const gnet_listener *l);

/* ------------------------------------------------------------------ */
/* Conns. */

ssize_t gnet_read(gnet_conn *c, void *buf, size_t len, gnet_error *err);
/* Writes all of buf, waiting as needed; see err->n on failure. */
ssize_t gnet_write(gnet_conn *c, const void *buf, size_t len, gnet_error *err);

/* Datagram I/O; from may be NULL. */
ssize_t gnet_read_from(gnet_conn *c, void *buf, size_t len, gnet_addr *from,
                       gnet_error *err);
ssize_t gnet_write_to(gnet_conn *c, const void *buf, size_t len,
                      const gnet_addr *to, gnet_error *err);

/* recvmsg/sendmsg with ancillary data. For read_msg, *oobn is the
 * capacity of oob on entry and the length received on return; flags
 * and from may be NULL. For write_msg, to may be NULL on a connected
 * socket. */
ssize_t gnet_read_msg(gnet_conn *c, void *buf, size_t len, void *oob,
                      size_t *oobn, int *flags, gnet_addr *from,
                      gnet_error *err);
ssize_t gnet_write_msg(gnet_conn *c, const void *buf, size_t len,
                       const void *oob, size_t oobn, const gnet_addr *to,
                       gnet_error *err);

int gnet_set_deadline(gnet_conn *c, int64_t t, gnet_error *err);
int gnet_set_read_deadline(gnet_conn *c, int64_t t, gnet_error *err);
int gnet_set_write_deadline(gnet_conn *c, int64_t t, gnet_error *err);

/* Half-close: shutdown(SHUT_RD) / shutdown(SHUT_WR). */
int gnet_close_read(gnet_conn *c, gnet_error *err);
int gnet_close_write(gnet_conn *c, gnet_error *err);

int gnet_conn_close(gnet_conn *c, gnet_error *err);
void gnet_conn_free(gnet_conn *c);

const gnet_addr *gnet_local_addr(const gnet_conn *c);
const gnet_addr *gnet_remote_addr(const gnet_conn *c); /* len 0: none */
const char *gnet_conn_network(const gnet_conn *c);
int gnet_conn_sysfd(const gnet_conn *c);

/* Socket options (Go's SetNoDelay, SetKeepAlive, SetReadBuffer...). */
int gnet_set_nodelay(gnet_conn *c, bool on, gnet_error *err);
int gnet_set_keepalive(gnet_conn *c, bool on, gnet_error *err);
/* Keep-alive idle time and probe interval, in ns rounded up to whole
 * seconds (at most 32767 s, at least 1 s); 0 is the default 15 s. */
int gnet_set_keepalive_period(gnet_conn *c, int64_t period, gnet_error *err);
int gnet_set_read_buffer(gnet_conn *c, int bytes, gnet_error *err);
int gnet_set_write_buffer(gnet_conn *c, int bytes, gnet_error *err);
int gnet_set_linger(gnet_conn *c, int seconds, gnet_error *err);

/* ------------------------------------------------------------------ */
/* Files (Go's os.File on poll.FD). */

/* Wraps an open fd. Pipes, ttys and sockets are made non-blocking and
 * polled; a regular file cannot be polled, stays blocking and is read
 * and written inside gort_entersyscall/exitsyscall. The conn owns fd.
 * name is what errors print ("read name: i/o timeout"). Use gnet_read,
 * gnet_write, the deadline calls (which fail with GNET_NO_DEADLINE on
 * an unpollable file), gnet_conn_close and gnet_conn_free. On failure
 * fd stays the caller's. */
int gnet_file_new(int fd, const char *name, gnet_conn **out, gnet_error *err);

/* Whether the conn's fd is registered with the netpoller. */
bool gnet_conn_pollable(const gnet_conn *c);

#ifdef __cplusplus
}
#endif
#endif
