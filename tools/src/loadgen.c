/*
 * loadgen: drives an echo or HTTP server with N connections and reports
 * requests per second, latency percentiles and errors.
 *
 *     loadgen [-c CONNS] [-s SIZE] [-d SECONDS] [-p PROCS] [-m echo|http]
 *             ADDR
 *
 * One goroutine per connection. All connections are dialed first; the
 * clock starts when every one is connected (or has failed), and each G
 * then runs closed-loop request/response until the duration ends: echo
 * sends SIZE bytes and reads them back, http sends a keep-alive GET and
 * reads one response. Latency is measured per request into a shared
 * log-linear histogram (32 sub-buckets per power of two, so a
 * percentile is within about 3%). One summary line goes to stdout:
 *
 *     conns=1000 size=64 duration=5.00s requests=... rps=... p50=...us
 *     p99=...us errors=0
 *
 * Errors count failed dials and failed or mismatched requests; the
 * first one is printed on stderr. Exit status 1 if there were any.
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "gort_net.h"

#define MS 1000000LL
#define SEC 1000000000LL

#define SUB_BITS 5
#define SUB (1 << SUB_BITS)
#define NBUCKETS (64 * SUB)

static struct {
    const char *addr;
    int conns;
    size_t size;
    double seconds;
    int procs;
    bool http;
} opt = {NULL, 100, 64, 5.0, 0, false};

static struct {
    gort_waitgroup connected;
    gort_waitgroup done;
    uint32_t gate;
    _Atomic bool stop;
    int64_t end; /* when the run ends; set before the gate opens */
    _Atomic int64_t requests;
    _Atomic int64_t errors;
    _Atomic int64_t hist[NBUCKETS];
    _Atomic int first_error_set;
    char first_error[512];
} run;

/* ------------------------------------------------------------------ */
/* Histogram. */

static int bucket_of(int64_t v)
{
    if (v < SUB)
        return (int)(v < 0 ? 0 : v);
    int msb = 63 - __builtin_clzll((unsigned long long)v);
    int shift = msb - SUB_BITS;
    int sub = (int)((v >> shift) & (SUB - 1));
    return (shift + 1) * SUB + sub;
}

/* The smallest value that falls in bucket b. */
static int64_t bucket_low(int b)
{
    if (b < SUB)
        return b;
    int shift = b / SUB - 1;
    int sub = b % SUB;
    return ((int64_t)(SUB + sub)) << shift;
}

