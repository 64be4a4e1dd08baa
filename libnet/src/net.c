/*
 * The public net API: dial, listen, accept, conns and listeners.
 *
 * A gnet_conn and a gnet_listener are each one netFD. Every call maps
 * a poll.FD result to the public convention (-1 and a filled
 * gnet_error) with the frame Go's net package puts around it:
 *
 *   read/write/close      source = local, addr = remote
 *   accept, listener ops  addr = the listener's address
 *   dial                  source = the local address asked for, if any,
 *                         addr = the remote endpoint tried
 *   listen                addr = the address asked for
 *   set (options)         source = local, addr = remote
 *
 * Dialing a name that resolves to several addresses tries them in
 * order, each with a share of the time left (Go's dialSerial and
 * partialDeadline), and reports the first error if none answers.
 *
 * TCP conns, dialed or accepted, get TCP_NODELAY and keep-alive (15 s
 * unless configured), as Go's do.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_private.h"

struct gnet_conn {
    gnet__netfd fd;
};

struct gnet_listener {
    gnet__netfd fd;
    int64_t keep_alive;           /* for accepted conns; immutable */
    _Atomic bool unlink_on_close; /* a unix path this listener bound */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
};

#define DEFAULT_KEEP_ALIVE 15000000000LL

/* ------------------------------------------------------------------ */
/* Running. */

int gnet_install(void)
{
    return gpoll_install();
}

int gnet_main(gort_fn fn, void *arg, const gort_config *cfg)
{
    int rc = gpoll_install();
    if (rc < 0)
        return rc;
    return gort_main(fn, arg, cfg);
}

int gnet_start(const gort_config *cfg)
{
    int rc = gpoll_install();
    if (rc < 0)
        return rc;
    return gort_start(cfg);
}

/* ------------------------------------------------------------------ */
/* Error framing. */

static bool is_file(const gnet__netfd *fd)
{
    return fd->pfd.is_file;
}

/* A conn call failed with code: frame it as Go's conn methods do. */
static int conn_fail(const gnet_conn *c, gnet_error *err, const char *op,
                     int code, const char *call)
{
    if (err == NULL)
        return -1;
    if (is_file(&c->fd))
        gnet__err_frame_text(err, op, "", "", c->fd.path);
    else
        gnet__err_frame(err, op, c->fd.net, &c->fd.laddr, &c->fd.raddr);
    gnet__err_code(err, code, call, is_file(&c->fd));
    err->n = 0;
    return -1;
}

static int listener_fail(const gnet_listener *l, gnet_error *err,
                         const char *op, int code, const char *call)
{
    if (err == NULL)
        return -1;
    gnet__err_frame(err, op, l->fd.net, NULL, &l->fd.laddr);
    gnet__err_code(err, code, call, false);
    err->n = 0;
    return -1;
}

