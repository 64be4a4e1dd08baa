/*
 * soak.h: what soak_server and soak_client measure about themselves.
 *
 * A figures line is what a leak would move: open fds (/proc/self/fd),
 * poll descriptors in use (gpoll_cache_inspect), live Gs (every status
 * but idle and dead, from gort_get_stats), resident memory
 * (/proc/self/statm) and the program's own count of open conns. The
 * tools/soak script compares a line taken after a warm-up round with
 * one taken after the churn.
 *
 * Header-only (static functions), like serve.h.
 */
#ifndef GORT_TOOLS_SOAK_H
#define GORT_TOOLS_SOAK_H

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "gort_net.h"

typedef struct soak_figures {
    long fds;
    long pds;
    long gs;
    long rss_kb;
    long conns;
} soak_figures;

static long soak_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;

    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}

static long soak_rss_kb(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void soak_measure(soak_figures *f, long conns)
{
    gpoll_cache_stats pc;
    gort_stats st;

    gpoll_cache_inspect(&pc);
    gort_get_stats(&st);
    f->fds = soak_count_fds();
    f->pds = (long)pc.in_use;
    f->gs = (long)(st.gs[GORT_GRUNNABLE] + st.gs[GORT_GRUNNING] +
                   st.gs[GORT_GSYSCALL] + st.gs[GORT_GWAITING]);
    f->rss_kb = soak_rss_kb();
    f->conns = conns;
}

/* One line on stdout, flushed: "figures LABEL fds=.. pds=.. ...". */
static void soak_print(const char *label, const soak_figures *f)
{
    printf("figures %s fds=%ld pds=%ld gs=%ld rss_kb=%ld conns=%ld\n", label,
           f->fds, f->pds, f->gs, f->rss_kb, f->conns);
    fflush(stdout);
}

#endif
