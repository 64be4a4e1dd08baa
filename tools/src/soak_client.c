/*
 * soak_client: the client half of tools/soak.
 *
 *     soak_client -a ADDR [-n CONNS] [-k CONCURRENCY] [-d SECONDS]
 *                 [-p PROCS] [-r SERVER_READ_TIMEOUT_MS]
 *
 * Runs rounds of CONNS connections (default 10,000), CONCURRENCY at a
 * time (default 500), until SECONDS have passed (at least one round).
 * Connection i does one of five things, by i % 5:
 *
 *   0 exchange   write 1-8 KiB, read the echo back and compare;
 *   1 idle       send nothing; the server's read deadline ends it
 *                (the read sees end of stream);
 *   2 deadline   a 20 ms read deadline of its own expires, then the
 *                conn is still used for a short exchange;
 *   3 close      close right after connecting;
 *   4 reset      write, then close with SO_LINGER 0 (RST).
 *
 * The server closes a conn idle for its read timeout (-r, 500 ms as
 * soak_server's default). A client descheduled that long on a loaded
 * machine sees an active conn end early: that is the deadline doing its
 * job, so a conn that fails with end of stream, a reset or a broken
 * pipe at least that long after it was dialed is counted as late, not
 * failed.
 *
 * Prints one line per round and, after the last, a figures line
 * (soak.h) labelled "client" once every conn is closed. Exits 1 if any
 * conn did not behave as above.
 */
#include <errno.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"

#define MS 1000000LL
#define SEC 1000000000LL

static struct {
    const char *addr;
    long n, k;
    _Atomic long next;    /* next conn index of this round */
    _Atomic long open;    /* conns open now */
    _Atomic long done[5]; /* by behaviour, this run */
    _Atomic long failed;  /* conns that misbehaved */
    _Atomic long late;    /* ended by the server's deadline in a stall */
    int64_t server_timeout;
    gort_waitgroup wg;
} cl = {.wg = GORT_WAITGROUP_INIT};

static void fail(long i, const char *what, const gnet_error *err)
{
    char text[512] = "";

    if (err != NULL)
        gnet_error_format(err, text, sizeof(text));
    if (atomic_fetch_add(&cl.failed, 1) < 20)
        fprintf(stderr, "soak_client: conn %ld: %s: %s\n", i, what, text);
}

/* An early end that the server's read deadline explains. */
static bool late(int64_t dialed, const gnet_error *err)
{
    if (gort_now() - dialed < cl.server_timeout)
        return false;
    if (err->cause == GNET_ERRNO && err->errnum != ECONNRESET &&
        err->errnum != EPIPE)
        return false;
    if (err->cause != GNET_ERRNO && err->cause != GNET_OK)
        return false;
    atomic_fetch_add(&cl.late, 1);
    return true;
}

static bool exchange(gnet_conn *c, long i, size_t len, int64_t dialed)
{
    static char out[8192];
    char in[8192];
    gnet_error err;
    size_t got = 0;

    for (size_t j = 0; j < len; j++)
        out[j] = (char)('a' + j % 26);
    if (gnet_write(c, out, len, &err) < 0) {
        if (!late(dialed, &err))
            fail(i, "write", &err);
        return false;
    }
    while (got < len) {
        ssize_t r = gnet_read(c, in + got, len - got, &err);
        if (r <= 0) {
            if (!late(dialed, &err))
                fail(i, r == 0 ? "early end of stream" : "read", &err);
            return false;
        }
        got += (size_t)r;
    }
    if (memcmp(in, out, len) != 0) {
        fail(i, "echo differs", NULL);
        return false;
    }
    return true;
}

