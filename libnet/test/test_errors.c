/* Error texts, address parsing and formatting, and the small pure
 * functions: backlog, dial deadline arithmetic. */
#include <netinet/in.h>
#include <sys/un.h>

#include "net_test.h"

static gnet_addr ip4(const char *ip, int port)
{
    gnet_addr a;
    gnet_error err;
    char text[64];

    snprintf(text, sizeof(text), "%s:%d", ip, port);
    CHECK_OK(gnet_resolve("tcp4", text, &a, &err), &err);
    return a;
}

TEST(error_format_prints_like_go)
{
    gnet_error e;
    char buf[256];
    gnet_addr a5 = ip4("127.0.0.1", 5), a6 = ip4("127.0.0.1", 6);
    gnet_addr a7 = ip4("127.0.0.1", 7), a1 = ip4("127.0.0.1", 1);

    memset(&e, 0, sizeof(e));
    gnet__err_frame(&e, "read", "tcp", &a5, &a6);
    gnet__err_code(&e, GNET__ERR_TIMEOUT, "", false);
    CHECK_STREQ(nt_msg(&e, buf, sizeof(buf)),
                "read tcp 127.0.0.1:5->127.0.0.1:6: i/o timeout");
    CHECK(gnet_error_is_timeout(&e));
    CHECK(!gnet_error_is_closed(&e));

    gnet__err_frame(&e, "accept", "tcp", NULL, &a7);
    gnet__err_code(&e, GNET__ERR_CLOSING, "", false);
    CHECK_STREQ(nt_msg(&e, buf, sizeof(buf)),
                "accept tcp 127.0.0.1:7: use of closed network connection");
    CHECK(gnet_error_is_closed(&e));
    CHECK(!gnet_error_is_timeout(&e));

    gnet__err_frame(&e, "dial", "tcp", NULL, &a1);
    gnet__err_code(&e, -ECONNREFUSED, "connect", false);
    CHECK_STREQ(nt_msg(&e, buf, sizeof(buf)),
                "dial tcp 127.0.0.1:1: connect: connection refused");
    CHECK_EQ(e.cause, GNET_ERRNO);
    CHECK_EQ(e.errnum, ECONNREFUSED);
    CHECK(!gnet_error_is_timeout(&e));
    gnet_error_cause_format(&e, buf, sizeof(buf));
    CHECK_STREQ(buf, "connect: connection refused");

    gnet__err_frame_text(&e, "read", "", "", "data.bin");
    gnet__err_code(&e, GNET__ERR_CLOSING, "", true);
    CHECK_STREQ(nt_msg(&e, buf, sizeof(buf)),
                "read data.bin: use of closed file");
}

TEST(error_timeout_predicate_covers_timeout_errnos)
{
    gnet_error e;

    memset(&e, 0, sizeof(e));
    gnet__err_code(&e, -ETIMEDOUT, "connect", false);
    CHECK(gnet_error_is_timeout(&e));
    gnet__err_code(&e, -EAGAIN, "read", false);
    CHECK(gnet_error_is_timeout(&e));
    gnet__err_code(&e, -ECONNRESET, "read", false);
    CHECK(!gnet_error_is_timeout(&e));
    gnet__err_ok(&e);
    CHECK(!gnet_error_is_timeout(&e));
}

TEST(error_format_truncates_like_snprintf)
{
    gnet_error e;
    char buf[10];
    char full[256];

    memset(&e, 0, sizeof(e));
    gnet__err_frame_text(&e, "write", "udp", "1.2.3.4:5", "6.7.8.9:10");
    gnet__err_code(&e, -EPIPE, "write", false);
    size_t n = gnet_error_format(&e, full, sizeof(full));
    CHECK_STREQ(full, "write udp 1.2.3.4:5->6.7.8.9:10: write: broken pipe");
    CHECK_EQ(n, strlen(full));
    CHECK_EQ(gnet_error_format(&e, buf, sizeof(buf)), n);
    CHECK_EQ(strlen(buf), sizeof(buf) - 1);
    CHECK_EQ(memcmp(buf, full, sizeof(buf) - 1), 0);
}

/* ------------------------------------------------------------------ */

