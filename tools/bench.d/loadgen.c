/*
 * loadgen.c: the load generator of the network benchmarks, one thread,
 * the same for every server so that only the server differs.
 *
 *   loadgen echo PORT CONNS SIZE WARM_MS RUN_MS
 *       CONNS connections, one SIZE-byte message in flight on each;
 *       prints round trips per second over RUN_MS after WARM_MS, and
 *       the total number of round trips (warm-up included)
 *   loadgen latency PORT SIZE WARM_MS RUN_MS
 *       one connection, blocking; prints p50 and p99 round trip (us)
 *   loadgen stream PORT CONNS WARM_MS RUN_MS
 *       reads what the server streams on CONNS connections; prints
 *       bytes per second
 *   loadgen churn PORT CONNS SIZE RUN_MS WAIT_MS
 *       like echo for RUN_MS, then goes quiet and waits (at most
 *       WAIT_MS) for the server to close every connection; prints the
 *       number of messages
 *
 * The epoll modes are level-triggered and read whatever has arrived, so
 * the client spends per message what the floor echo server spends.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXEV 256

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int dial(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int *dial_all(int port, int conns, int ep)
{
    int *fds = calloc((size_t)conns, sizeof(int));

    if (fds == NULL)
        die("calloc");
    for (int i = 0; i < conns; i++) {
        fds[i] = dial(port);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
            die("epoll_ctl");
    }
    return fds;
}

static void send_msg(int fd, const char *buf, int size)
{
    ssize_t n = write(fd, buf, (size_t)size);

    /* One message in flight: the send buffer is empty, so a short
     * write would mean the server is not reading at all. */
    if (n != size)
        die("write");
}

/* ------------------------------------------------------------------ */
/* Echo and churn: one message in flight per connection. */

struct pingpong {
    int ep;
    int *fds;
    int *got;
    int conns;
    int size;
    int64_t done; /* completed round trips */
    int open;     /* connections not yet closed by the server */
    char *msg;
};

static void pingpong_step(struct pingpong *pp, bool sending, int timeout_ms);

static void pingpong_init(struct pingpong *pp, int port, int conns, int size)
{
    pp->ep = epoll_create1(EPOLL_CLOEXEC);
    if (pp->ep < 0)
        die("epoll_create1");
    pp->conns = conns;
    pp->size = size;
    pp->open = conns;
    pp->done = 0;
    pp->got = calloc((size_t)conns, sizeof(int));
    pp->msg = calloc(1, (size_t)size);
    if (pp->got == NULL || pp->msg == NULL)
        die("calloc");
    memset(pp->msg, 'x', (size_t)size);
    pp->fds = calloc((size_t)conns, sizeof(int));
    if (pp->fds == NULL)
        die("calloc");

    /* Each connection starts its ping-pong as soon as it is up, and the
     * ones already up are served between connects: ten thousand
     * connects take long enough for a server's read deadline to fire
     * on a connection that was left waiting. */
    for (int i = 0; i < conns; i++) {
        pp->fds[i] = dial(port);
        fcntl(pp->fds[i], F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(pp->ep, EPOLL_CTL_ADD, pp->fds[i], &ev) != 0)
            die("epoll_ctl");
        send_msg(pp->fds[i], pp->msg, size);
        if (i % 64 == 63)
            pingpong_step(pp, true, 0);
    }
}

/* One epoll round. Completed messages are answered with the next one
 * while sending is true; a connection the server closed is dropped. */
static void pingpong_step(struct pingpong *pp, bool sending, int timeout_ms)
{
    struct epoll_event ev[MAXEV];
    char buf[65536];
    int n = epoll_wait(pp->ep, ev, MAXEV, timeout_ms);

    for (int k = 0; k < n; k++) {
        int i = (int)ev[k].data.u32;
        ssize_t r = read(pp->fds[i], buf, sizeof(buf));
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            epoll_ctl(pp->ep, EPOLL_CTL_DEL, pp->fds[i], NULL);
            close(pp->fds[i]);
            pp->fds[i] = -1;
            pp->open--;
            continue;
        }
        pp->got[i] += (int)r;
        if (pp->got[i] < pp->size)
            continue;
        pp->got[i] = 0;
        pp->done++;
        if (sending)
            send_msg(pp->fds[i], pp->msg, pp->size);
    }
}