static int64_t percentile(double p)
{
    int64_t total = 0, seen = 0;

    for (int b = 0; b < NBUCKETS; b++)
        total += atomic_load(&run.hist[b]);
    if (total == 0)
        return 0;
    int64_t want = (int64_t)(p * (double)total);
    if (want >= total)
        want = total - 1;
    for (int b = 0; b < NBUCKETS; b++) {
        seen += atomic_load(&run.hist[b]);
        if (seen > want)
            return bucket_low(b);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Clients. */

static void fail(const gnet_error *err, const char *what)
{
    atomic_fetch_add(&run.errors, 1);
    if (atomic_exchange(&run.first_error_set, 1) != 0)
        return;
    if (err != NULL)
        gnet_error_format(err, run.first_error, sizeof(run.first_error));
    else
        snprintf(run.first_error, sizeof(run.first_error), "%s", what);
}

static bool read_full(gnet_conn *c, char *buf, size_t n, gnet_error *err)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = gnet_read(c, buf + got, n - got, err);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

static bool echo_once(gnet_conn *c, char *out, char *in, gnet_error *err)
{
    if (gnet_write(c, out, opt.size, err) < 0)
        return false;
    if (!read_full(c, in, opt.size, err))
        return false;
    if (memcmp(in, out, opt.size) != 0) {
        fail(NULL, "echo mismatch");
        return false;
    }
    return true;
}

static const char http_req[] = "GET / HTTP/1.1\r\nHost: loadgen\r\n\r\n";

/* Reads one response: head, then Content-Length bytes. Bytes past it
 * stay in buf (*have) for the next call. */
static bool http_once(gnet_conn *c, char *buf, size_t cap, size_t *have,
                      gnet_error *err)
{
    if (gnet_write(c, http_req, sizeof(http_req) - 1, err) < 0)
        return false;
    for (;;) {
        char *end = memmem(buf, *have, "\r\n\r\n", 4);
        if (end != NULL) {
            size_t head = (size_t)(end - buf) + 4;
            char *cl = memmem(buf, head, "Content-Length:", 15);
            size_t body = cl != NULL ? strtoul(cl + 15, NULL, 10) : 0;
            if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
                fail(NULL, "http status is not 200");
                return false;
            }
            if (*have >= head + body) {
                memmove(buf, buf + head + body, *have - head - body);
                *have -= head + body;
                return true;
            }
        }
        if (*have == cap) {
            fail(NULL, "http response too large");
            return false;
        }
        ssize_t r = gnet_read(c, buf + *have, cap - *have, err);
        if (r <= 0)
            return false;
        *have += (size_t)r;
    }
}

static void client(void *arg)
{
    gnet_conn *c = NULL;
    gnet_error err;
    char *out = malloc(opt.size), *in = malloc(opt.size + 4096);
    size_t have = 0;

    (void)arg;
    memset(&err, 0, sizeof(err));
    int rc = gnet_dial_timeout("tcp", opt.addr, 30 * SEC, &c, &err);
    if (rc < 0)
        fail(&err, "dial");
    gort_wg_done(&run.connected);
    gort_sem_acquire(&run.gate);

    if (rc == 0 && out != NULL && in != NULL) {
        /* A server that stops answering must not hang the run. */
        gnet_set_deadline(c, run.end + 5 * SEC, NULL);
        memset(out, 'g', opt.size);
        while (!atomic_load_explicit(&run.stop, memory_order_relaxed)) {
            int64_t t0 = gort_now();
            bool ok = opt.http ? http_once(c, in, opt.size + 4096, &have, &err)
                               : echo_once(c, out, in, &err);
            if (!ok) {
                if (err.cause != GNET_OK)
                    fail(&err, "request");
                break;
            }
            atomic_fetch_add_explicit(&run.hist[bucket_of(gort_now() - t0)], 1,
                                      memory_order_relaxed);
            atomic_fetch_add_explicit(&run.requests, 1, memory_order_relaxed);
            err.cause = GNET_OK;
        }
    }
    gnet_conn_free(c);
    free(out);
    free(in);
    gort_wg_done(&run.done);
}

static void main_g(void *arg)
{
    (void)arg;
    gort_wg_add(&run.connected, opt.conns);
    gort_wg_add(&run.done, opt.conns);
    for (int i = 0; i < opt.conns; i++) {
        if (gort_go(client, NULL) < 0) {
            fprintf(stderr, "loadgen: cannot start goroutine %d\n", i);
            exit(1);
        }
    }
    gort_wg_wait(&run.connected);

    int64_t t0 = gort_now();
    run.end = t0 + (int64_t)(opt.seconds * 1e9);
    for (int i = 0; i < opt.conns; i++)
        gort_sem_release(&run.gate, false);
    gort_sleep_until(run.end);
    atomic_store(&run.stop, true);
    int64_t elapsed = gort_now() - t0;
    gort_wg_wait(&run.done);

    int64_t n = atomic_load(&run.requests);
    double secs = (double)elapsed / 1e9;
    printf("conns=%d size=%zu duration=%.2fs requests=%lld rps=%.0f "
           "p50=%.1fus p99=%.1fus errors=%lld\n",
           opt.conns, opt.size, secs, (long long)n, (double)n / secs,
           (double)percentile(0.50) / 1e3, (double)percentile(0.99) / 1e3,
           (long long)atomic_load(&run.errors));
    fflush(stdout);
    if (atomic_load(&run.errors) > 0)
        fprintf(stderr, "loadgen: first error: %s\n", run.first_error);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen [-c CONNS] [-s SIZE] [-d SECONDS] [-p PROCS] "
            "[-m echo|http] ADDR\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int o;
    struct rlimit rl;

    while ((o = getopt(argc, argv, "c:s:d:p:m:h")) != -1) {
        switch (o) {
        case 'c':
            opt.conns = atoi(optarg);
            break;
        case 's':
            opt.size = (size_t)atol(optarg);
            break;
        case 'd':
            opt.seconds = atof(optarg);
            break;
        case 'p':
            opt.procs = atoi(optarg);
            break;
        case 'm':
            if (strcmp(optarg, "http") != 0 && strcmp(optarg, "echo") != 0)
                usage();
            opt.http = strcmp(optarg, "http") == 0;
            break;
        default:
            usage();
        }
    }
    if (optind + 1 != argc || opt.conns <= 0 || opt.size == 0 ||
        opt.seconds <= 0 || opt.procs < 0)
        usage();
    opt.addr = argv[optind];

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    gort_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = opt.procs;
    cfg.stack_size = 64 * 1024;
    int rc = gnet_main(main_g, NULL, &cfg);
    if (rc < 0) {
        fprintf(stderr, "loadgen: runtime: %s\n", strerror(-rc));
        return 1;
    }
    return atomic_load(&run.errors) > 0 ? 1 : 0;
}
