/* UDP, unix sockets of the three kinds, messages with ancillary data. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_test.h"

static bool same_addr(const gnet_addr *a, const gnet_addr *b)
{
    char x[GNET_ADDRSTRLEN], y[GNET_ADDRSTRLEN];

    return strcmp(nt_addr(a, x, sizeof(x)), nt_addr(b, y, sizeof(y))) == 0;
}

NET_TEST(udp_empty_datagrams_are_sent_and_received)
{
    gnet_conn *srv, *cli;
    gnet_addr from;
    gnet_error err;
    char buf[64], want[256];

    CHECK_OK(gnet_listen_packet("udp", "127.0.0.1:0", NULL, &srv, &err), &err);
    cli = nt_dial_to("udp", gnet_local_addr(srv));

    /* An empty datagram from the connected client... */
    CHECK_EQ(gnet_write(cli, "", 0, &err), 0);
    CHECK_OK(gnet_set_read_deadline(srv, gort_now() + 5 * SEC, &err), &err);
    CHECK_EQ(gnet_read_from(srv, buf, sizeof(buf), &from, &err), 0);
    CHECK(same_addr(&from, gnet_local_addr(cli)));

    /* ...and one back: a zero read on a datagram socket is not EOF. */
    CHECK_EQ(gnet_write_to(srv, "", 0, &from, &err), 0);
    CHECK_OK(gnet_set_read_deadline(cli, gort_now() + 5 * SEC, &err), &err);
    CHECK_EQ(gnet_read(cli, buf, sizeof(buf), &err), 0);
    CHECK_EQ(err.cause, GNET_OK);

    CHECK_EQ(gnet_write_to(srv, "abc", 3, &from, &err), 3);
    CHECK_EQ(gnet_read(cli, buf, sizeof(buf), &err), 3);
    CHECK_EQ(memcmp(buf, "abc", 3), 0);

    /* Nothing more is coming: the deadline ends the wait. */
    CHECK_OK(gnet_set_read_deadline(srv, gort_now() + 30 * MS, &err), &err);
    CHECK_EQ(gnet_read_from(srv, buf, sizeof(buf), &from, &err), -1);
    CHECK(gnet_error_is_timeout(&err));
    char la[GNET_ADDRSTRLEN];
    snprintf(want, sizeof(want), "read udp %s: i/o timeout",
             nt_addr(gnet_local_addr(srv), la, sizeof(la)));
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);

    /* Go's rules: no WriteTo on a connected socket, and an unconnected
     * one needs a destination. */
    CHECK_EQ(gnet_write_to(cli, "x", 1, &from, &err), -1);
    CHECK_EQ(err.cause, GNET_INVALID);
    CHECK_EQ(gnet_write(srv, "x", 1, &err), -1);

    gnet_conn_free(cli);
    gnet_conn_free(srv);
}

NET_TEST(udp_wildcard_and_ipv6)
{
    gnet_conn *srv, *cli;
    gnet_addr from;
    gnet_error err;
    char buf[64], addr[64];

    CHECK_OK(gnet_listen_packet("udp6", "[::1]:0", NULL, &srv, &err), &err);
    snprintf(addr, sizeof(addr), "[::1]:%d",
             gnet_addr_port(gnet_local_addr(srv)));
    CHECK_OK(gnet_dial("udp6", addr, NULL, &cli, &err), &err);
    CHECK_EQ(gnet_write(cli, "six", 3, &err), 3);
    CHECK_EQ(gnet_read_from(srv, buf, sizeof(buf), &from, &err), 3);
    CHECK_EQ(from.ss.ss_family, AF_INET6);
    gnet_conn_free(cli);
    gnet_conn_free(srv);
}

/* ------------------------------------------------------------------ */