static int unknown_network(gnet_error *err, const char *op, const char *network)
{
    gnet__err_frame_text(err, op, network, "", "");
    gnet__err_cause(err, GNET_UNKNOWN_NETWORK, network, "");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Arguments.
 *
 * A bad argument is a clear error, never a crash. Go's methods on a nil
 * conn or listener fail with EINVAL; gort fails the same way on NULL
 * handles, but says which argument it could not use (GNET_INVALID):
 * a NULL handle or out pointer, a NULL buffer with a nonzero length, a
 * length a ssize_t result cannot count (a negative size cast to
 * size_t), a negative backlog, buffer size or keep-alive period. A
 * freed handle cannot be detected; a closed one fails with the closed
 * error as usual. */

static int invalid(gnet_error *err, const char *op, const char *network,
                   const char *address, const char *why)
{
    gnet__err_frame_text(err, op, network, "", address);
    gnet__err_cause(err, GNET_INVALID, "", why);
    if (err != NULL)
        err->n = 0;
    return -1;
}

#define NULL_CONN(c, err, op)                                                  \
    do {                                                                       \
        if ((c) == NULL)                                                       \
            return invalid((err), (op), "", "", "NULL conn");                  \
    } while (0)

#define NULL_LISTENER(l, err, op)                                              \
    do {                                                                       \
        if ((l) == NULL)                                                       \
            return invalid((err), (op), "", "", "NULL listener");              \
    } while (0)

/* A bad argument to an operation on a live conn: the conn's frame. */
static int conn_invalid(const gnet_conn *c, gnet_error *err, const char *op,
                        const char *why)
{
    conn_fail(c, err, op, -EINVAL, "");
    gnet__err_cause(err, GNET_INVALID, "", why);
    return -1;
}

static int set_invalid(const gnet_conn *c, gnet_error *err, const char *why)
{
    return conn_invalid(c, err, "set", why);
}

/* A conn's buffer: NULL only with length 0, and a length that fits
 * the ssize_t result. */
static int check_buf(const gnet_conn *c, gnet_error *err, const char *op,
                     const void *buf, size_t len)
{
    if (buf == NULL && len > 0)
        return conn_invalid(c, err, op, "NULL buffer with a nonzero length");
    if (len > (size_t)SSIZE_MAX)
        return conn_invalid(c, err, op, "length out of range");
    return 0;
}

/* ------------------------------------------------------------------ */
/* TCP options. */

static int keepalive_period(int s, int64_t period)
{
    /* Whole seconds, rounded up, as the kernel counts them; no sum
     * that could overflow for a huge period. */
    int64_t secs = period / 1000000000 + (period % 1000000000 > 0);
    int v = secs > 32767 ? 32767 : (int)(secs < 1 ? 1 : secs);

    if (setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)) < 0)
        return -errno;
    if (setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &v, sizeof(v)) < 0)
        return -errno;
    return 0;
}

/* New TCP conns: no Nagle delay, and keep-alive unless turned off.
 * Failures are ignored as Go does: the conn works without them. */
static void tcp_defaults(gnet__netfd *fd, int64_t keep_alive)
{
    int one = 1, s = fd->pfd.sysfd;

    if (fd->sotype != SOCK_STREAM || fd->family == AF_UNIX)
        return;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (keep_alive < 0)
        return;
    setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    keepalive_period(s, keep_alive > 0 ? keep_alive : DEFAULT_KEEP_ALIVE);
}

/* ------------------------------------------------------------------ */
/* Listening. */

static int listen_ip(const gnet__network *nw, const char *address,
                     const gnet_listen_config *cfg, gnet__netfd *fd,
                     gnet_error *err)
{
    gnet__ip list[GNET__MAX_ADDRS];
    gnet_addr la;
    char text[GNET_ADDRSTRLEN];
    const char *call = "";
    bool v6only;

    int n = gnet__ip_resolve(nw, address, list, GNET__MAX_ADDRS, err);
    if (n < 0) {
        gnet__err_frame_text(err, "listen", nw->name, "", "");
        return -1;
    }

    /* Go listens on the first IPv4 address of a name. */
    gnet__ip *ip = &list[0];
    for (int i = 0; i < n; i++) {
        if (gnet__ip_is4(&list[i])) {
            ip = &list[i];
            break;
        }
    }
    gnet__ip_format(ip, text, sizeof(text));

    gnet__sockparams sp = {0};
    sp.family = gnet__favorite_family(nw, true, ip, NULL, &v6only);
    sp.sotype = nw->sotype;
    sp.ipv6only = v6only;
    sp.laddr = &la;
    sp.backlog = cfg != NULL ? cfg->backlog : 0;
    sp.reuse_port = cfg != NULL && cfg->reuse_port;
    if (!gnet__ip_sockaddr(ip, sp.family, &la)) {
        gnet__err_frame_text(err, "listen", nw->name, "", text);
        gnet__err_cause(err, GNET_BAD_ADDRESS, text, "non-IPv4 address");
        return -1;
    }

    int rc = gnet__socket(fd, nw->name, &sp, &call);
    if (rc < 0) {
        gnet__err_frame_text(err, "listen", nw->name, "", text);
        gnet__err_code(err, rc, call, false);
        return -1;
    }
    return 0;
}