static void split_ok(const char *in, const char *host, const char *port)
{
    char h[256], p[64];
    gnet_error err;

    CHECK_OK(gnet_split_host_port(in, h, sizeof(h), p, sizeof(p), &err), &err);
    CHECK_STREQ(h, host);
    CHECK_STREQ(p, port);
}

static void split_bad(const char *in, const char *why)
{
    char h[256], p[64], msg[256], want[256];
    gnet_error err;

    memset(&err, 0, sizeof(err));
    CHECK_EQ(gnet_split_host_port(in, h, sizeof(h), p, sizeof(p), &err), -1);
    CHECK_EQ(err.cause, GNET_BAD_ADDRESS);
    gnet_error_cause_format(&err, msg, sizeof(msg));
    snprintf(want, sizeof(want), "address %s: %s", in, why);
    CHECK_STREQ(msg, want);
}

TEST(split_host_port_accepts_go_forms)
{
    split_ok("localhost:80", "localhost", "80");
    split_ok("127.0.0.1:0", "127.0.0.1", "0");
    split_ok(":0", "", "0");
    split_ok("[::1]:80", "::1", "80");
    split_ok("[fe80::1%lo]:8080", "fe80::1%lo", "8080");
    split_ok("host:http", "host", "http");
    split_ok("host:", "host", "");
}

TEST(split_host_port_rejects_with_go_texts)
{
    split_bad("localhost", "missing port in address");
    split_bad("::1:80", "too many colons in address");
    split_bad("[::1]", "missing port in address");
    split_bad("[::1]80", "missing port in address");
    split_bad("[::1]:80:90", "too many colons in address");
    split_bad("[::1:80", "missing ']' in address");
    split_bad("a[b]:80", "unexpected '[' in address");
    split_bad("a]b:80", "unexpected ']' in address");
}

/* ------------------------------------------------------------------ */

static void fails_with(int rc, gnet_error *err, const char *want)
{
    char buf[512];

    CHECK_EQ(rc, -1);
    CHECK_STREQ(nt_msg(err, buf, sizeof(buf)), want);
}

NET_TEST(unknown_networks_and_bad_addresses_are_clear)
{
    gnet_error err;
    gnet_conn *c;
    gnet_listener *l;

    fails_with(gnet_dial("foo", "127.0.0.1:80", NULL, &c, &err), &err,
               "dial foo: unknown network foo");
    CHECK_EQ(err.cause, GNET_UNKNOWN_NETWORK);
    CHECK(c == NULL);
    fails_with(gnet_listen("udp", ":0", NULL, &l, &err), &err,
               "listen udp: unknown network udp");
    CHECK(l == NULL);
    fails_with(gnet_listen_packet("tcp", ":0", NULL, &c, &err), &err,
               "listen tcp: unknown network tcp");
    fails_with(gnet_dial("tcp", "127.0.0.1", NULL, &c, &err), &err,
               "dial tcp: address 127.0.0.1: missing port in address");
    fails_with(gnet_dial("tcp", "127.0.0.1:99999", NULL, &c, &err), &err,
               "dial tcp: address 99999: invalid port");
    fails_with(gnet_dial("tcp4", "[::1]:80", NULL, &c, &err), &err,
               "dial tcp4: address ::1: no suitable address found");
    fails_with(gnet_dial("tcp6", "127.0.0.1:80", NULL, &c, &err), &err,
               "dial tcp6: address 127.0.0.1: no suitable address found");
    fails_with(gnet_dial("tcp", "localhost:nosuchservice", NULL, &c, &err),
               &err, "dial tcp: lookup tcp/nosuchservice: unknown port");
    CHECK_EQ(err.cause, GNET_LOOKUP);
    fails_with(gnet_dial("unix", "", NULL, &c, &err), &err,
               "dial unix: missing address");
}

