/*
 * gort_net.c: the network servers of the benchmarks, on gort (libnet),
 * one goroutine per connection, on one P.
 *
 *   gort_net echo PORT          echo server
 *   gort_net stream PORT        writes 64 KiB chunks to every conn
 *   gort_net http PORT          HTTP/1.1 hello, keep-alive
 *   gort_net churn PORT N MS    echo that resets a read deadline of MS
 *                               before every read; after N conns have
 *                               ended, prints the figures and exits
 *                               (which closes them all)
 *
 * The Go peers in go/main.go do the same work in the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gort_net.h"

static const char *mode;
static const char *port;
static long churn_conns;
static int64_t churn_ms;

static void fail(const char *what, const gnet_error *err)
{
    char msg[512];

    gnet_error_format(err, msg, sizeof(msg));
    fprintf(stderr, "gort_net: %s: %s\n", what, msg);
    exit(1);
}

static void echo_conn(void *p)
{
    gnet_conn *c = p;
    char buf[16384];

    for (;;) {
        ssize_t n = gnet_read(c, buf, sizeof(buf), NULL);
        if (n <= 0)
            break;
        if (gnet_write(c, buf, (size_t)n, NULL) < 0)
            break;
    }
    gnet_conn_free(c);
}

static void stream_conn(void *p)
{
    gnet_conn *c = p;
    static char chunk[65536];

    while (gnet_write(c, chunk, sizeof(chunk), NULL) >= 0)
        ;
    gnet_conn_free(c);
}

static const char http_reply[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
    "Content-Length: 13\r\n\r\nHello, World!";

/* Answers every complete request head in what it has read; wrk does
 * not pipeline, but a request may arrive in pieces. */
static void http_conn(void *p)
{
    gnet_conn *c = p;
    char buf[16384];
    size_t have = 0;

    for (;;) {
        ssize_t n = gnet_read(c, buf + have, sizeof(buf) - have, NULL);
        if (n <= 0)
            break;
        have += (size_t)n;

        char *end;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) != NULL) {
            if (gnet_write(c, http_reply, sizeof(http_reply) - 1, NULL) < 0)
                goto out;
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, end + 4, have - used);
            have -= used;
        }
        if (have == sizeof(buf))
            break;
    }
out:
    gnet_conn_free(c);
}

/* ------------------------------------------------------------------ */
/* Deadline churn. */

static gort_mutex churn_mu = GORT_MUTEX_INIT;
static int64_t *late;     /* under churn_mu: lateness of each timeout */
static long nlate;        /* under churn_mu */
static long nended;       /* under churn_mu */
static int64_t resets;    /* under churn_mu */
static int64_t reset_ns;  /* under churn_mu */
static uint32_t churn_done;
static uint32_t churn_never; /* never released: ended Gs wait here */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void churn_report(void)
{
    qsort(late, (size_t)nlate, sizeof(*late), cmp_i64);
    double p50 = nlate ? (double)late[(nlate - 1) / 2] / 1e3 : -1;
    double p99 = nlate ? (double)late[(long)(0.99 * (double)(nlate - 1))]
                             / 1e3 : -1;
    double max = nlate ? (double)late[nlate - 1] / 1e3 : -1;
    printf("ns_per_reset=%.1f resets=%lld late_p50_us=%.1f "
           "late_p99_us=%.1f late_max_us=%.1f timeouts=%ld\n",
           (double)reset_ns / (double)resets, (long long)resets, p50, p99,
           max, nlate);
    fflush(stdout);
}

static void churn_conn(void *p)
{
    gnet_conn *c = p;
    char buf[512];
    int64_t my_resets = 0, my_ns = 0, deadline, lateness = -1;
    gnet_error err;

    for (;;) {
        int64_t t0 = gort_now();
        deadline = t0 + churn_ms * 1000000;
        gnet_set_read_deadline(c, deadline, NULL);
        my_ns += gort_now() - t0;
        my_resets++;

        ssize_t n = gnet_read(c, buf, sizeof(buf), &err);
        if (n < 0 && gnet_error_is_timeout(&err))
            lateness = gort_now() - deadline;
        if (n <= 0 || gnet_write(c, buf, (size_t)n, NULL) < 0)
            break;
    }

    /* The conn stays open until the report: ten thousand closes run
     * one after another on the one P would delay the Gs whose
     * deadlines fire after them, and the figure is about timers. */
    gort_mutex_lock(&churn_mu);
    resets += my_resets;
    reset_ns += my_ns;
    if (lateness >= 0)
        late[nlate++] = lateness;
    bool last = ++nended == churn_conns;
    gort_mutex_unlock(&churn_mu);
    if (last)
        gort_sem_release(&churn_done, false);
    else
        gort_sem_acquire(&churn_never);
}

static void churn_waiter(void *p)
{
    (void)p;
    gort_sem_acquire(&churn_done);
    churn_report();
    exit(0);
}

/* ------------------------------------------------------------------ */

static void main_g(void *p)
{
    gort_fn handler = echo_conn;
    gnet_listener *l;
    gnet_error err;
    char addr[64];

    (void)p;
    if (strcmp(mode, "stream") == 0)
        handler = stream_conn;
    else if (strcmp(mode, "http") == 0)
        handler = http_conn;
    else if (strcmp(mode, "churn") == 0) {
        handler = churn_conn;
        late = calloc((size_t)churn_conns, sizeof(*late));
        if (late == NULL || gort_go(churn_waiter, NULL) != 0) {
            fprintf(stderr, "gort_net: out of memory\n");
            exit(1);
        }
    }

    snprintf(addr, sizeof(addr), "127.0.0.1:%s", port);
    if (gnet_listen("tcp", addr, NULL, &l, &err) < 0)
        fail("listen", &err);
    for (;;) {
        gnet_conn *c;
        if (gnet_accept(l, &c, &err) < 0)
            fail("accept", &err);
        if (gort_go(handler, c) != 0) {
            fprintf(stderr, "gort_net: gort_go failed\n");
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    gort_config cfg = {.procs = 1};

    if (argc < 3) {
        fprintf(stderr, "usage: gort_net echo|stream|http PORT | "
                        "churn PORT N MS\n");
        return 2;
    }
    mode = argv[1];
    port = argv[2];
    if (strcmp(mode, "churn") == 0) {
        if (argc != 5 || (churn_conns = atol(argv[3])) <= 0 ||
            (churn_ms = atol(argv[4])) <= 0) {
            fprintf(stderr, "usage: gort_net churn PORT N MS\n");
            return 2;
        }
    }

    int rc = gnet_main(main_g, NULL, &cfg);
    if (rc != 0) {
        fprintf(stderr, "gort_net: gnet_main: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