static int listen_unix(const gnet__network *nw, const char *address,
                       const gnet_listen_config *cfg, gnet__netfd *fd,
                       gnet_error *err)
{
    gnet_addr la;
    const char *call = "";

    gnet__err_frame_text(err, "listen", nw->name, "", address);
    int rc = gnet__unix_sockaddr(address, &la);
    if (rc < 0) {
        gnet__err_code(err, rc, "", false);
        return -1;
    }

    gnet__sockparams sp = {0};
    sp.family = AF_UNIX;
    sp.sotype = nw->sotype;
    sp.laddr = &la;
    sp.backlog = cfg != NULL ? cfg->backlog : 0;
    rc = gnet__socket(fd, nw->name, &sp, &call);
    if (rc < 0) {
        gnet__err_code(err, rc, call, false);
        return -1;
    }
    return 0;
}

static int listen_any(const char *op, const char *network, const char *address,
                      const gnet_listen_config *cfg, bool packet,
                      gnet__netfd *fd, gnet_error *err)
{
    gnet__network nw;

    if (gnet__network_parse(network, &nw) < 0 ||
        (nw.sotype == SOCK_DGRAM) != packet)
        return unknown_network(err, op, network);
    if (address == NULL)
        address = "";
    if (nw.kind == GNET__NET_IP)
        return listen_ip(&nw, address, cfg, fd, err);
    return listen_unix(&nw, address, cfg, fd, err);
}

int gnet_listen(const char *network, const char *address,
                const gnet_listen_config *cfg, gnet_listener **out,
                gnet_error *err)
{
    gnet_listener *l;

    if (address == NULL)
        address = "";
    if (out == NULL)
        return invalid(err, "listen", network, address, "NULL out");
    *out = NULL;
    if (cfg != NULL && cfg->backlog < 0)
        return invalid(err, "listen", network, address, "negative backlog");
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        gnet__err_frame_text(err, "listen", network, "", address);
        gnet__err_code(err, -ENOMEM, "", false);
        return -1;
    }
    if (listen_any("listen", network, address, cfg, false, &l->fd, err) < 0) {
        free(l);
        return -1;
    }

    l->keep_alive = cfg != NULL ? cfg->keep_alive : 0;
    if (l->fd.family == AF_UNIX && address[0] != '\0' && address[0] != '@') {
        l->unlink_on_close = true;
        gnet__copy(l->path, sizeof(l->path), address);
    }
    *out = l;
    gnet__err_ok(err);
    return 0;
}

int gnet_listen_packet(const char *network, const char *address,
                       const gnet_listen_config *cfg, gnet_conn **out,
                       gnet_error *err)
{
    gnet_conn *c;

    if (address == NULL)
        address = "";
    if (out == NULL)
        return invalid(err, "listen", network, address, "NULL out");
    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        gnet__err_frame_text(err, "listen", network, "", address);
        gnet__err_code(err, -ENOMEM, "", false);
        return -1;
    }
    if (listen_any("listen", network, address, cfg, true, &c->fd, err) < 0) {
        free(c);
        return -1;
    }
    *out = c;
    gnet__err_ok(err);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Dialing. */

/* One attempt at one remote endpoint. */
static int dial_one(const gnet__network *nw, const gnet__ip *la,
                    const gnet__ip *ra, int64_t deadline, gnet__netfd *fd,
                    gnet_error *err)
{
    gnet_addr lsa, rsa;
    char text[GNET_ADDRSTRLEN];
    const char *call = "";
    bool v6only;
    int rc;

    gnet__sockparams sp = {0};
    sp.family = gnet__favorite_family(nw, false, la, ra, &v6only);
    sp.sotype = nw->sotype;
    sp.ipv6only = v6only;
    sp.deadline = deadline;
    sp.raddr = &rsa;

    gnet__ip_format(ra, text, sizeof(text));
    gnet__err_frame_text(err, "dial", nw->name, "", text);
    if (la != NULL) {
        if (err != NULL)
            gnet__ip_format(la, err->source, sizeof(err->source));
        if (!gnet__ip_sockaddr(la, sp.family, &lsa)) {
            gnet__err_cause(err, GNET_BAD_ADDRESS, "",
                            "mismatched local "
                            "address type");
            return -1;
        }
        sp.laddr = &lsa;
    }
    if (!gnet__ip_sockaddr(ra, sp.family, &rsa)) {
        gnet__err_cause(err, GNET_BAD_ADDRESS, text, "non-IPv4 address");
        return -1;
    }

    rc = gnet__socket(fd, nw->name, &sp, &call);
    if (rc < 0) {
        gnet__err_code(err, rc, call, false);
        return -1;
    }
    return 0;
}

