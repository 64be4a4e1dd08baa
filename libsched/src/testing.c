/*
 * testing.c: the hooks of testing.h. The run queue and timer heap code
 * they call is the scheduler's own (proc.c and timer.c export it to
 * this file under gort__ names); nothing here re-implements it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "testing.h"

int gort__test_runq_reset(int nprocs)
{
    if (atomic_load(&gort__s.running) || nprocs <= 0)
        return -EBUSY;
    gort__s.runqhead = gort__s.runqtail = NULL;
    atomic_store(&gort__s.runqsize, 0);
    gort__s.nprocs = nprocs;
    return 0;
}

gort__test_p *gort__test_p_new(void)
{
    gort__p *p = calloc(1, sizeof *p);
    if (p)
        atomic_store(&p->status, PRUNNING);
    return p;
}

void gort__test_p_free(gort__test_p *p)
{
    free(p);
}

gort_g *gort__test_g_new(uint64_t id)
{
    gort_g *g = calloc(1, sizeof *g);
    if (g) {
        g->goid = id;
        atomic_store(&g->status, GORT_GRUNNABLE);
    }
    return g;
}

void gort__test_g_free(gort_g *g)
{
    free(g);
}

uint64_t gort__test_g_id(const gort_g *g)
{
    return g->goid;
}

void gort__test_runqput(gort__test_p *p, gort_g *g, bool next)
{
    gort__runqput(p, g, next);
}

gort_g *gort__test_runqget(gort__test_p *p, bool *inherit)
{
    return gort__runqget(p, inherit);
}

gort_g *gort__test_runqsteal(gort__test_p *p, gort__test_p *p2,
                             bool stealnext)
{
    /* A detached victim counts as not running, so runnext may go. */
    uint32_t s = atomic_exchange(&p2->status, PIDLE);
    gort_g *g = gort__runqsteal(p, p2, stealnext);
    atomic_store(&p2->status, s);
    return g;
}

uint32_t gort__test_runq_len(gort__test_p *p)
{
    return atomic_load(&p->runqtail) - atomic_load(&p->runqhead);
}

gort_g *gort__test_runnext(gort__test_p *p)
{
    return atomic_load(&p->runnext);
}

int32_t gort__test_globrunq_len(void)
{
    return atomic_load(&gort__s.runqsize);
}

gort_g *gort__test_globrunq_pop(void)
{
    gort__lock(&gort__s.lock);
    gort_g *g = gort__globrunqpop();
    gort__unlock(&gort__s.lock);
    return g;
}

gort_g *gort__test_globrunqget(gort__test_p *p, int32_t max)
{
    gort__lock(&gort__s.lock);
    gort_g *g = gort__globrunqget(p, max);
    gort__unlock(&gort__s.lock);
    return g;
}

/* ------------------------------------------------------------------ */

gort__test_timers *gort__test_timers_new(void)
{
    gort__timers *ts = calloc(1, sizeof *ts);
    if (ts)
        gort__timers_init(ts);
    return ts;
}

void gort__test_timers_free(gort__test_timers *ts)
{
    gort__timers_fini(ts);
    free(ts);
}

void gort__test_timers_use(gort__test_timers *ts)
{
    gort__timers_override(ts);
}

int64_t gort__test_timers_run(gort__test_timers *ts, int64_t now)
{
    return gort__timers_check(ts, now);
}

int32_t gort__test_timers_len(gort__test_timers *ts)
{
    gort__lock(&ts->lock);
    int32_t n = ts->len;
    gort__unlock(&ts->lock);
    return n;
}

int32_t gort__test_timers_live(gort__test_timers *ts)
{
    gort__lock(&ts->lock);
    int32_t n = 0;
    for (int32_t i = 0; i < ts->len; i++)
        n += ts->heap[i]->active != 0;
    gort__unlock(&ts->lock);
    return n;
}

bool gort__test_timers_check(gort__test_timers *ts)
{
    bool ok = true;
    gort__lock(&ts->lock);
    for (int32_t i = 0; i < ts->len && ok; i++) {
        gort_timer *t = ts->heap[i];
        ok = t->heap == ts && t->heap_idx == i &&
             (i == 0 || ts->heap[(i - 1) / 4]->heap_when <= t->heap_when);
    }
    if (ok)
        ok = atomic_load(&ts->when0) ==
             (ts->len ? ts->heap[0]->heap_when : 0);
    gort__unlock(&ts->lock);
    return ok;
}

/* ------------------------------------------------------------------ */

int gort__test_settle(void)
{
    if (!atomic_load(&gort__s.running) || !gort__s.virtual_clock)
        return -EINVAL;
    gort__settle();
    return 0;
}
