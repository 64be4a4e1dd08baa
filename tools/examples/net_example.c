/*
 * net_example: an echo server and its clients in one program.
 *
 *     net_example [clients] [messages]      (default 100 clients, 10)
 *
 * The server listens on a free loopback port and serves each
 * connection in a goroutine of its own; every client dials, sends its
 * messages, checks each echo, and hangs up. Everything runs on gort:
 * a goroutine that waits for the network parks, and its thread runs
 * other goroutines meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gort_net.h"

#define SEC 1000000000LL

static int nclients = 100;
static int nmessages = 10;
static char server_addr[GNET_ADDRSTRLEN];
static gort_waitgroup clients_done = GORT_WAITGROUP_INIT;
static gort_waitgroup accept_done = GORT_WAITGROUP_INIT;
static gort_mutex report_mu = GORT_MUTEX_INIT;
static int echoes_ok, failures;

/* Prints err as Go would, e.g. "dial tcp 127.0.0.1:1: connect:
 * connection refused". */
static void report(const char *who, const gnet_error *err)
{
    char msg[512];

    gnet_error_format(err, msg, sizeof(msg));
    fprintf(stderr, "%s: %s\n", who, msg);
}

/* Server side: one goroutine per accepted connection. */
static void echo_conn(void *arg)
{
    gnet_conn *c = arg;
    char buf[4096];
    gnet_error err;

    for (;;) {
        /* Idle connections are dropped after 10 s. */
        gnet_set_read_deadline(c, gort_now() + 10 * SEC, NULL);
        ssize_t n = gnet_read(c, buf, sizeof(buf), &err);
        if (n == 0)
            break; /* the client hung up */
        if (n < 0) {
            if (!gnet_error_is_closed(&err))
                report("server", &err);
            break;
        }
        if (gnet_write(c, buf, (size_t)n, &err) < 0) {
            report("server", &err);
            break;
        }
    }
    gnet_conn_free(c);
}

static void accept_loop(void *arg)
{
    gnet_listener *l = arg;
    gnet_error err;

    for (;;) {
        gnet_conn *c;
        if (gnet_accept(l, &c, &err) < 0) {
            /* Closing the listener ends the loop. */
            if (!gnet_error_is_closed(&err))
                report("accept", &err);
            gort_wg_done(&accept_done);
            return;
        }
        if (gort_go(echo_conn, c) < 0)
            gnet_conn_free(c);
    }
}

/* Client side: dial, then send and check nmessages messages. */
static void client(void *arg)
{
    int id = (int)(intptr_t)arg;
    gnet_conn *c;
    gnet_error err;
    char out[64], in[64];
    int ok = 0;

    if (gnet_dial_timeout("tcp", server_addr, 5 * SEC, &c, &err) < 0) {
        report("client", &err);
        goto done;
    }
    for (int i = 0; i < nmessages; i++) {
        int len = snprintf(out, sizeof(out), "client %d message %d", id, i);
        if (gnet_write(c, out, (size_t)len, &err) < 0)
            break;

        /* TCP is a byte stream: an echo may come back in pieces. */
        int got = 0;
        while (got < len) {
            ssize_t n = gnet_read(c, in + got, (size_t)(len - got), &err);
            if (n <= 0)
                break;
            got += (int)n;
        }
        if (got != len || memcmp(in, out, (size_t)len) != 0)
            break;
        ok++;
    }
    if (ok < nmessages && err.cause != GNET_OK)
        report("client", &err);
    gnet_conn_free(c);

done:
    gort_mutex_lock(&report_mu);
    echoes_ok += ok;
    failures += ok < nmessages;
    gort_mutex_unlock(&report_mu);
    gort_wg_done(&clients_done);
}

static void main_g(void *arg)
{
    gnet_listener *l;
    gnet_error err;

    (void)arg;
    if (gnet_listen("tcp", "127.0.0.1:0", NULL, &l, &err) < 0) {
        report("listen", &err);
        return;
    }
    gnet_addr_format(gnet_listener_addr(l), server_addr, sizeof(server_addr));
    fprintf(stderr, "echo server on %s\n", server_addr);
    gort_wg_add(&accept_done, 1);
    gort_go(accept_loop, l);

    gort_wg_add(&clients_done, nclients);
    for (int i = 0; i < nclients; i++)
        gort_go(client, (void *)(intptr_t)i);
    gort_wg_wait(&clients_done);

    /* Wakes the accept loop with "use of closed network connection";
     * the listener's memory goes once nobody uses it. */
    gnet_listener_close(l, NULL);
    gort_wg_wait(&accept_done);
    gnet_listener_free(l);
    printf("%d clients, %d echoes ok, %d clients failed\n", nclients, echoes_ok,
           failures);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nclients = atoi(argv[1]);
    if (argc > 2)
        nmessages = atoi(argv[2]);
    if (nclients <= 0 || nmessages <= 0) {
        fprintf(stderr, "usage: net_example [clients] [messages]\n");
        return 2;
    }

    /* gnet_main installs the netpoller, then runs main_g as the main
     * goroutine and returns when it does. */
    if (gnet_main(main_g, NULL, NULL) < 0) {
        fprintf(stderr, "net_example: the runtime did not start\n");
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
