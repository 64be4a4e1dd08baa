/*
 * testing.h: hooks that let tests drive libsched's internals directly.
 *
 * Not part of the public surface: the Python binding's test-only module
 * and the C tests declare what they use from here. Each hook works on
 * structures it creates itself (a detached P, a detached timer heap),
 * so a test can model them step by step without threads, or on the
 * running runtime where it says so.
 */
#ifndef GORT_TESTING_H
#define GORT_TESTING_H

#include <stdbool.h>
#include <stdint.h>

#include "gort_sched.h"

/* ---- Run queues: detached Ps and stand-in Gs (no stacks). ---- */

typedef struct gort__p gort__test_p;

/* Resets the global run queue and sets the P count used for fair
 * shares; must not be called while the runtime runs. */
int gort__test_runq_reset(int nprocs);
gort__test_p *gort__test_p_new(void);
void gort__test_p_free(gort__test_p *p);
gort_g *gort__test_g_new(uint64_t id);
void gort__test_g_free(gort_g *g);
uint64_t gort__test_g_id(const gort_g *g);

/* runqput (next: into runnext). */
void gort__test_runqput(gort__test_p *p, gort_g *g, bool next);
/* runqget; *inherit set when it came from runnext. NULL if empty. */
gort_g *gort__test_runqget(gort__test_p *p, bool *inherit);
/* Steals half of p2's ring (or its runnext if stealnext and the ring
 * is empty) into p; returns the G to run, or NULL. */
gort_g *gort__test_runqsteal(gort__test_p *p, gort__test_p *p2,
                             bool stealnext);
/* Length of p's ring (runnext not counted), and runnext or NULL. */
uint32_t gort__test_runq_len(gort__test_p *p);
gort_g *gort__test_runnext(gort__test_p *p);
/* The global queue: its length, and popping its head. */
int32_t gort__test_globrunq_len(void);
gort_g *gort__test_globrunq_pop(void);
/* globrunqget into p: the first G to run (the rest go to p's ring). */
gort_g *gort__test_globrunqget(gort__test_p *p, int32_t max);

/* ---- Timer heaps: a detached heap, run by hand. ---- */

typedef struct gort__timers gort__test_timers;

gort__test_timers *gort__test_timers_new(void);
void gort__test_timers_free(gort__test_timers *ts);
/* While set, gort_timer_set on this thread places new timers in ts and
 * needs no runtime. NULL restores the normal placement. */
void gort__test_timers_use(gort__test_timers *ts);
/* Runs every timer due at now; returns the next when (0: none). */
int64_t gort__test_timers_run(gort__test_timers *ts, int64_t now);
/* Entries in the heap, deleted ones included; and live ones. */
int32_t gort__test_timers_len(gort__test_timers *ts);
int32_t gort__test_timers_live(gort__test_timers *ts);
/* Checks the heap property and every back index; false if broken. */
bool gort__test_timers_check(gort__test_timers *ts);

/* ---- The running runtime, with the virtual clock. ---- */

/* Parks the calling (foreign) thread until every G is blocked, without
 * moving the virtual clock. -EINVAL unless the clock is virtual. */
int gort__test_settle(void);

#endif