static int dial_ip(const gnet__network *nw, const char *address,
                   const gnet_dial_config *cfg, int64_t deadline,
                   gnet__netfd *fd, gnet_error *err)
{
    gnet__ip ras[GNET__MAX_ADDRS], la;
    gnet_error first, tmp;
    bool have_first = false;

    int n = gnet__ip_resolve(nw, address, ras, GNET__MAX_ADDRS, err);
    if (n < 0) {
        gnet__err_frame_text(err, "dial", nw->name, "", "");
        return -1;
    }
    if (cfg != NULL && cfg->local_address != NULL) {
        if (gnet__ip_resolve(nw, cfg->local_address, &la, 1, err) < 0) {
            gnet__err_frame_text(err, "dial", nw->name, "", "");
            return -1;
        }
    }
    const gnet__ip *lap = cfg != NULL && cfg->local_address ? &la : NULL;

    for (int i = 0; i < n; i++) {
        int64_t part;
        int rc = gnet__partial_deadline(gort_now(), deadline, n - i, &part);
        gnet_error *e = have_first ? &tmp : &first;
        if (rc < 0) {
            char text[GNET_ADDRSTRLEN];
            gnet__ip_format(&ras[i], text, sizeof(text));
            gnet__err_frame_text(e, "dial", nw->name, "", text);
            gnet__err_code(e, rc, "", false);
            have_first = true;
            break;
        }
        if (dial_one(nw, lap, &ras[i], part, fd, e) == 0) {
            gnet__err_ok(err);
            return 0;
        }
        have_first = true;
    }
    if (err != NULL)
        *err = first;
    return -1;
}

static int dial_unix(const gnet__network *nw, const char *address,
                     const gnet_dial_config *cfg, int64_t deadline,
                     gnet__netfd *fd, gnet_error *err)
{
    gnet_addr la, ra;
    const char *call = "";
    int rc;

    gnet__err_frame_text(err, "dial", nw->name, "", address);
    gnet__sockparams sp = {0};
    sp.family = AF_UNIX;
    sp.sotype = nw->sotype;
    sp.deadline = deadline;
    sp.raddr = &ra;
    if (address[0] == '\0') {
        gnet__err_cause(err, GNET_MISSING_ADDRESS, "", "");
        return -1;
    }
    if ((rc = gnet__unix_sockaddr(address, &ra)) < 0)
        goto fail;
    if (cfg != NULL && cfg->local_address != NULL) {
        if (err != NULL)
            gnet__copy(err->source, sizeof(err->source), cfg->local_address);
        if ((rc = gnet__unix_sockaddr(cfg->local_address, &la)) < 0)
            goto fail;
        sp.laddr = &la;
    }
    if ((rc = gnet__socket(fd, nw->name, &sp, &call)) < 0)
        goto fail;
    return 0;

fail:
    gnet__err_code(err, rc, call, false);
    return -1;
}

int gnet_dial(const char *network, const char *address,
              const gnet_dial_config *cfg, gnet_conn **out, gnet_error *err)
{
    gnet__network nw;
    int rc;

    if (address == NULL)
        address = "";
    if (out == NULL)
        return invalid(err, "dial", network, address, "NULL out");
    *out = NULL;
    if (gnet__network_parse(network, &nw) < 0)
        return unknown_network(err, "dial", network);

    gnet_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        gnet__err_frame_text(err, "dial", network, "", address);
        gnet__err_code(err, -ENOMEM, "", false);
        return -1;
    }

    int64_t deadline =
        gnet__dial_deadline(gort_now(), cfg != NULL ? cfg->timeout : 0,
                            cfg != NULL ? cfg->deadline : 0);
    if (nw.kind == GNET__NET_IP)
        rc = dial_ip(&nw, address, cfg, deadline, &c->fd, err);
    else
        rc = dial_unix(&nw, address, cfg, deadline, &c->fd, err);
    if (rc < 0) {
        free(c);
        return -1;
    }

    tcp_defaults(&c->fd, cfg != NULL ? cfg->keep_alive : 0);
    *out = c;
    return 0;
}

