/*
 * sched_example: goroutines with a wait group, a mutex and sleeps.
 *
 * The main goroutine starts N workers (default 100, or argv[1]). Each
 * sleeps a few milliseconds, depending on its number, then adds its
 * number to a shared sum under a gort_mutex. A gort_waitgroup tells the
 * main goroutine when all are done; the program prints the sum, which
 * must be 0 + 1 + ... + N-1, and how long it took.
 *
 * Build against an installed gort:
 *
 *     cc sched_example.c $(pkg-config --cflags --libs gort-sched)
 */
#include <stdio.h>
#include <stdlib.h>

#include "gort_sched.h"

struct shared {
    int workers;
    int procs;
    gort_mutex mu;
    long long sum;    /* under mu */
    int finished;     /* under mu */
    int64_t slept_ns; /* under mu: total of all workers' sleeps */
    gort_waitgroup wg;
};

struct worker_arg {
    struct shared *sh;
    int id;
};

static void worker(void *p)
{
    struct worker_arg *w = p;
    struct shared *sh = w->sh;
    int64_t nap = (int64_t)(1 + w->id % 10) * 1000000;
    int64_t t0 = gort_now();
    int64_t slept;

    gort_sleep(nap);
    slept = gort_now() - t0;

    gort_mutex_lock(&sh->mu);
    sh->sum += w->id;
    sh->finished++;
    sh->slept_ns += slept;
    gort_mutex_unlock(&sh->mu);

    gort_wg_done(&sh->wg);
}

static void main_g(void *p)
{
    struct shared *sh = p;
    struct worker_arg *args = calloc((size_t)sh->workers, sizeof(*args));

    if (args == NULL) {
        fprintf(stderr, "sched_example: out of memory\n");
        exit(1);
    }
    sh->procs = gort_procs();
    for (int i = 0; i < sh->workers; i++) {
        args[i].sh = sh;
        args[i].id = i;
        gort_wg_add(&sh->wg, 1);
        if (gort_go(worker, &args[i]) != 0) {
            fprintf(stderr, "sched_example: gort_go failed\n");
            exit(1);
        }
    }
    gort_wg_wait(&sh->wg);
    free(args);
}

int main(int argc, char **argv)
{
    struct shared sh = {0};
    gort_config cfg = {0};
    long long want;
    int64_t t0;
    int rc;

    sh.workers = argc > 1 ? atoi(argv[1]) : 100;
    if (sh.workers < 1) {
        fprintf(stderr, "usage: sched_example [goroutines]\n");
        return 2;
    }
    sh.mu = (gort_mutex)GORT_MUTEX_INIT;
    sh.wg = (gort_waitgroup)GORT_WAITGROUP_INIT;

    t0 = gort_nanotime_real();
    rc = gort_main(main_g, &sh, &cfg);
    if (rc != 0) {
        fprintf(stderr, "sched_example: gort_main: error %d\n", rc);
        return 1;
    }

    want = (long long)sh.workers * (sh.workers - 1) / 2;
    printf("%d goroutines finished on %d Ps; sum of ids %lld "
           "(expected %lld)\n",
           sh.finished, sh.procs, sh.sum, want);
    printf("each slept 1-10 ms; together %.3f s of sleep in %.1f ms of "
           "real time\n",
           (double)sh.slept_ns / 1e9,
           (double)(gort_nanotime_real() - t0) / 1e6);
    return sh.finished == sh.workers && sh.sum == want ? 0 : 1;
}