static void one_conn(long i)
{
    gnet_conn *c;
    gnet_error err;
    char b;

    if (gnet_dial_timeout("tcp", cl.addr, 10 * SEC, &c, &err) < 0) {
        fail(i, "dial", &err);
        return;
    }
    int64_t dialed = gort_now();
    atomic_fetch_add(&cl.open, 1);
    gnet_set_read_deadline(c, gort_now() + 10 * SEC, NULL);
    switch (i % 5) {
    case 0:
        exchange(c, i, 1024 + (size_t)(i * 37 % 7168), dialed);
        break;
    case 1:
        if (gnet_read(c, &b, 1, &err) != 0)
            fail(i, "idle conn not ended by the server's deadline", &err);
        break;
    case 2:
        gnet_set_read_deadline(c, gort_now() + 20 * MS, NULL);
        if (gnet_read(c, &b, 1, &err) != -1 || !gnet_error_is_timeout(&err))
            fail(i, "own read deadline did not expire", &err);
        gnet_set_read_deadline(c, gort_now() + 10 * SEC, NULL);
        exchange(c, i, 16, dialed);
        break;
    case 3:
        break;
    case 4:
        if (gnet_write(c, "reset follows", 13, &err) < 0 && !late(dialed, &err))
            fail(i, "write before reset", &err);
        gnet_set_linger(c, 0, NULL);
        break;
    }
    gnet_conn_free(c);
    atomic_fetch_sub(&cl.open, 1);
    atomic_fetch_add(&cl.done[i % 5], 1);
}

static void worker_g(void *arg)
{
    long i;

    (void)arg;
    while ((i = atomic_fetch_add(&cl.next, 1)) < cl.n)
        one_conn(i);
    gort_wg_done(&cl.wg);
}

static void main_g(void *arg)
{
    int64_t seconds = *(int64_t *)arg;
    int64_t start = gort_now(), end = start + seconds * SEC;
    soak_figures f;

    for (int round = 1;; round++) {
        int64_t t0 = gort_now();
        atomic_store(&cl.next, 0);
        gort_wg_add(&cl.wg, (int)cl.k);
        for (long w = 0; w < cl.k; w++)
            if (gort_go(worker_g, NULL) < 0) {
                fprintf(stderr, "soak_client: cannot start a G\n");
                exit(1);
            }
        gort_wg_wait(&cl.wg);
        fprintf(stderr,
                "soak_client: round %d: %ld conns in %.1f s, %ld failed, "
                "%ld late\n",
                round, cl.n, (double)(gort_now() - t0) / 1e9,
                atomic_load(&cl.failed), atomic_load(&cl.late));
        if (gort_now() >= end)
            break;
    }
    fprintf(stderr,
            "soak_client: exchange %ld, idle %ld, deadline %ld, close %ld, "
            "reset %ld\n",
            atomic_load(&cl.done[0]), atomic_load(&cl.done[1]),
            atomic_load(&cl.done[2]), atomic_load(&cl.done[3]),
            atomic_load(&cl.done[4]));
    soak_measure(&f, atomic_load(&cl.open));
    soak_print("client", &f);
}

int main(int argc, char **argv)
{
    gort_config cfg;
    int64_t seconds = 0;
    int opt;

    memset(&cfg, 0, sizeof(cfg));
    cfg.stack_size = 64 * 1024;
    cl.n = 10000;
    cl.k = 500;
    cl.server_timeout = 500 * MS;
    while ((opt = getopt(argc, argv, "a:n:k:d:p:r:")) != -1) {
        switch (opt) {
        case 'a':
            cl.addr = optarg;
            break;
        case 'n':
            cl.n = atol(optarg);
            break;
        case 'k':
            cl.k = atol(optarg);
            break;
        case 'd':
            seconds = atoll(optarg);
            break;
        case 'p':
            cfg.procs = atoi(optarg);
            break;
        case 'r':
            cl.server_timeout = atoll(optarg) * MS;
            break;
        default:
            cl.addr = NULL;
        }
    }
    if (cl.addr == NULL || cl.n <= 0 || cl.k <= 0 || seconds < 0 ||
        cl.server_timeout <= 0) {
        fprintf(stderr, "usage: soak_client -a ADDR [-n CONNS] "
                        "[-k CONCURRENCY] [-d SECONDS] [-p PROCS] "
                        "[-r SERVER_READ_TIMEOUT_MS]\n");
        return 2;
    }
    if (gnet_main(main_g, &seconds, &cfg) < 0)
        return 1;
    return atomic_load(&cl.failed) == 0 ? 0 : 1;
}
