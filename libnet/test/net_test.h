/*
 * net_test.h: helpers shared by libnet's tests.
 *
 * Each test body runs as the main goroutine of its own runtime
 * (NET_TEST defines both the TEST and the body). Helpers fail the test
 * with the Go-style text of the error when a call that must succeed
 * does not.
 */
#ifndef GNET_NET_TEST_H
#define GNET_NET_TEST_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gort_net.h"
#include "gort_test.h"
#include "net_private.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* A generous bound on a duration that should be short, scaled for slow
 * builds. */
#define SLOW_BOUND(ns) ((int64_t)((ns)*gtest_scale()))

static inline void nt_run(gort_fn fn, void *arg, int procs)
{
    gort_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = procs;
    int rc = gnet_main(fn, arg, &cfg);
    CHECK_EQ(rc, 0);
}

#define NET_TEST(name)                                                         \
    static void name##_body(void *arg);                                        \
    TEST(name)                                                                 \
    {                                                                          \
        nt_run(name##_body, NULL, 2);                                          \
    }                                                                          \
    static void name##_body(void *arg __attribute__((unused)))

/* Fails with the formatted error unless call returned >= 0. */
#define CHECK_OK(call, errp)                                                   \
    do {                                                                       \
        if ((call) < 0) {                                                      \
            char nt_b_[512];                                                   \
            gnet_error_format((errp), nt_b_, sizeof(nt_b_));                   \
            gtest__fail(__FILE__, __LINE__, "%s failed: %s", #call, nt_b_);    \
        }                                                                      \
    } while (0)

/* The error's message, in a buffer of the caller's. */
static inline const char *nt_msg(const gnet_error *e, char *buf, size_t n)
{
    gnet_error_format(e, buf, n);
    return buf;
}

static inline const char *nt_addr(const gnet_addr *a, char *buf, size_t n)
{
    gnet_addr_format(a, buf, n);
    return buf;
}

/* A listener on 127.0.0.1 with a kernel-chosen port. */
static inline gnet_listener *nt_listen_tcp(void)
{
    gnet_listener *l;
    gnet_error err;

    CHECK_OK(gnet_listen("tcp4", "127.0.0.1:0", NULL, &l, &err), &err);
    return l;
}

static inline gnet_conn *nt_dial_to(const char *net, const gnet_addr *a)
{
    char text[GNET_ADDRSTRLEN];
    gnet_conn *c;
    gnet_error err;

    nt_addr(a, text, sizeof(text));
    CHECK_OK(gnet_dial(net, text, NULL, &c, &err), &err);
    return c;
}

/* A connected TCP pair: *client dialed, *server accepted. */
static inline void nt_pair(gnet_listener **lp, gnet_conn **client,
                           gnet_conn **server)
{
    gnet_error err;
    gnet_listener *l = nt_listen_tcp();

    *client = nt_dial_to("tcp", gnet_listener_addr(l));
    CHECK_OK(gnet_accept(l, server, &err), &err);
    if (lp != NULL)
        *lp = l;
    else
        gnet_listener_free(l);
}

/* Reads exactly n bytes or fails the test. */
static inline void nt_read_full(gnet_conn *c, void *buf, size_t n)
{
    gnet_error err;
    size_t got = 0;

    while (got < n) {
        ssize_t r = gnet_read(c, (char *)buf + got, n - got, &err);
        CHECK_OK(r, &err);
        CHECK_GT(r, 0);
        got += (size_t)r;
    }
}

/* The expected "op net src->dst: cause" of a conn. */
static inline const char *nt_conn_frame(gnet_conn *c, const char *op,
                                        const char *cause, char *buf, size_t n)
{
    char l[GNET_ADDRSTRLEN], r[GNET_ADDRSTRLEN];

    int k = snprintf(buf, n, "%s %s %s->%s: %s", op, gnet_conn_network(c),
                     nt_addr(gnet_local_addr(c), l, sizeof(l)),
                     nt_addr(gnet_remote_addr(c), r, sizeof(r)), cause);
    CHECK_LT(k, (int)n);
    return buf;
}

#endif