static void temp_dir(char *dir, size_t n)
{
    const char *base = getenv("TMPDIR");

    snprintf(dir, n, "%s/gnet-XXXXXX", base != NULL ? base : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
}

NET_TEST(unix_stream_echo_addresses_and_unlink)
{
    char dir[256], path[300], buf[GNET_ADDRSTRLEN], want[512];
    gnet_listener *l;
    gnet_conn *c, *s;
    gnet_error err;
    struct stat st;

    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    CHECK_OK(gnet_listen("unix", path, NULL, &l, &err), &err);
    CHECK_STREQ(nt_addr(gnet_listener_addr(l), buf, sizeof(buf)), path);
    CHECK_OK(gnet_dial("unix", path, NULL, &c, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);

    CHECK_STREQ(nt_addr(gnet_local_addr(s), buf, sizeof(buf)), path);
    CHECK_STREQ(nt_addr(gnet_remote_addr(c), buf, sizeof(buf)), path);
    CHECK_STREQ(nt_addr(gnet_local_addr(c), buf, sizeof(buf)), "@");

    CHECK_OK(gnet_write(c, "hi", 2, &err), &err);
    nt_read_full(s, buf, 2);
    CHECK_EQ(memcmp(buf, "hi", 2), 0);
    CHECK_OK(gnet_close_write(c, &err), &err);
    CHECK_EQ(gnet_read(s, buf, sizeof(buf), &err), 0);

    CHECK_OK(gnet_set_read_deadline(c, gort_now() + 20 * MS, &err), &err);
    CHECK_EQ(gnet_read(c, buf, sizeof(buf), &err), -1);
    snprintf(want, sizeof(want), "read unix @->%s: i/o timeout", path);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);

    /* The listener removes its socket file when it closes. */
    CHECK_EQ(stat(path, &st), 0);
    CHECK_OK(gnet_listener_close(l, &err), &err);
    CHECK_EQ(stat(path, &st), -1);
    gnet_conn_free(c);
    CHECK_EQ(gnet_dial("unix", path, NULL, &c, &err), -1);
    CHECK(c == NULL);
    CHECK_EQ(err.errnum, ENOENT);

    gnet_conn_free(s);
    gnet_listener_free(l);
    rmdir(dir);
}

NET_TEST(unixgram_datagrams_between_named_sockets)
{
    char dir[256], pa[300], pb[300], buf[64];
    gnet_conn *a, *b;
    gnet_addr to, from;
    gnet_error err;

    temp_dir(dir, sizeof(dir));
    snprintf(pa, sizeof(pa), "%s/a", dir);
    snprintf(pb, sizeof(pb), "%s/b", dir);
    CHECK_OK(gnet_listen_packet("unixgram", pa, NULL, &a, &err), &err);
    CHECK_OK(gnet_listen_packet("unixgram", pb, NULL, &b, &err), &err);

    CHECK_OK(gnet_resolve("unixgram", pb, &to, &err), &err);
    CHECK_EQ(gnet_write_to(a, "one", 3, &to, &err), 3);
    CHECK_EQ(gnet_write_to(a, "", 0, &to, &err), 0);
    CHECK_EQ(gnet_read_from(b, buf, sizeof(buf), &from, &err), 3);
    CHECK_STREQ(nt_addr(&from, buf, sizeof(buf)), pa);
    CHECK_EQ(gnet_read_from(b, buf, sizeof(buf), &from, &err), 0);

    gnet_conn_free(a);
    gnet_conn_free(b);
    unlink(pa);
    unlink(pb);
    rmdir(dir);
}

NET_TEST(unixpacket_keeps_message_boundaries)
{
    char name[64], buf[64];
    gnet_listener *l;
    gnet_conn *c, *s;
    gnet_error err;

    /* Abstract: no file to clean up. */
    snprintf(name, sizeof(name), "@gnet-test-%d", (int)getpid());
    CHECK_OK(gnet_listen("unixpacket", name, NULL, &l, &err), &err);
    CHECK_STREQ(nt_addr(gnet_listener_addr(l), buf, sizeof(buf)), name);
    CHECK_OK(gnet_dial("unixpacket", name, NULL, &c, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);

    CHECK_EQ(gnet_write(c, "ab", 2, &err), 2);
    CHECK_EQ(gnet_write(c, "cde", 3, &err), 3);
    CHECK_EQ(gnet_read(s, buf, sizeof(buf), &err), 2);
    CHECK_EQ(gnet_read(s, buf, sizeof(buf), &err), 3);
    CHECK_EQ(memcmp(buf, "cde", 3), 0);

    gnet_conn_free(c);
    CHECK_EQ(gnet_read(s, buf, sizeof(buf), &err), 0);
    gnet_conn_free(s);
    gnet_listener_free(l);
}

NET_TEST(unix_messages_pass_fds_close_on_exec)
{
    char name[64], buf[64];
    gnet_listener *l;
    gnet_conn *c, *s;
    gnet_error err;
    int pipefd[2];

    snprintf(name, sizeof(name), "@gnet-msg-%d", (int)getpid());
    CHECK_OK(gnet_listen("unix", name, NULL, &l, &err), &err);
    CHECK_OK(gnet_dial("unix", name, NULL, &c, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);
    CHECK_EQ(pipe(pipefd), 0);

    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } oob;
    memset(&oob, 0, sizeof(oob));
    oob.h.cmsg_level = SOL_SOCKET;
    oob.h.cmsg_type = SCM_RIGHTS;
    oob.h.cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(&oob.h), &pipefd[1], sizeof(int));
    CHECK_EQ(gnet_write_msg(c, "f", 1, oob.b, sizeof(oob.b), NULL, &err), 1);

    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } in;
    size_t inlen = sizeof(in.b);
    int flags = -1;
    CHECK_EQ(
        gnet_read_msg(s, buf, sizeof(buf), in.b, &inlen, &flags, NULL, &err),
        1);
    CHECK_GE(inlen, CMSG_LEN(sizeof(int)));
    CHECK_EQ(in.h.cmsg_type, SCM_RIGHTS);
    CHECK_EQ(in.h.cmsg_len, CMSG_LEN(sizeof(int)));
    CHECK_EQ(flags & MSG_CTRUNC, 0);
    int got;
    memcpy(&got, CMSG_DATA(&in.h), sizeof(int));
    CHECK_NE(fcntl(got, F_GETFD) & FD_CLOEXEC, 0);

    /* The passed fd is the pipe's write end. */
    CHECK_EQ(write(got, "z", 1), 1);
    CHECK_EQ(read(pipefd[0], buf, 1), 1);
    CHECK_EQ(buf[0], 'z');

    close(got);
    close(pipefd[0]);
    close(pipefd[1]);
    gnet_conn_free(c);
    gnet_conn_free(s);
    gnet_listener_free(l);
}