TEST(resolve_and_format_addresses)
{
    gnet_addr a;
    gnet_error err;
    char buf[GNET_ADDRSTRLEN];

    CHECK_OK(gnet_resolve("tcp", "[::1]:80", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "[::1]:80");
    CHECK_EQ(gnet_addr_port(&a), 80);

    CHECK_OK(gnet_resolve("udp", "127.0.0.1:53", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "127.0.0.1:53");

    CHECK_OK(gnet_resolve("tcp", "localhost:http", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "127.0.0.1:80");

    /* IPv4-mapped IPv6 prints as IPv4, as Go's IP.String does. */
    CHECK_OK(gnet_resolve("tcp", "[::ffff:10.1.2.3]:7", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "10.1.2.3:7");

    CHECK_OK(gnet_resolve("unix", "/run/x.sock", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "/run/x.sock");
    CHECK_EQ(gnet_addr_port(&a), -1);
    CHECK_OK(gnet_resolve("unixgram", "@abstract", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "@abstract");

    /* An unnamed unix socket, as getsockname reports it. */
    memset(&a, 0, sizeof(a));
    a.ss.ss_family = AF_UNIX;
    a.len = sizeof(sa_family_t);
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "@");

    memset(&a, 0, sizeof(a));
    CHECK_STREQ(nt_addr(&a, buf, sizeof(buf)), "<nil>");

    char longpath[200];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    CHECK_EQ(gnet_resolve("unix", longpath, &a, &err), -1);
    CHECK_EQ(err.errnum, EINVAL);
}

/* ------------------------------------------------------------------ */

TEST(backlog_follows_somaxconn_rules)
{
    CHECK_EQ(gnet__backlog_from("4096\n", 6, 1), 4096);
    CHECK_EQ(gnet__backlog_from("", 6, 1), 128);
    CHECK_EQ(gnet__backlog_from(NULL, 6, 1), 128);
    CHECK_EQ(gnet__backlog_from("0\n", 6, 1), 128);
    CHECK_EQ(gnet__backlog_from("junk", 6, 1), 128);
    CHECK_EQ(gnet__backlog_from("100000\n", 4, 0), 65535);
    CHECK_EQ(gnet__backlog_from("100000\n", 3, 19), 65535);
    CHECK_EQ(gnet__backlog_from("100000\n", 4, 1), 100000);
    CHECK_EQ(gnet__backlog_from("99999999999999\n", 6, 1), 128);

    /* The process-wide value is the one the file gives. */
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    if (f != NULL) {
        long v = 0;
        if (fscanf(f, "%ld", &v) == 1 && v > 0 && v <= 65535)
            CHECK_EQ(gnet__max_listener_backlog(), v);
        fclose(f);
    }
}

TEST(dial_deadline_takes_earlier_and_saturates)
{
    CHECK_EQ(gnet__dial_deadline(100, 0, 0), 0);
    CHECK_EQ(gnet__dial_deadline(100, 50, 0), 150);
    CHECK_EQ(gnet__dial_deadline(100, 50, 120), 120);
    CHECK_EQ(gnet__dial_deadline(100, 50, 200), 150);
    CHECK_EQ(gnet__dial_deadline(100, 0, 42), 42);
    CHECK_EQ(gnet__dial_deadline(100, INT64_MAX, 0), INT64_MAX);
    CHECK_EQ(gnet__dial_deadline(100, INT64_MAX, INT64_MAX), INT64_MAX);
    CHECK_EQ(gnet__dial_deadline(INT64_MAX - 5, INT64_MAX, 0), INT64_MAX);

    /* A negative timeout is already expired, never "no deadline". */
    CHECK_EQ(gnet__dial_deadline(100, -200, 0), 1);
    CHECK_EQ(gnet__dial_deadline(100, INT64_MIN, 0), 1);
}

TEST(partial_deadline_shares_time_left)
{
    int64_t out;

    CHECK_EQ(gnet__partial_deadline(5, 0, 3, &out), 0);
    CHECK_EQ(out, 0);
    CHECK_EQ(gnet__partial_deadline(0, 10 * SEC, 2, &out), 0);
    CHECK_EQ(out, 5 * SEC);
    CHECK_EQ(gnet__partial_deadline(0, 3 * SEC, 3, &out), 0);
    CHECK_EQ(out, 2 * SEC);
    CHECK_EQ(gnet__partial_deadline(0, SEC, 3, &out), 0);
    CHECK_EQ(out, SEC);
    CHECK_EQ(gnet__partial_deadline(100, INT64_MAX, 4, &out), 0);
    CHECK_GT(out, 100);
    CHECK_EQ(gnet__partial_deadline(100, 50, 1, &out), GNET__ERR_TIMEOUT);
}