int gnet_dial_timeout(const char *network, const char *address, int64_t timeout,
                      gnet_conn **out, gnet_error *err)
{
    gnet_dial_config cfg = {0};

    cfg.timeout = timeout;
    return gnet_dial(network, address, &cfg, out, err);
}

/* ------------------------------------------------------------------ */
/* Listeners. */

static int new_accepted(gnet_listener *l, int s, const gnet_addr *peer,
                        gnet_conn **out)
{
    gnet_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        close(s);
        return -ENOMEM;
    }
    c->fd.family = l->fd.family;
    c->fd.sotype = l->fd.sotype;
    gnet__copy(c->fd.net, sizeof(c->fd.net), l->fd.net);
    gnet__fd_new(&c->fd.pfd, s, l->fd.sotype, true);

    int rc = gnet__fd_init(&c->fd.pfd, false, true);
    if (rc < 0) {
        gnet__fd_close(&c->fd.pfd);
        free(c);
        return rc;
    }
    c->fd.is_connected = true;
    c->fd.laddr.len = sizeof(c->fd.laddr.ss);
    if (getsockname(s, (struct sockaddr *)&c->fd.laddr.ss, &c->fd.laddr.len) <
        0)
        c->fd.laddr.len = 0;
    c->fd.raddr = *peer;
    tcp_defaults(&c->fd, l->keep_alive);
    *out = c;
    return 0;
}

int gnet_accept(gnet_listener *l, gnet_conn **out, gnet_error *err)
{
    gnet_addr peer;
    const char *call = "";

    NULL_LISTENER(l, err, "accept");
    if (out == NULL) {
        listener_fail(l, err, "accept", -EINVAL, "");
        gnet__err_cause(err, GNET_INVALID, "", "NULL out");
        return -1;
    }
    *out = NULL;
    int s = gnet__fd_accept(&l->fd.pfd, &peer, &call);
    if (s < 0)
        return listener_fail(l, err, "accept", s, call);
    int rc = new_accepted(l, s, &peer, out);
    if (rc < 0)
        return listener_fail(l, err, "accept", rc, "");
    gnet__err_ok(err);
    return 0;
}

int gnet_listener_close(gnet_listener *l, gnet_error *err)
{
    NULL_LISTENER(l, err, "close");
    /* Remove the name before closing, as Go does: once the fd is gone
     * another listener may bind the same path, and we must not unlink
     * theirs. Only the first close unlinks. */
    if (atomic_exchange(&l->unlink_on_close, false)) {
        if (gnet__fdmu_incref(&l->fd.pfd.fdmu)) {
            unlink(l->path);
            gnet__fd_decref(&l->fd.pfd);
        }
    }
    int rc = gnet__fd_close(&l->fd.pfd);
    if (rc < 0)
        return listener_fail(l, err, "close", rc, "");
    gnet__err_ok(err);
    return 0;
}

void gnet_listener_free(gnet_listener *l)
{
    if (l == NULL)
        return;
    gnet_listener_close(l, NULL);
    free(l);
}

int gnet_listener_set_deadline(gnet_listener *l, int64_t t, gnet_error *err)
{
    NULL_LISTENER(l, err, "set");
    int rc = gnet__fd_set_deadline(&l->fd.pfd, t, GPOLL_RW);
    if (rc < 0)
        return listener_fail(l, err, "set", rc, "");
    gnet__err_ok(err);
    return 0;
}

const gnet_addr *gnet_listener_addr(const gnet_listener *l)
{
    return l != NULL ? &l->fd.laddr : NULL;
}

int gnet_listener_sysfd(const gnet_listener *l)
{
    return l != NULL ? l->fd.pfd.sysfd : -1;
}