/* ------------------------------------------------------------------ */
/* Files. */

NET_TEST(regular_file_falls_back_to_blocking_calls)
{
    char dir[256], path[300], buf[64], want[400];
    gnet_conn *f;
    gnet_error err;

    temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/data", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK_GE(fd, 0);
    CHECK_OK(gnet_file_new(fd, path, &f, &err), &err);
    CHECK(!gnet_conn_pollable(f));
    CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);

    CHECK_EQ(gnet_write(f, "hello", 5, &err), 5);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(gnet_read(f, buf, sizeof(buf), &err), 5);
    CHECK_EQ(gnet_read(f, buf, sizeof(buf), &err), 0);

    CHECK_EQ(gnet_set_read_deadline(f, gort_now() + SEC, &err), -1);
    CHECK_EQ(err.cause, GNET_NO_DEADLINE);

    CHECK_OK(gnet_conn_close(f, &err), &err);
    CHECK_EQ(gnet_read(f, buf, sizeof(buf), &err), -1);
    snprintf(want, sizeof(want), "read %s: use of closed file", path);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
    gnet_conn_free(f);
    unlink(path);
    rmdir(dir);
}

typedef struct pipe_reader {
    gnet_conn *f;
    ssize_t rc;
    gnet_error err;
    gort_waitgroup wg;
} pipe_reader;

static void read_pipe(void *arg)
{
    pipe_reader *r = arg;
    char buf[8];

    r->rc = gnet_read(r->f, buf, sizeof(buf), &r->err);
    gort_wg_done(&r->wg);
}

NET_TEST(pipe_is_polled_with_deadlines_and_close)
{
    int p[2];
    gnet_conn *rd;
    gnet_error err;
    char buf[64];
    pipe_reader r;

    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    CHECK_OK(gnet_file_new(p[0], "pipe", &rd, &err), &err);
    CHECK(gnet_conn_pollable(rd));

    CHECK_OK(gnet_set_read_deadline(rd, gort_now() + 30 * MS, &err), &err);
    CHECK_EQ(gnet_read(rd, buf, sizeof(buf), &err), -1);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), "read pipe: i/o timeout");

    CHECK_OK(gnet_set_read_deadline(rd, 0, &err), &err);
    CHECK_EQ(write(p[1], "q", 1), 1);
    CHECK_EQ(gnet_read(rd, buf, sizeof(buf), &err), 1);

    memset(&r, 0, sizeof(r));
    r.f = rd;
    gort_wg_add(&r.wg, 1);
    CHECK_EQ(gort_go(read_pipe, &r), 0);
    gort_sleep(50 * MS);
    CHECK_OK(gnet_conn_close(rd, &err), &err);
    gort_wg_wait(&r.wg);
    CHECK_EQ(r.rc, -1);
    CHECK_STREQ(nt_msg(&r.err, buf, sizeof(buf)),
                "read pipe: use of closed file");

    gnet_conn_free(rd);
    close(p[1]);
}
