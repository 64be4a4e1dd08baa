/* TCP conns and listeners: deadlines, Close, refusal, half-close,
 * partial writes, EMFILE, socket options. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "net_test.h"

NET_TEST(past_deadlines_fail_at_once_even_when_ready)
{
    gnet_listener *l;
    gnet_conn *c, *s, *pending;
    gnet_error err;
    char buf[256], want[256];

    nt_pair(&l, &c, &s);

    /* Data is ready, buffer space is free and a connection waits in
     * the backlog; the expired deadlines win all the same. */
    CHECK_OK(gnet_write(s, "x", 1, &err), &err);
    pending = nt_dial_to("tcp", gnet_listener_addr(l));
    gort_sleep(10 * MS);

    int64_t past = gort_now() - 1;
    CHECK_OK(gnet_set_read_deadline(c, past, &err), &err);
    CHECK_OK(gnet_set_write_deadline(c, past, &err), &err);
    CHECK_OK(gnet_listener_set_deadline(l, past, &err), &err);

    int64_t t0 = gort_now();
    CHECK_EQ(gnet_read(c, buf, sizeof(buf), &err), -1);
    CHECK(gnet_error_is_timeout(&err));
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)),
                nt_conn_frame(c, "read", "i/o timeout", want, sizeof(want)));

    CHECK_EQ(gnet_write(c, "y", 1, &err), -1);
    CHECK(gnet_error_is_timeout(&err));
    CHECK_EQ(err.n, 0);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)),
                nt_conn_frame(c, "write", "i/o timeout", want, sizeof(want)));

    gnet_conn *got;
    CHECK_EQ(gnet_accept(l, &got, &err), -1);
    CHECK(gnet_error_is_timeout(&err));
    char la[GNET_ADDRSTRLEN];
    snprintf(want, sizeof(want), "accept tcp4 %s: i/o timeout",
             nt_addr(gnet_listener_addr(l), la, sizeof(la)));
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
    CHECK_LT(gort_now() - t0, SLOW_BOUND(SEC));

    /* Cleared, everything that was ready goes through. */
    CHECK_OK(gnet_set_deadline(c, 0, &err), &err);
    CHECK_OK(gnet_listener_set_deadline(l, 0, &err), &err);
    nt_read_full(c, buf, 1);
    CHECK_EQ(buf[0], 'x');
    CHECK_OK(gnet_accept(l, &got, &err), &err);

    /* The timed-out write sent nothing: the peer sees only what came
     * after. */
    CHECK_OK(gnet_write(c, "z", 1, &err), &err);
    nt_read_full(s, buf, 1);
    CHECK_EQ(buf[0], 'z');

    gnet_conn_free(got);
    gnet_conn_free(pending);
    gnet_conn_free(c);
    gnet_conn_free(s);
    gnet_listener_free(l);
}

typedef struct blocked_op {
    gnet_conn *c;
    gnet_listener *l;
    int kind; /* 0 read, 1 write, 2 accept */
    _Atomic int done;
    ssize_t rc;
    gnet_error err;
    gort_waitgroup wg;
} blocked_op;

static void run_blocked(void *arg)
{
    blocked_op *op = arg;
    static char big[1 << 20];
    char buf[64];
    gnet_conn *got = NULL;

    switch (op->kind) {
    case 0:
        op->rc = gnet_read(op->c, buf, sizeof(buf), &op->err);
        break;
    case 1:
        /* Loops until the buffers are full, then blocks. */
        for (;;) {
            op->rc = gnet_write(op->c, big, sizeof(big), &op->err);
            if (op->rc < 0)
                break;
        }
        break;
    case 2:
        op->rc = gnet_accept(op->l, &got, &op->err);
        gnet_conn_free(got);
        break;
    }
    atomic_store(&op->done, 1);
    gort_wg_done(&op->wg);
}

static void start_op(blocked_op *op, int kind, gnet_conn *c, gnet_listener *l)
{
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->c = c;
    op->l = l;
    gort_wg_add(&op->wg, 1);
    CHECK_EQ(gort_go(run_blocked, op), 0);
}