/* ------------------------------------------------------------------ */
/* Conns: I/O. */

ssize_t gnet_read(gnet_conn *c, void *buf, size_t len, gnet_error *err)
{
    NULL_CONN(c, err, "read");
    if (check_buf(c, err, "read", buf, len) < 0)
        return -1;
    ssize_t n = gnet__fd_read(&c->fd.pfd, buf, len);
    if (n < 0)
        return conn_fail(c, err, "read", (int)n, "read");
    gnet__err_ok(err);
    return n;
}

ssize_t gnet_write(gnet_conn *c, const void *buf, size_t len, gnet_error *err)
{
    size_t written;

    NULL_CONN(c, err, "write");
    if (check_buf(c, err, "write", buf, len) < 0)
        return -1;
    ssize_t n = gnet__fd_write(&c->fd.pfd, buf, len, &written);
    if (n < 0) {
        conn_fail(c, err, "write", (int)n, "write");
        if (err != NULL)
            err->n = (int64_t)written;
        return -1;
    }
    gnet__err_ok(err);
    return n;
}

ssize_t gnet_read_from(gnet_conn *c, void *buf, size_t len, gnet_addr *from,
                       gnet_error *err)
{
    gnet_addr tmp;

    NULL_CONN(c, err, "read");
    if (check_buf(c, err, "read", buf, len) < 0)
        return -1;
    ssize_t n =
        gnet__fd_read_from(&c->fd.pfd, buf, len, from != NULL ? from : &tmp);
    if (n < 0)
        return conn_fail(c, err, "read", (int)n, "recvfrom");
    gnet__err_ok(err);
    return n;
}

/* Go's rules for a destination: a connected socket takes none, an
 * unconnected one needs one. */
static int check_dest(gnet_conn *c, const gnet_addr *to, gnet_error *err)
{
    bool given = to != NULL && to->len > 0;

    if (c->fd.is_connected && given) {
        gnet__err_frame(err, "write", c->fd.net, &c->fd.laddr, to);
        gnet__err_cause(err, GNET_INVALID, "",
                        "use of WriteTo with pre-connected connection");
        return -1;
    }
    if (!c->fd.is_connected && !given) {
        gnet__err_frame(err, "write", c->fd.net, &c->fd.laddr, NULL);
        gnet__err_cause(err, GNET_MISSING_ADDRESS, "", "");
        return -1;
    }
    return 0;
}

ssize_t gnet_write_to(gnet_conn *c, const void *buf, size_t len,
                      const gnet_addr *to, gnet_error *err)
{
    NULL_CONN(c, err, "write");
    if (check_buf(c, err, "write", buf, len) < 0)
        return -1;

    /* Go refuses WriteTo on a connected socket, address or not. */
    if (c->fd.is_connected) {
        gnet__err_frame(err, "write", c->fd.net, &c->fd.laddr, to);
        gnet__err_cause(err, GNET_INVALID, "",
                        "use of WriteTo with pre-connected connection");
        return -1;
    }
    if (check_dest(c, to, err) < 0)
        return -1;

    ssize_t n = gnet__fd_write_to(&c->fd.pfd, buf, len, to);
    if (n < 0) {
        gnet__err_frame(err, "write", c->fd.net, &c->fd.laddr, to);
        gnet__err_code(err, (int)n, "sendto", false);
        if (err != NULL)
            err->n = 0;
        return -1;
    }
    gnet__err_ok(err);
    return n;
}

ssize_t gnet_read_msg(gnet_conn *c, void *buf, size_t len, void *oob,
                      size_t *oobn, int *flags, gnet_addr *from,
                      gnet_error *err)
{
    gnet_addr tmp;
    size_t noob = 0;
    int fl;

    NULL_CONN(c, err, "read");
    if (check_buf(c, err, "read", buf, len) < 0)
        return -1;
    if (oob == NULL && oobn != NULL)
        *oobn = 0;
    ssize_t n = gnet__fd_read_msg(
        &c->fd.pfd, buf, len, oob, oobn != NULL ? oobn : &noob,
        flags != NULL ? flags : &fl, from != NULL ? from : &tmp);
    if (n < 0)
        return conn_fail(c, err, "read", (int)n, "recvmsg");
    gnet__err_ok(err);
    return n;
}