static void run_echo(int port, int conns, int size, int warm_ms, int run_ms)
{
    struct pingpong pp;

    pingpong_init(&pp, port, conns, size);
    int64_t t0 = now_ns(), t_warm = t0 + (int64_t)warm_ms * 1000000;
    int64_t t_end = t_warm + (int64_t)run_ms * 1000000;
    int64_t done_warm = -1;

    for (;;) {
        int64_t t = now_ns();
        if (done_warm < 0 && t >= t_warm) {
            done_warm = pp.done;
            t_warm = t;
        }
        if (t >= t_end)
            break;
        pingpong_step(&pp, true, 10);
        if (pp.open < conns)
            die("server closed a connection");
    }
    double secs = (double)(now_ns() - t_warm) / 1e9;
    printf("rps=%.1f total=%lld conns=%d size=%d\n",
           (double)(pp.done - done_warm) / secs, (long long)pp.done, conns,
           size);
}

static void run_churn(int port, int conns, int size, int run_ms, int wait_ms)
{
    struct pingpong pp;

    pingpong_init(&pp, port, conns, size);
    int64_t t_end = now_ns() + (int64_t)run_ms * 1000000;
    while (now_ns() < t_end)
        pingpong_step(&pp, true, 10);

    /* Quiet: replies still in flight are read, nothing more is sent,
     * and the server's read deadlines close every connection. */
    int64_t t_give_up = now_ns() + (int64_t)wait_ms * 1000000;
    while (pp.open > 0 && now_ns() < t_give_up)
        pingpong_step(&pp, false, 10);
    printf("msgs=%lld still_open=%d\n", (long long)pp.done, pp.open);
}

/* ------------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run_latency(int port, int size, int warm_ms, int run_ms)
{
    int fd = dial(port);
    char *buf = calloc(1, (size_t)size);
    size_t cap = 1 << 16, n = 0;
    int64_t *rtt = malloc(cap * sizeof(*rtt));
    int64_t start = now_ns();
    int64_t t_warm = start + (int64_t)warm_ms * 1000000;
    int64_t t_end = t_warm + (int64_t)run_ms * 1000000;

    if (buf == NULL || rtt == NULL)
        die("malloc");
    for (;;) {
        int64_t t0 = now_ns();
        if (t0 >= t_end)
            break;
        send_msg(fd, buf, size);
        for (int got = 0; got < size;) {
            ssize_t r = read(fd, buf + got, (size_t)(size - got));
            if (r <= 0)
                die("read");
            got += (int)r;
        }
        int64_t t1 = now_ns();
        if (t0 < t_warm)
            continue;
        if (n == cap) {
            cap *= 2;
            rtt = realloc(rtt, cap * sizeof(*rtt));
            if (rtt == NULL)
                die("realloc");
        }
        rtt[n++] = t1 - t0;
    }
    if (n == 0) {
        fprintf(stderr, "loadgen: no round trip measured\n");
        exit(1);
    }
    qsort(rtt, n, sizeof(*rtt), cmp_i64);
    printf("p50_us=%.2f p99_us=%.2f n=%zu\n", (double)rtt[(n - 1) / 2] / 1e3,
           (double)rtt[(size_t)(0.99 * (double)(n - 1))] / 1e3, n);
}

static void run_stream(int port, int conns, int warm_ms, int run_ms)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    int *fds = dial_all(port, conns, ep);
    static char buf[1 << 18];
    struct epoll_event ev[MAXEV];
    int64_t t_warm = now_ns() + (int64_t)warm_ms * 1000000;
    int64_t t_end = t_warm + (int64_t)run_ms * 1000000;
    int64_t bytes = 0;
    bool warm = false;

    for (;;) {
        int64_t t = now_ns();
        if (!warm && t >= t_warm) {
            warm = true;
            bytes = 0;
            t_warm = t;
        }
        if (t >= t_end)
            break;
        int n = epoll_wait(ep, ev, MAXEV, 10);
        for (int k = 0; k < n; k++) {
            ssize_t r = read(fds[ev[k].data.u32], buf, sizeof(buf));
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
                die("stream read");
            if (r > 0)
                bytes += r;
        }
    }
    double secs = (double)(now_ns() - t_warm) / 1e9;
    printf("bytes_per_s=%.0f conns=%d\n", (double)bytes / secs, conns);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "echo") == 0 && argc == 7) {
        run_echo(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                 atoi(argv[6]));
    } else if (argc >= 2 && strcmp(argv[1], "latency") == 0 && argc == 6) {
        run_latency(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
                    atoi(argv[5]));
    } else if (argc >= 2 && strcmp(argv[1], "stream") == 0 && argc == 6) {
        run_stream(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]),
                   atoi(argv[5]));
    } else if (argc >= 2 && strcmp(argv[1], "churn") == 0 && argc == 7) {
        run_churn(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
                  atoi(argv[6]));
    } else {
        fprintf(stderr, "usage: see the comment at the top of loadgen.c\n");
        return 2;
    }
    return 0;
}
