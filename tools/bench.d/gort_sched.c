/*
 * gort_sched.c: the scheduler benchmarks on gort (rows 1 and 2).
 *
 *   gort_sched pingpong PROCS N   two Gs hand a token back and forth
 *                                 through two semaphores, N round trips
 *   gort_sched spawn N            spawn N Gs that exit at once (one P)
 *   gort_sched parked N           N Gs parked at once on a semaphore;
 *                                 resident bytes per parked G (one P)
 *
 * Each prints one line of key=value pairs on stdout for tools/bench.
 * The Go peers in go/main.go do the same work with the same names.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gort_sched.h"

struct args {
    const char *mode;
    long n;
};

/* ------------------------------------------------------------------ */
/* Row 1: park/ready round trip. */

static uint32_t ping_sem;
static uint32_t pong_sem;
static gort_waitgroup pong_done = GORT_WAITGROUP_INIT;

/* Without handoff: the woken G goes to runnext and runs when the
 * releaser parks, which is what a Go channel send to a waiting
 * receiver does. */
static void ponger(void *p)
{
    long n = *(long *)p;

    for (long i = 0; i < n; i++) {
        gort_sem_acquire(&ping_sem);
        gort_sem_release(&pong_sem, false);
    }
    gort_wg_done(&pong_done);
}

static void pingpong(long n)
{
    gort_wg_add(&pong_done, 1);
    if (gort_go(ponger, &n) != 0) {
        fprintf(stderr, "gort_sched: gort_go failed\n");
        exit(1);
    }

    int64_t t0 = gort_nanotime_real();
    for (long i = 0; i < n; i++) {
        gort_sem_release(&ping_sem, false);
        gort_sem_acquire(&pong_sem);
    }
    int64_t t1 = gort_nanotime_real();

    gort_wg_wait(&pong_done);
    printf("ns_per_roundtrip=%.1f procs=%d n=%ld\n",
           (double)(t1 - t0) / (double)n, gort_procs(), n);
}

/* ------------------------------------------------------------------ */
/* Row 2: spawn and exit; parked Gs. */

static gort_waitgroup spawn_done = GORT_WAITGROUP_INIT;

static void exiter(void *p)
{
    (void)p;
    gort_wg_done(&spawn_done);
}

static void spawn(long n)
{
    int64_t t0 = gort_nanotime_real();

    gort_wg_add(&spawn_done, (int)n);
    for (long i = 0; i < n; i++) {
        if (gort_go(exiter, NULL) != 0) {
            fprintf(stderr, "gort_sched: gort_go failed at %ld\n", i);
            exit(1);
        }
    }
    gort_wg_wait(&spawn_done);

    int64_t t1 = gort_nanotime_real();
    printf("ns_per_spawn=%.1f n=%ld\n", (double)(t1 - t0) / (double)n, n);
}

/* A field of /proc/self/status in bytes, or -1. */
static long long status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    size_t len = strlen(field);

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = atoll(line + len + 1);
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static uint32_t parked_sem;
static gort_waitgroup parked_started = GORT_WAITGROUP_INIT;

static void parker(void *p)
{
    (void)p;
    gort_wg_done(&parked_started);
    gort_sem_acquire(&parked_sem);
}

static void parked(long n)
{
    long long rss0 = status_bytes("VmRSS");
    int64_t t0 = gort_nanotime_real();

    gort_wg_add(&parked_started, (int)n);
    for (long i = 0; i < n; i++) {
        if (gort_go(parker, NULL) != 0) {
            fprintf(stderr, "gort_sched: gort_go failed at %ld\n", i);
            exit(1);
        }
    }
    gort_wg_wait(&parked_started);

    /* The last starters may not have parked yet: let them. */
    gort_sleep(20 * 1000 * 1000);
    int64_t t1 = gort_nanotime_real();

    gort_stats st;
    gort_get_stats(&st);
    long long rss = status_bytes("VmRSS");
    long long hwm = status_bytes("VmHWM");
    printf("bytes_per_parked=%.1f rss_total=%lld hwm_total=%lld "
           "rss_base=%lld waiting=%lld ns_per_park=%.1f n=%ld\n",
           (double)(rss - rss0) / (double)n, rss, hwm, rss0,
           (long long)st.gs[GORT_GWAITING], (double)(t1 - t0) / (double)n,
           n);
    fflush(stdout);

    /* Releasing a million Gs one by one would only cost time. */
    _exit(0);
}

/* ------------------------------------------------------------------ */

static void main_g(void *p)
{
    struct args *a = p;

    if (strcmp(a->mode, "pingpong") == 0)
        pingpong(a->n);
    else if (strcmp(a->mode, "spawn") == 0)
        spawn(a->n);
    else
        parked(a->n);
}

int main(int argc, char **argv)
{
    struct args a = {0};
    gort_config cfg = {0};

    if (argc == 4 && strcmp(argv[1], "pingpong") == 0) {
        cfg.procs = atoi(argv[2]);
        a.n = atol(argv[3]);
    } else if (argc == 3 && (strcmp(argv[1], "spawn") == 0 ||
                             strcmp(argv[1], "parked") == 0)) {
        cfg.procs = 1;
        a.n = atol(argv[2]);
    } else {
        fprintf(stderr, "usage: gort_sched pingpong PROCS N | spawn N | "
                        "parked N\n");
        return 2;
    }
    a.mode = argv[1];
    if (a.n <= 0) {
        fprintf(stderr, "gort_sched: N must be positive\n");
        return 2;
    }

    int rc = gort_main(main_g, &a, &cfg);
    if (rc != 0) {
        fprintf(stderr, "gort_sched: gort_main: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