ssize_t gnet_write_msg(gnet_conn *c, const void *buf, size_t len,
                       const void *oob, size_t oobn, const gnet_addr *to,
                       gnet_error *err)
{
    NULL_CONN(c, err, "write");
    if (check_buf(c, err, "write", buf, len) < 0 ||
        check_buf(c, err, "write", oob, oobn) < 0)
        return -1;
    if (c->fd.sotype == SOCK_DGRAM && check_dest(c, to, err) < 0)
        return -1;

    ssize_t n = gnet__fd_write_msg(&c->fd.pfd, buf, len, oob, oobn, to);
    if (n < 0) {
        const gnet_addr *a = to != NULL && to->len > 0 ? to : &c->fd.raddr;
        gnet__err_frame(err, "write", c->fd.net, &c->fd.laddr, a);
        gnet__err_code(err, (int)n, "sendmsg", false);
        if (err != NULL)
            err->n = 0;
        return -1;
    }
    gnet__err_ok(err);
    return n;
}

/* ------------------------------------------------------------------ */
/* Conns: control. */

static int set_deadline(gnet_conn *c, int64_t t, int mode, const char *fop,
                        gnet_error *err)
{
    NULL_CONN(c, err, "set");
    int rc = gnet__fd_set_deadline(&c->fd.pfd, t, mode);
    if (rc < 0) {
        if (is_file(&c->fd))
            return conn_fail(c, err, fop, rc, "");
        gnet__err_frame(err, "set", c->fd.net, NULL, &c->fd.laddr);
        gnet__err_code(err, rc, "", false);
        return -1;
    }
    gnet__err_ok(err);
    return 0;
}

int gnet_set_deadline(gnet_conn *c, int64_t t, gnet_error *err)
{
    return set_deadline(c, t, GPOLL_RW, "SetDeadline", err);
}

int gnet_set_read_deadline(gnet_conn *c, int64_t t, gnet_error *err)
{
    return set_deadline(c, t, GPOLL_READ, "SetReadDeadline", err);
}

int gnet_set_write_deadline(gnet_conn *c, int64_t t, gnet_error *err)
{
    return set_deadline(c, t, GPOLL_WRITE, "SetWriteDeadline", err);
}

static int half_close(gnet_conn *c, int how, gnet_error *err)
{
    NULL_CONN(c, err, "close");
    int rc = gnet__fd_shutdown(&c->fd.pfd, how);
    if (rc < 0)
        return conn_fail(c, err, "close", rc, "shutdown");
    gnet__err_ok(err);
    return 0;
}

int gnet_close_read(gnet_conn *c, gnet_error *err)
{
    return half_close(c, SHUT_RD, err);
}

int gnet_close_write(gnet_conn *c, gnet_error *err)
{
    return half_close(c, SHUT_WR, err);
}

int gnet_conn_close(gnet_conn *c, gnet_error *err)
{
    NULL_CONN(c, err, "close");
    int rc = gnet__fd_close(&c->fd.pfd);
    if (rc < 0)
        return conn_fail(c, err, "close", rc, "close");
    gnet__err_ok(err);
    return 0;
}

void gnet_conn_free(gnet_conn *c)
{
    if (c == NULL)
        return;
    gnet__fd_close(&c->fd.pfd);
    free(c);
}

const gnet_addr *gnet_local_addr(const gnet_conn *c)
{
    return c != NULL ? &c->fd.laddr : NULL;
}

const gnet_addr *gnet_remote_addr(const gnet_conn *c)
{
    return c != NULL ? &c->fd.raddr : NULL;
}

const char *gnet_conn_network(const gnet_conn *c)
{
    return c != NULL ? c->fd.net : "";
}

int gnet_conn_sysfd(const gnet_conn *c)
{
    return c != NULL ? c->fd.pfd.sysfd : -1;
}

