/*
 * floor.c: what this machine allows, to read every other figure
 * against.
 *
 *   floor N    prints, in ns: a plain syscall (getppid), epoll_wait
 *              with a zero timeout on an empty set, a loopback TCP
 *              round trip of 64 B between two blocking threads, and a
 *              futex wake round trip between two threads that sleep in
 *              futex_wait in turn; then the CPU's own stalls: a loop
 *              that only reads the clock for N/1e6 seconds, reporting
 *              the longest gap between two reads and how many gaps
 *              exceeded 1 ms (time the CPU was taken away: the
 *              hypervisor, interrupts, other tasks). No timer on this
 *              machine can be more punctual than these stalls allow.
 *
 * The two threads of the round trips run on different CPUs when the
 * affinity mask has two (tools/bench runs it with CPUs 0 and 1).
 */
#include <errno.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long iters;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The n-th CPU of our affinity mask (wrapping), so that the two sides
 * of a round trip sit on different CPUs when there are two. */
static void pin_to(int nth)
{
    cpu_set_t set;
    int cpus[CPU_SETSIZE];
    int n = 0;

    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            cpus[n++] = c;
    if (n < 2)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpus[nth % n], &set);
    sched_setaffinity(0, sizeof(set), &set);
}

/* ------------------------------------------------------------------ */

static double bench_syscall(void)
{
    int64_t t0 = now_ns();

    for (long i = 0; i < iters; i++)
        syscall(SYS_getppid);
    return (double)(now_ns() - t0) / (double)iters;
}

static double bench_epoll(void)
{
    struct epoll_event ev[8];
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0)
        die("epoll_create1");
    int64_t t0 = now_ns();
    for (long i = 0; i < iters; i++)
        epoll_wait(ep, ev, 8, 0);
    int64_t t1 = now_ns();
    close(ep);
    return (double)(t1 - t0) / (double)iters;
}

/* ------------------------------------------------------------------ */
/* Loopback TCP round trip. */

static int full_io(int fd, char *buf, size_t len, int reading)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = reading ? read(fd, buf + done, len - done)
                            : write(fd, buf + done, len - done);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static void *tcp_echo(void *p)
{
    int fd = *(int *)p;
    char buf[64];

    pin_to(1);
    while (full_io(fd, buf, sizeof(buf), 1) == 0)
        if (full_io(fd, buf, sizeof(buf), 0) != 0)
            break;
    close(fd);
    return NULL;
}

static double bench_tcp(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t slen = sizeof(sa);
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &slen) != 0 ||
        connect(c, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("loopback socket");
    int s = accept(l, NULL, NULL);
    if (s < 0)
        die("accept");
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    pthread_t th;
    if (pthread_create(&th, NULL, tcp_echo, &s) != 0)
        die("pthread_create");

    char buf[64] = {0};
    long n = iters / 10 > 0 ? iters / 10 : 1;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (full_io(c, buf, sizeof(buf), 0) != 0 ||
            full_io(c, buf, sizeof(buf), 1) != 0)
            die("round trip");
    int64_t t1 = now_ns();

    close(c);
    pthread_join(th, NULL);
    close(l);
    return (double)(t1 - t0) / (double)n;
}

/* ------------------------------------------------------------------ */
/* Futex wake round trip: each side sleeps until the other flips the
 * word to its turn, then flips it back and wakes the other. */

static _Atomic uint32_t turn;

static void futex_wait_for(uint32_t want)
{
    uint32_t v;

    while ((v = atomic_load(&turn)) != want)
        syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_give(uint32_t to)
{
    atomic_store(&turn, to);
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static long futex_n;

static void *futex_peer(void *p)
{
    (void)p;
    pin_to(1);
    for (long i = 0; i < futex_n; i++) {
        futex_wait_for(1);
        futex_give(0);
    }
    return NULL;
}

static double bench_futex(void)
{
    pthread_t th;

    futex_n = iters / 10 > 0 ? iters / 10 : 1;
    atomic_store(&turn, 0);
    if (pthread_create(&th, NULL, futex_peer, NULL) != 0)
        die("pthread_create");

    int64_t t0 = now_ns();
    for (long i = 0; i < futex_n; i++) {
        futex_give(1);
        futex_wait_for(0);
    }
    int64_t t1 = now_ns();

    pthread_join(th, NULL);
    return (double)(t1 - t0) / (double)futex_n;
}

static void bench_stall(double *max_us, long *over_1ms)
{
    int64_t prev = now_ns(), end = prev + iters * 1000, max = 0;
    long over = 0;

    for (;;) {
        int64_t t = now_ns(), gap = t - prev;
        prev = t;
        if (gap > max)
            max = gap;
        if (gap > 1000000)
            over++;
        if (t >= end)
            break;
    }
    *max_us = (double)max / 1e3;
    *over_1ms = over;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (iters = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: floor N\n");
        return 2;
    }
    pin_to(0);

    double sys = bench_syscall();
    double ep = bench_epoll();
    double tcp = bench_tcp();
    double fut = bench_futex();
    double stall;
    long stalls;
    pin_to(0);
    bench_stall(&stall, &stalls);
    printf("syscall_ns=%.1f epoll_wait0_ns=%.1f tcp64_rtt_ns=%.1f "
           "futex_wake_rtt_ns=%.1f cpu_stall_max_us=%.1f "
           "cpu_stalls_over_1ms=%ld\n", sys, ep, tcp, fut, stall, stalls);
    return 0;
}