NET_TEST(cleared_past_deadline_read_blocks_until_close)
{
    gnet_conn *c, *s;
    gnet_error err;
    blocked_op op;
    char buf[256], want[256];

    nt_pair(NULL, &c, &s);
    CHECK_OK(gnet_set_read_deadline(c, gort_now() - 1, &err), &err);
    CHECK_OK(gnet_set_read_deadline(c, 0, &err), &err);

    start_op(&op, 0, c, NULL);
    gort_sleep(100 * MS);
    CHECK_EQ(atomic_load(&op.done), 0);

    CHECK_OK(gnet_conn_close(c, &err), &err);
    gort_wg_wait(&op.wg);
    CHECK_EQ(op.rc, -1);
    CHECK(!gnet_error_is_timeout(&op.err));
    CHECK(gnet_error_is_closed(&op.err));
    CHECK_STREQ(nt_msg(&op.err, buf, sizeof(buf)),
                nt_conn_frame(c, "read", "use of closed network connection",
                              want, sizeof(want)));

    /* A second Close, and any call after Close, get the same error. */
    CHECK_EQ(gnet_conn_close(c, &err), -1);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)),
                nt_conn_frame(c, "close", "use of closed network connection",
                              want, sizeof(want)));
    CHECK_EQ(gnet_write(c, "x", 1, &err), -1);
    CHECK(gnet_error_is_closed(&err));
    CHECK_EQ(gnet_read(c, buf, 0, &err), -1);
    CHECK(gnet_error_is_closed(&err));
    CHECK_EQ(gnet_set_deadline(c, 0, &err), -1);
    CHECK(gnet_error_is_closed(&err));
    CHECK_EQ(gnet_close_write(c, &err), -1);
    CHECK(gnet_error_is_closed(&err));

    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(read_deadline_50ms_returns_data_then_timeouts)
{
    gnet_conn *c, *s;
    gnet_error err;
    char buf[64];

    nt_pair(NULL, &c, &s);
    CHECK_OK(gnet_write(s, "hello", 5, &err), &err);
    gort_sleep(10 * MS);

    int64_t t0 = gort_now();
    CHECK_OK(gnet_set_read_deadline(c, t0 + 50 * MS, &err), &err);
    nt_read_full(c, buf, 5);
    CHECK_EQ(memcmp(buf, "hello", 5), 0);

    for (int i = 0; i < 3; i++) {
        CHECK_EQ(gnet_read(c, buf, sizeof(buf), &err), -1);
        CHECK_EQ(err.cause, GNET_TIMEOUT);
        CHECK(gnet_error_is_timeout(&err));
        CHECK_GE(gort_now() - t0, 50 * MS);
    }
    CHECK_LT(gort_now() - t0, SLOW_BOUND(5 * SEC));

    /* A later deadline re-arms: data written now is read. */
    CHECK_OK(gnet_set_read_deadline(c, gort_now() + 5 * SEC, &err), &err);
    CHECK_OK(gnet_write(s, "again", 5, &err), &err);
    nt_read_full(c, buf, 5);
    CHECK_EQ(memcmp(buf, "again", 5), 0);

    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(dial_with_huge_timeout_or_deadline_succeeds)
{
    gnet_listener *l = nt_listen_tcp();
    gnet_conn *c, *s;
    gnet_error err;
    char addr[GNET_ADDRSTRLEN];

    nt_addr(gnet_listener_addr(l), addr, sizeof(addr));
    CHECK_OK(gnet_dial_timeout("tcp", addr, INT64_MAX, &c, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);
    gnet_conn_free(c);
    gnet_conn_free(s);

    gnet_dial_config cfg = {0};
    cfg.timeout = INT64_MAX;
    cfg.deadline = INT64_MAX;
    CHECK_OK(gnet_dial("tcp", addr, &cfg, &c, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);

    /* The dial deadline does not outlive the dial. */
    CHECK_OK(gnet_write(c, "ok", 2, &err), &err);
    gnet_conn_free(c);
    gnet_conn_free(s);
    gnet_listener_free(l);
}

NET_TEST(dial_with_expired_deadline_times_out)
{
    gnet_listener *l = nt_listen_tcp();
    gnet_conn *c;
    gnet_error err;
    char addr[GNET_ADDRSTRLEN], buf[256], want[256];

    nt_addr(gnet_listener_addr(l), addr, sizeof(addr));
    gnet_dial_config cfg = {0};
    cfg.deadline = gort_now() - 1;
    CHECK_EQ(gnet_dial("tcp", addr, &cfg, &c, &err), -1);
    CHECK(gnet_error_is_timeout(&err));
    snprintf(want, sizeof(want), "dial tcp %s: i/o timeout", addr);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
    gnet_listener_free(l);
}

NET_TEST(close_wakes_blocked_accept_read_and_write)
{
    gnet_listener *l;
    gnet_conn *c, *s;
    gnet_error err;
    blocked_op acc, rd, wr;
    char addr[GNET_ADDRSTRLEN], buf[256], want[256];

    nt_pair(&l, &c, &s);
    nt_addr(gnet_listener_addr(l), addr, sizeof(addr));
    CHECK_OK(gnet_set_write_buffer(c, 4096, &err), &err);
    CHECK_OK(gnet_set_read_buffer(s, 4096, &err), &err);

    /* A reader and a writer on the same conn, and an acceptor. */
    start_op(&acc, 2, NULL, l);
    start_op(&rd, 0, c, NULL);
    start_op(&wr, 1, c, NULL);
    gort_sleep(150 * MS);
    CHECK_EQ(atomic_load(&acc.done), 0);
    CHECK_EQ(atomic_load(&rd.done), 0);
    CHECK_EQ(atomic_load(&wr.done), 0);

    CHECK_OK(gnet_listener_close(l, &err), &err);
    CHECK_OK(gnet_conn_close(c, &err), &err);
    gort_wg_wait(&acc.wg);
    gort_wg_wait(&rd.wg);
    gort_wg_wait(&wr.wg);

    snprintf(want, sizeof(want),
             "accept tcp4 %s: use of closed network connection", addr);
    CHECK_STREQ(nt_msg(&acc.err, buf, sizeof(buf)), want);
    CHECK(gnet_error_is_closed(&rd.err));
    CHECK(gnet_error_is_closed(&wr.err));
    CHECK(!gnet_error_is_timeout(&wr.err));
    CHECK_GE(wr.err.n, 0);

    /* Close returned only once the fds were closed: the address is
     * free for a new listener right away. */
    gnet_listener *l2;
    CHECK_OK(gnet_listen("tcp4", addr, NULL, &l2, &err), &err);
    CHECK_STREQ(nt_addr(gnet_listener_addr(l2), buf, sizeof(buf)), addr);

    gnet_listener_free(l2);
    gnet_listener_free(l);
    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(connection_refused_is_reported_promptly)
{
    gnet_listener *l = nt_listen_tcp();
    gnet_conn *c;
    gnet_error err;
    char addr[GNET_ADDRSTRLEN], buf[256], want[256];

    nt_addr(gnet_listener_addr(l), addr, sizeof(addr));
    gnet_listener_free(l);

    int64_t t0 = gort_now();
    CHECK_EQ(gnet_dial_timeout("tcp", addr, 10 * SEC, &c, &err), -1);
    CHECK_LT(gort_now() - t0, SLOW_BOUND(2 * SEC));
    CHECK_EQ(err.cause, GNET_ERRNO);
    CHECK_EQ(err.errnum, ECONNREFUSED);
    CHECK(!gnet_error_is_timeout(&err));
    snprintf(want, sizeof(want), "dial tcp %s: connect: connection refused",
             addr);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
}

NET_TEST(half_close_keeps_the_other_direction)
{
    gnet_conn *c, *s;
    gnet_error err;
    char buf[64], want[256];

    nt_pair(NULL, &c, &s);
    CHECK_OK(gnet_write(c, "ping", 4, &err), &err);
    CHECK_OK(gnet_close_write(c, &err), &err);

    /* The server sees the data, then end of stream... */
    nt_read_full(s, buf, 4);
    CHECK_EQ(memcmp(buf, "ping", 4), 0);
    CHECK_EQ(gnet_read(s, buf, sizeof(buf), &err), 0);
    CHECK_EQ(err.cause, GNET_OK);

    /* ...and can still answer. */
    CHECK_OK(gnet_write(s, "pong", 4, &err), &err);
    nt_read_full(c, buf, 4);
    CHECK_EQ(memcmp(buf, "pong", 4), 0);

    /* Writing after CloseWrite is EPIPE, never SIGPIPE. */
    CHECK_EQ(gnet_write(c, "x", 1, &err), -1);
    CHECK_EQ(err.errnum, EPIPE);
    CHECK_STREQ(
        nt_msg(&err, buf, sizeof(buf)),
        nt_conn_frame(c, "write", "write: broken pipe", want, sizeof(want)));

    /* CloseRead: reads end at once, whatever the peer still sends. */
    CHECK_OK(gnet_close_read(c, &err), &err);
    CHECK_EQ(gnet_read(c, buf, sizeof(buf), &err), 0);
    CHECK_OK(gnet_close_write(s, &err), &err);
    CHECK_EQ(gnet_read(c, buf, sizeof(buf), &err), 0);

    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(writes_to_a_reset_peer_never_raise_sigpipe)
{
    gnet_conn *c, *s;
    gnet_error err;
    static char big[1 << 16];

    /* Default SIGPIPE disposition: a signal would kill the test. */
    signal(SIGPIPE, SIG_DFL);
    nt_pair(NULL, &c, &s);
    CHECK_OK(gnet_set_linger(s, 0, &err), &err);
    gnet_conn_free(s); /* RST */
    gort_sleep(20 * MS);

    ssize_t rc = 0;
    for (int i = 0; i < 100 && rc >= 0; i++)
        rc = gnet_write(c, big, sizeof(big), &err);
    CHECK_EQ(rc, -1);
    CHECK(err.errnum == EPIPE || err.errnum == ECONNRESET);
    gnet_conn_free(c);
}

typedef struct drain {
    gnet_conn *c;
    int64_t total;
    bool pattern_ok;
    gort_waitgroup wg;
} drain;

static char pattern_at(int64_t i)
{
    return (char)('a' + i % 23);
}

NET_TEST(write_timeout_part_way_reports_bytes_written)
{
    gnet_conn *c, *s;
    gnet_error err;
    size_t n = 16 << 20;
    char *buf = malloc(n);

    CHECK(buf != NULL);
    for (size_t i = 0; i < n; i++)
        buf[i] = pattern_at((int64_t)i);
    nt_pair(NULL, &c, &s);
    CHECK_OK(gnet_set_write_buffer(c, 8192, &err), &err);
    CHECK_OK(gnet_set_read_buffer(s, 8192, &err), &err);

    CHECK_OK(gnet_set_write_deadline(c, gort_now() + 100 * MS, &err), &err);
    CHECK_EQ(gnet_write(c, buf, n, &err), -1);
    CHECK(gnet_error_is_timeout(&err));
    int64_t written = err.n;
    CHECK_GT(written, 0);
    CHECK_LT(written, (int64_t)n);
    CHECK_OK(gnet_close_write(c, &err), &err);

    /* The peer receives exactly the bytes reported, in order. */
    int64_t total = 0;
    for (;;) {
        ssize_t r = gnet_read(s, buf, 65536, &err);
        CHECK_OK(r, &err);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            CHECK_EQ(buf[i], pattern_at(total + i));
        total += r;
    }
    CHECK_EQ(total, written);

    free(buf);
    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(zero_length_read_returns_at_once)
{
    gnet_conn *c, *s;
    gnet_error err;
    char buf[1];

    nt_pair(NULL, &c, &s);
    int64_t t0 = gort_now();
    CHECK_EQ(gnet_read(c, buf, 0, &err), 0);
    CHECK_EQ(err.cause, GNET_OK);

    /* Even with an expired deadline: nothing is waited for. */
    CHECK_OK(gnet_set_read_deadline(c, gort_now() - 1, &err), &err);
    CHECK_EQ(gnet_read(c, buf, 0, &err), 0);
    CHECK_LT(gort_now() - t0, SLOW_BOUND(SEC));

    /* A zero-length write on a stream sends nothing and succeeds. */
    CHECK_EQ(gnet_write(s, buf, 0, &err), 0);
    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(accept_returns_emfile_at_once)
{
    gnet_listener *l = nt_listen_tcp();
    gnet_conn *c, *s;
    gnet_error err;
    struct rlimit old, low;
    static int fds[4096];
    int nfds = 0;

    c = nt_dial_to("tcp", gnet_listener_addr(l));
    gort_sleep(10 * MS);

    /* Use up every fd the soft limit allows. */
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            low.rlim_cur = (rlim_t)fd + 1;
    low.rlim_cur += 16;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fd;
    while (nfds < 4096 && (fd = dup(gnet_listener_sysfd(l))) >= 0)
        fds[nfds++] = fd;
    CHECK_LT(nfds, 4096);
    CHECK_EQ(errno, EMFILE);

    int64_t t0 = gort_now();
    CHECK_EQ(gnet_accept(l, &s, &err), -1);
    CHECK_LT(gort_now() - t0, SLOW_BOUND(SEC));
    CHECK_EQ(err.errnum, EMFILE);
    CHECK_STREQ(err.syscall, "accept4");

    /* With fds back, the same connection is accepted. */
    while (nfds > 0)
        close(fds[--nfds]);
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    CHECK_OK(gnet_accept(l, &s, &err), &err);

    gnet_conn_free(s);
    gnet_conn_free(c);
    gnet_listener_free(l);
}

static int sockopt(gnet_conn *c, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);

    CHECK_EQ(getsockopt(gnet_conn_sysfd(c), level, name, &v, &len), 0);
    return v;
}

NET_TEST(tcp_conns_get_nodelay_keepalive_and_cloexec)
{
    gnet_conn *c, *s;

    nt_pair(NULL, &c, &s);
    gnet_conn *both[2] = {c, s};
    for (int i = 0; i < 2; i++) {
        int fd = gnet_conn_sysfd(both[i]);
        CHECK_NE(sockopt(both[i], IPPROTO_TCP, TCP_NODELAY), 0);
        CHECK_NE(sockopt(both[i], SOL_SOCKET, SO_KEEPALIVE), 0);
        CHECK_EQ(sockopt(both[i], IPPROTO_TCP, TCP_KEEPIDLE), 15);
        CHECK_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        CHECK_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    }
    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(listen_reuse_port_is_opt_in)
{
    gnet_listener *a, *b;
    gnet_error err;
    char addr[GNET_ADDRSTRLEN], buf[256], want[256];
    gnet_listen_config cfg = {0};

    cfg.reuse_port = true;
    CHECK_OK(gnet_listen("tcp4", "127.0.0.1:0", &cfg, &a, &err), &err);
    nt_addr(gnet_listener_addr(a), addr, sizeof(addr));
    CHECK_OK(gnet_listen("tcp4", addr, &cfg, &b, &err), &err);
    gnet_listener_free(b);

    CHECK_EQ(gnet_listen("tcp4", addr, NULL, &b, &err), -1);
    snprintf(want, sizeof(want), "listen tcp4 %s: bind: address already in use",
             addr);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
    gnet_listener_free(a);
}

NET_TEST(tcp_wildcard_listener_is_dual_stack)
{
    gnet_listener *l;
    gnet_conn *c4, *c6, *s;
    gnet_error err;
    char buf[GNET_ADDRSTRLEN], addr[64];

    CHECK_OK(gnet_listen("tcp", ":0", NULL, &l, &err), &err);
    int port = gnet_addr_port(gnet_listener_addr(l));
    snprintf(addr, sizeof(addr), "[::]:%d", port);
    CHECK_STREQ(nt_addr(gnet_listener_addr(l), buf, sizeof(buf)), addr);

    /* IPv4 peers show as IPv4, not ::ffff:127.0.0.1. */
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    CHECK_OK(gnet_dial("tcp4", addr, NULL, &c4, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);
    CHECK_STREQ(nt_addr(gnet_local_addr(s), buf, sizeof(buf)), addr);
    nt_addr(gnet_local_addr(c4), addr, sizeof(addr));
    CHECK_STREQ(nt_addr(gnet_remote_addr(s), buf, sizeof(buf)), addr);
    gnet_conn_free(s);

    snprintf(addr, sizeof(addr), "[::1]:%d", port);
    CHECK_OK(gnet_dial("tcp6", addr, NULL, &c6, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);
    CHECK_STREQ(nt_addr(gnet_local_addr(s), buf, sizeof(buf)), addr);
    CHECK_STREQ(nt_addr(gnet_remote_addr(c6), buf, sizeof(buf)), addr);

    gnet_conn_free(s);
    gnet_conn_free(c4);
    gnet_conn_free(c6);
    gnet_listener_free(l);
}

NET_TEST(dial_by_name_and_local_address)
{
    gnet_listener *l = nt_listen_tcp();
    gnet_conn *c, *s;
    gnet_error err;
    char addr[64], buf[GNET_ADDRSTRLEN];

    snprintf(addr, sizeof(addr), "localhost:%d",
             gnet_addr_port(gnet_listener_addr(l)));
    gnet_dial_config cfg = {0};
    cfg.local_address = "127.0.0.1:0";
    CHECK_OK(gnet_dial("tcp", addr, &cfg, &c, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);
    CHECK_STREQ(nt_addr(gnet_remote_addr(c), buf, sizeof(buf)),
                nt_addr(gnet_listener_addr(l), addr, sizeof(addr)));
    CHECK_STREQ(gnet_conn_network(c), "tcp");

    gnet_conn_free(c);
    gnet_conn_free(s);
    gnet_listener_free(l);
}