bool gnet_conn_pollable(const gnet_conn *c)
{
    return c != NULL && c->fd.pfd.pd != NULL;
}

static int set_opt(gnet_conn *c, int level, int name, int v, gnet_error *err)
{
    NULL_CONN(c, err, "set");
    int rc = gnet__fd_setsockopt_int(&c->fd.pfd, level, name, v);
    if (rc < 0)
        return conn_fail(c, err, "set", rc, "setsockopt");
    gnet__err_ok(err);
    return 0;
}

int gnet_set_nodelay(gnet_conn *c, bool on, gnet_error *err)
{
    return set_opt(c, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, err);
}

int gnet_set_keepalive(gnet_conn *c, bool on, gnet_error *err)
{
    return set_opt(c, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, err);
}

int gnet_set_keepalive_period(gnet_conn *c, int64_t period, gnet_error *err)
{
    NULL_CONN(c, err, "set");
    if (period < 0)
        return set_invalid(c, err, "negative keep-alive period");

    /* 0 is the default period, as for dial and listen. */
    if (period == 0)
        period = DEFAULT_KEEP_ALIVE;
    int rc = gnet__fd_incref(&c->fd.pfd);
    if (rc == 0) {
        rc = keepalive_period(c->fd.pfd.sysfd, period);
        gnet__fd_decref(&c->fd.pfd);
    }
    if (rc < 0)
        return conn_fail(c, err, "set", rc, "setsockopt");
    gnet__err_ok(err);
    return 0;
}

int gnet_set_read_buffer(gnet_conn *c, int bytes, gnet_error *err)
{
    NULL_CONN(c, err, "set");
    if (bytes < 0)
        return set_invalid(c, err, "negative buffer size");
    return set_opt(c, SOL_SOCKET, SO_RCVBUF, bytes, err);
}

int gnet_set_write_buffer(gnet_conn *c, int bytes, gnet_error *err)
{
    NULL_CONN(c, err, "set");
    if (bytes < 0)
        return set_invalid(c, err, "negative buffer size");
    return set_opt(c, SOL_SOCKET, SO_SNDBUF, bytes, err);
}

int gnet_set_linger(gnet_conn *c, int seconds, gnet_error *err)
{
    struct linger lg = {.l_onoff = seconds >= 0, .l_linger = seconds};

    NULL_CONN(c, err, "set");
    int rc = gnet__fd_incref(&c->fd.pfd);

    if (rc == 0) {
        if (setsockopt(c->fd.pfd.sysfd, SOL_SOCKET, SO_LINGER, &lg,
                       sizeof(lg)) < 0)
            rc = -errno;
        gnet__fd_decref(&c->fd.pfd);
    }
    if (rc < 0)
        return conn_fail(c, err, "set", rc, "setsockopt");
    gnet__err_ok(err);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Files. */

static int set_blocking(int fd, bool blocking)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

int gnet_file_new(int fd, const char *name, gnet_conn **out, gnet_error *err)
{
    int type;
    socklen_t tl = sizeof(type);
    gnet_conn *c;

    if (out == NULL)
        return invalid(err, "open", "", name, "NULL out");
    *out = NULL;
    gnet__err_frame_text(err, "open", "", "", name);
    if (fd < 0) {
        gnet__err_code(err, -EBADF, "", true);
        return -1;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        gnet__err_code(err, -ENOMEM, "", true);
        return -1;
    }
    gnet__copy(c->fd.path, sizeof(c->fd.path), name);
    c->fd.sotype = SOCK_STREAM;
    bool sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0;
    gnet__fd_new(&c->fd.pfd, fd, SOCK_STREAM, sock);

    /* Try the netpoller first; epoll refuses regular files with EPERM,
     * and those go back to blocking mode. */
    int rc = set_blocking(fd, false);
    if (rc == 0) {
        rc = gnet__fd_init(&c->fd.pfd, true, true);
        if (rc == -EPERM)
            rc = set_blocking(fd, true);
    }
    if (rc < 0) {
        gnet__err_code(err, rc, "", true);
        free(c);
        return -1;
    }
    *out = c;
    gnet__err_ok(err);
    return 0;
}
