/*
 * proc.c: the G/M/P scheduler.
 *
 * Design
 * ------
 * A G is a goroutine: a function, its own stack, and a status. An M is
 * an OS thread; it runs Gs by switching from its scheduler context
 * (g0: the thread's own stack) to the G's stack and back. A P is the
 * right to run Gs: an M must hold a P to run one, so at most nprocs Gs
 * run at once. Each P has a lock-free ring run queue of 256 Gs plus a
 * one-slot runnext; there is a global run queue under sched.lock.
 *
 * Statuses and their legal transitions (casgstatus checks each):
 *
 *   idle/dead --new--> runnable --execute--> running
 *   running --park--> waiting --ready--> runnable
 *   running --yield--> runnable
 *   running --entersyscall--> syscall --exitsyscall--> running
 *   syscall --P lost--> runnable
 *   running --return--> dead
 *   foreign Gs (host threads) sit in syscall while in host code:
 *   syscall --park--> waiting --ready--> runnable --wake--> syscall
 *
 * A G gives up its M only at a switch to g0 (park, yield, exit, or an
 * exitsyscall that found no P). g0 then carries out what the G asked
 * for (after_switch), so that a parked G's commit callback runs after
 * the G has left its M, as Go's park_m does: whoever readies the G
 * from then on finds it waiting and may run it on another M at once.
 *
 * Finding work (findrunnable), in order: due timers; every 61st time
 * slice the global queue first; the local runnext and ring; the global
 * queue; a non-blocking poll; stealing half of a random victim's ring
 * (runnext last). With nothing found the M drops its P and, unless
 * another M already does, blocks in the poller until the next timer;
 * otherwise it sleeps on its note until startm hands it a P.
 *
 * No lost wake-ups: a G made runnable calls wakep(), which starts a
 * spinning M when there is an idle P and nobody spins. A spinning M
 * that finds work calls wakep() again before running it, and a
 * spinning M that gives up rechecks every run queue after it stops
 * counting as spinning. Either the producer sees nmspinning == 0 and
 * wakes someone, or the spinner sees the G.
 *
 * Time slices: a G readied into runnext inherits the rest of the
 * current slice (schedtick does not advance). The monitor marks a P
 * whose slice has lasted 10 ms; its next schedule takes no inherited
 * runnext, so a ping-pong pair cannot starve the rest of the queue.
 *
 * Foreign threads (a host's threads, such as Python's) get an M and a
 * G of their own on first use. Their G is wired to the thread and runs
 * without a P: parking sleeps the thread on a futex word in the G, and
 * gort_ready wakes it directly. Nothing they call needs a P: readying
 * and spawning fall back to the global queue, timers go on some P's
 * heap and wake the poller. A host whose signal handlers must run on a
 * given thread marks it interruptible: a signal then ends its
 * cancelable parks (gort_park_cancelable) once the wait site has taken
 * the G back from whoever would ready it.
 *
 * Rejected: one global queue only (contention on every switch);
 * ucontext (a signal-mask syscall per switch); letting foreign threads
 * take a P like Go's extra Ms (two extra thread hand-offs per blocking
 * call, and gort code needs no P to run).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

#ifdef GORT_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GORT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

gort__sched gort__s;
const gort_poller *gort__poller;
static const gort_poller *user_poller;

static __thread gort__m *tls_m __attribute__((tls_model("initial-exec")));
static __thread uint64_t tls_gen __attribute__((tls_model("initial-exec")));

static pthread_key_t foreign_key;
static pthread_once_t foreign_once = PTHREAD_ONCE_INIT;

/* Serialises gort_main/gort_start/gort_stop. */
static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;

#define SLICE_NS (10 * 1000 * 1000)

static void wakep(void);
static void tsan_m_init(gort__m *m);
static gort__m *getm_or_foreign(void);
static void startm(gort__p *p, bool spinning);
static void stopm(gort__m *m);
static void handoffp(gort__p *p);
static void injectglist(gort_glist *l);
static void initiate_stop(void);

/* ------------------------------------------------------------------ */
/* The current M. Read through a call the compiler cannot fold: a G may
 * resume on another thread, and a cached TLS address would then be the
 * old thread's. */

__attribute__((noinline)) gort__m *gort__getm(void)
{
    __asm__ volatile("" ::: "memory");
    if (tls_gen != gort__s.gen)
        return NULL;
    return tls_m;
}

static void setm(gort__m *m)
{
    tls_m = m;
    tls_gen = gort__s.gen;
}

/* For "waiting since" in dumps: the monitor stamps the time each time
 * it wakes (at least every 10 ms), so a park reads a word instead of a
 * clock. */
static int64_t coarse_now(void)
{
    return atomic_load_explicit(&gort__s.coarse_now, memory_order_relaxed);
}

static uint32_t fastrand(gort__m *m)
{
    uint32_t x = m->fastrand;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    m->fastrand = x;
    return x;
}

/* ------------------------------------------------------------------ */
/* G status. */

static const char *const status_names[GORT_GNSTATUS] = {
    "idle", "runnable", "running", "syscall", "waiting", "dead"};

static const bool legal[GORT_GNSTATUS][GORT_GNSTATUS] = {
    [GORT_GIDLE] = {[GORT_GRUNNABLE] = true},
    [GORT_GDEAD] = {[GORT_GRUNNABLE] = true},
    [GORT_GRUNNABLE] = {[GORT_GRUNNING] = true, [GORT_GSYSCALL] = true},
    [GORT_GRUNNING] = {[GORT_GWAITING] = true, [GORT_GRUNNABLE] = true,
                       [GORT_GSYSCALL] = true, [GORT_GDEAD] = true},
    [GORT_GSYSCALL] = {[GORT_GRUNNING] = true, [GORT_GRUNNABLE] = true,
                       [GORT_GWAITING] = true},
    [GORT_GWAITING] = {[GORT_GRUNNABLE] = true, [GORT_GSYSCALL] = true},
};

static _Noreturn void bad_status(gort_g *g, uint32_t old, uint32_t from,
                                 uint32_t to)
{
    char buf[160];
    snprintf(buf, sizeof buf,
             "goroutine %llu is %s, expected %s (moving to %s)",
             (unsigned long long)g->goid,
             old < GORT_GNSTATUS ? status_names[old] : "corrupt",
             status_names[from], status_names[to]);
    gort__throw("casgstatus", buf, __FILE__, __LINE__);
}

/* For transitions that another thread may race (readying a waiting G):
 * a CAS, so that a double ready is caught. */
void gort__casgstatus(gort_g *g, uint32_t from, uint32_t to)
{
    uint32_t old = from;

    if (from >= GORT_GNSTATUS || to >= GORT_GNSTATUS || !legal[from][to])
        THROW("illegal goroutine status transition");
    if (unlikely(!atomic_compare_exchange_strong(&g->status, &old, to)))
        bad_status(g, old, from, to);
}

/* For transitions only the G's owner makes (the M running it, or the
 * M that just took it off a queue): a checked load and a release
 * store. No one else writes the status meanwhile, so the check is as
 * strong as a CAS and costs no locked instruction. */
static inline void setgstatus(gort_g *g, uint32_t from, uint32_t to)
{
    if (from >= GORT_GNSTATUS || to >= GORT_GNSTATUS || !legal[from][to])
        THROW("illegal goroutine status transition");
    uint32_t old = atomic_load_explicit(&g->status, memory_order_acquire);
    if (unlikely(old != from))
        bad_status(g, old, from, to);
    atomic_store_explicit(&g->status, to, memory_order_release);
}

/* ------------------------------------------------------------------ */
/* Lists. */

void gort_glist_push(gort_glist *l, gort_g *g)
{
    if (l == NULL || g == NULL)
        return;
    g->schedlink = NULL;
    if (l->tail)
        l->tail->schedlink = g;
    else
        l->head = g;
    l->tail = g;
    l->n++;
}

static gort_g *glist_pop(gort_glist *l)
{
    gort_g *g = l->head;
    if (g) {
        l->head = g->schedlink;
        if (!l->head)
            l->tail = NULL;
        g->schedlink = NULL;
        l->n--;
    }
    return g;
}

/* ------------------------------------------------------------------ */
/* The global run queue. Under sched.lock. */

static void globrunqput(gort_g *g)
{
    g->schedlink = NULL;
    if (gort__s.runqtail)
        gort__s.runqtail->schedlink = g;
    else
        gort__s.runqhead = g;
    gort__s.runqtail = g;
    atomic_fetch_add(&gort__s.runqsize, 1);
}

static void globrunqputbatch(gort_g *head, gort_g *tail, int32_t n)
{
    tail->schedlink = NULL;
    if (gort__s.runqtail)
        gort__s.runqtail->schedlink = head;
    else
        gort__s.runqhead = head;
    gort__s.runqtail = tail;
    atomic_fetch_add(&gort__s.runqsize, n);
}

static gort_g *globrunqpop(void)
{
    gort_g *g = gort__s.runqhead;
    if (g) {
        gort__s.runqhead = g->schedlink;
        if (!gort__s.runqhead)
            gort__s.runqtail = NULL;
        g->schedlink = NULL;
        atomic_fetch_sub(&gort__s.runqsize, 1);
    }
    return g;
}

static bool runqput(gort__p *p, gort_g *g, bool next);

/* Takes a fair share of the global queue: the first G to run, the rest
 * into p's ring. max 0 means no limit beyond the fair share. */
static gort_g *globrunqget(gort__p *p, int32_t max)
{
    int32_t size = atomic_load(&gort__s.runqsize);
    if (size == 0)
        return NULL;

    int32_t n = size / gort__s.nprocs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    if (n > RUNQ_SIZE / 2)
        n = RUNQ_SIZE / 2;
    /* All but the first go into p's ring: never more than it has room
     * for, since an overflow would take sched.lock, held here. */
    int32_t room = RUNQ_SIZE - (int32_t)(atomic_load(&p->runqtail) -
                                         atomic_load(&p->runqhead));
    if (n > room + 1)
        n = room + 1;

    gort_g *g = globrunqpop();
    while (--n > 0)
        runqput(p, globrunqpop(), false);
    return g;
}

/* ------------------------------------------------------------------ */
/* The per-P run queue. The owner puts at the tail; the owner and
 * thieves take from the head with a CAS. */

static bool runqempty(gort__p *p)
{
    for (;;) {
        uint32_t head = atomic_load(&p->runqhead);
        uint32_t tail = atomic_load(&p->runqtail);
        gort_g *next = atomic_load(&p->runnext);
        if (tail == atomic_load(&p->runqtail))
            return head == tail && next == NULL;
    }
}

/* The ring is full: move half of it, plus g, to the global queue. */
static bool runqputslow(gort__p *p, gort_g *g, uint32_t head, uint32_t tail)
{
    gort_g *batch[RUNQ_SIZE / 2 + 1];
    uint32_t n = (tail - head) / 2;

    INVARIANT(n == RUNQ_SIZE / 2, "queue is not full");
    for (uint32_t i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&p->runq[(head + i) % RUNQ_SIZE],
                                        memory_order_relaxed);
    if (!atomic_compare_exchange_strong(&p->runqhead, &head, head + n))
        return false;
    batch[n] = g;

    for (uint32_t i = 0; i < n; i++)
        batch[i]->schedlink = batch[i + 1];
    gort__lock(&gort__s.lock);
    globrunqputbatch(batch[0], batch[n], (int32_t)n + 1);
    gort__unlock(&gort__s.lock);
    return true;
}

/* Puts g on p's queue; with next, in runnext (kicking the old runnext
 * to the tail). Only p's owner calls this. */
static bool runqput(gort__p *p, gort_g *g, bool next)
{
    if (next) {
        gort_g *old = atomic_exchange(&p->runnext, g);
        if (old == NULL)
            return true;
        g = old;
    }

    for (;;) {
        uint32_t head = atomic_load_explicit(&p->runqhead,
                                             memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&p->runqtail,
                                             memory_order_relaxed);
        if (tail - head < RUNQ_SIZE) {
            atomic_store_explicit(&p->runq[tail % RUNQ_SIZE], g,
                                  memory_order_relaxed);
            atomic_store_explicit(&p->runqtail, tail + 1,
                                  memory_order_release);
            return true;
        }
        if (runqputslow(p, g, head, tail))
            return true;
    }
}

/* Takes a G from p's queue. *inherit says whether it continues the
 * current time slice (it came from runnext). Owner only. */
static gort_g *runqget(gort__p *p, bool *inherit)
{
    gort_g *next = atomic_load(&p->runnext);

    if (next && atomic_compare_exchange_strong(&p->runnext, &next, NULL)) {
        *inherit = true;
        return next;
    }

    for (;;) {
        uint32_t head = atomic_load_explicit(&p->runqhead,
                                             memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&p->runqtail,
                                             memory_order_relaxed);
        if (tail == head)
            return NULL;
        gort_g *g = atomic_load_explicit(&p->runq[head % RUNQ_SIZE],
                                         memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(
                &p->runqhead, &head, head + 1, memory_order_release,
                memory_order_relaxed)) {
            *inherit = false;
            return g;
        }
    }
}

/* Copies half of p's ring (or its runnext) into batch. */
static uint32_t runqgrab(gort__p *p, gort_g **batch, bool stealnext)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&p->runqhead,
                                             memory_order_acquire);
        uint32_t tail = atomic_load_explicit(&p->runqtail,
                                             memory_order_acquire);
        uint32_t n = tail - head;
        n = n - n / 2;
        if (n == 0) {
            if (!stealnext)
                return 0;
            gort_g *next = atomic_load(&p->runnext);
            if (next == NULL)
                return 0;
            /* A running owner is probably about to switch to its
             * runnext: give it 3 us first. But a G that keeps its P
             * without switching must not strand the G it readied. */
            if (atomic_load(&p->status) == PRUNNING) {
                int64_t until = gort_nanotime_real() + 3000;
                while (atomic_load(&p->runnext) == next &&
                       gort_nanotime_real() < until)
                    cpu_relax();
                next = atomic_load(&p->runnext);
            }
            if (next &&
                atomic_compare_exchange_strong(&p->runnext, &next, NULL)) {
                batch[0] = next;
                return 1;
            }
            return 0;
        }
        if (n > RUNQ_SIZE / 2)
            continue; /* read an inconsistent head/tail pair */
        for (uint32_t i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(
                &p->runq[(head + i) % RUNQ_SIZE], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(
                &p->runqhead, &head, head + n, memory_order_release,
                memory_order_relaxed))
            return n;
    }
}

/* Steals half of p2's Gs into p; returns one to run. */
static gort_g *runqsteal(gort__p *p, gort__p *p2, bool stealnext)
{
    gort_g *batch[RUNQ_SIZE / 2];
    uint32_t n = runqgrab(p2, batch, stealnext);
    if (n == 0)
        return NULL;

    atomic_fetch_add(&gort__s.steals, 1);
    for (uint32_t i = 1; i < n; i++)
        runqput(p, batch[i], false);
    return batch[0];
}

/* For testing.c: the same code, under names it can reach. */
void gort__runqput(gort__p *p, gort_g *g, bool next)
{
    runqput(p, g, next);
}

gort_g *gort__runqget(gort__p *p, bool *inherit)
{
    return runqget(p, inherit);
}

gort_g *gort__runqsteal(gort__p *p, gort__p *p2, bool stealnext)
{
    return runqsteal(p, p2, stealnext);
}

gort_g *gort__globrunqpop(void)
{
    return globrunqpop();
}

gort_g *gort__globrunqget(gort__p *p, int32_t max)
{
    return globrunqget(p, max);
}

/* ------------------------------------------------------------------ */
/* Idle Ps and Ms. Under sched.lock. */

static void pidleput(gort__p *p)
{
    INVARIANT(runqempty(p), "P with a non-empty run queue going idle");
    p->link = gort__s.pidle;
    gort__s.pidle = p;
    atomic_fetch_add(&gort__s.npidle, 1);
}

static gort__p *pidleget(void)
{
    gort__p *p = gort__s.pidle;
    if (p) {
        gort__s.pidle = p->link;
        p->link = NULL;
        atomic_fetch_sub(&gort__s.npidle, 1);
    }
    return p;
}

static void mput(gort__m *m)
{
    m->schedlink = gort__s.midle;
    gort__s.midle = m;
    gort__s.nmidle++;
}

static gort__m *mget(void)
{
    gort__m *m = gort__s.midle;
    if (m) {
        gort__s.midle = m->schedlink;
        m->schedlink = NULL;
        gort__s.nmidle--;
    }
    return m;
}

static void acquirep(gort__m *m, gort__p *p)
{
    INVARIANT(m->p == NULL, "M already has a P");
    INVARIANT(p->m == NULL && atomic_load(&p->status) == PIDLE,
              "P is not idle");
    m->p = p;
    p->m = m;
    atomic_store(&p->status, PRUNNING);
}

static gort__p *releasep(gort__m *m)
{
    gort__p *p = m->p;
    INVARIANT(p && p->m == m && atomic_load(&p->status) == PRUNNING,
              "M does not own its P");
    p->m = NULL;
    m->p = NULL;
    atomic_store(&p->status, PIDLE);
    return p;
}

/* ------------------------------------------------------------------ */
/* Deadlock detection. Under sched.lock, when an M goes idle.
 *
 * Go's rule: no M runs, nothing is queued, nobody waits for I/O and no
 * timer is set. Unlike Go, gort cannot see every thread that may call
 * in: a host thread the program started counts only once it has made
 * its first gort call, and until then the Gs waiting for it look dead.
 * So an idle M only records when it first saw that state, and the
 * monitor aborts if it still holds DEADLOCK_GRACE_NS later. */

#define DEADLOCK_GRACE_NS (250 * 1000 * 1000)

static bool all_asleep(void)
{
    if (!gort__s.has_main || atomic_load(&gort__s.stopping) ||
        atomic_load(&gort__s.main_done))
        return false;

    int32_t run = gort__s.mcount - gort__s.nmidle - gort__s.nmidlelocked;
    if (run > 0 || atomic_load(&gort__s.nforeign) > 0 ||
        atomic_load(&gort__s.runqsize) > 0)
        return false;
    if (gort__poller->waiters && gort__poller->waiters() > 0)
        return false;
    return gort__timers_earliest() == 0;
}

static void checkdead(void)
{
    int64_t none = 0;

    if (all_asleep())
        atomic_compare_exchange_strong(&gort__s.dead_since, &none,
                                       gort_nanotime_real());
}

/* The monitor's half: the state has lasted the grace period (or ended,
 * and the record is dropped). */
static void confirmdead(int64_t now)
{
    int64_t since = atomic_load(&gort__s.dead_since);

    if (since == 0 || now - since < DEADLOCK_GRACE_NS)
        return;
    gort__lock(&gort__s.lock);
    bool dead = all_asleep();
    atomic_store(&gort__s.dead_since, 0);
    gort__unlock(&gort__s.lock);
    if (!dead)
        return;

    static const char msg[] =
        "gort: fatal error: all goroutines are asleep - deadlock!\n";
    (void)!write(2, msg, sizeof msg - 1);
    abort();
}

/* ------------------------------------------------------------------ */
/* Ms. */

static void schedule(gort__m *m);

static gort__m *allocm(void)
{
    gort__m *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->fastrand = (uint32_t)(uintptr_t)m ^ (uint32_t)gort_nanotime_real();
    if (m->fastrand == 0)
        m->fastrand = 0x9e3779b9;
    return m;
}

static void *mstart(void *arg)
{
    gort__m *m = arg;

    setm(m);
    tsan_m_init(m);
    gort__altstack_init(m);
    if (m->nextp) {
        acquirep(m, m->nextp);
        m->nextp = NULL;
    }
    schedule(m);
    gort__altstack_fini(m);
    setm(NULL);
    return NULL;
}

static void newm(gort__p *p, bool spinning)
{
    gort__m *m = allocm();
    INVARIANT(m != NULL, "out of memory for an M");
    m->nextp = p;
    m->spinning = spinning;

    gort__lock(&gort__s.lock);
    m->alllink = gort__s.allm;
    gort__s.allm = m;
    gort__s.mcount++;
    gort__unlock(&gort__s.lock);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&m->thread, &attr, mstart, m);
    pthread_attr_destroy(&attr);
    INVARIANT(rc == 0, "cannot create a thread");
}

/* Sleeps m until startm hands it a P, or the runtime stops. */
static void stopm(gort__m *m)
{
    INVARIANT(m->p == NULL, "stopm with a P");
    INVARIANT(!m->spinning, "stopm while spinning");

    gort__lock(&gort__s.lock);
    if (atomic_load(&gort__s.stopping)) {
        gort__unlock(&gort__s.lock);
        return;
    }
    mput(m);
    checkdead();
    gort__unlock(&gort__s.lock);

    gort__notesleep(&m->park);
    gort__noteclear(&m->park);
    if (m->nextp) {
        acquirep(m, m->nextp);
        m->nextp = NULL;
    }
}

/* Runs some M on p (an idle P if p is NULL). */
static void startm(gort__p *p, bool spinning)
{
    gort__lock(&gort__s.lock);
    if (atomic_load(&gort__s.stopping)) {
        if (p)
            pidleput(p);
        gort__unlock(&gort__s.lock);
        if (spinning)
            atomic_fetch_sub(&gort__s.nmspinning, 1);
        return;
    }
    if (p == NULL) {
        p = pidleget();
        if (p == NULL) {
            gort__unlock(&gort__s.lock);
            if (spinning)
                atomic_fetch_sub(&gort__s.nmspinning, 1);
            return;
        }
    }
    gort__m *nm = mget();
    gort__unlock(&gort__s.lock);

    if (nm == NULL) {
        newm(p, spinning);
        return;
    }
    INVARIANT(nm->nextp == NULL && !nm->spinning, "idle M in use");
    nm->spinning = spinning;
    nm->nextp = p;
    gort__notewakeup(&nm->park);
}

/* Makes sure someone looks for the work just made runnable. */
static void wakep(void)
{
    if (atomic_load(&gort__s.npidle) == 0)
        return;
    int32_t zero = 0;
    if (atomic_load(&gort__s.nmspinning) != 0 ||
        !atomic_compare_exchange_strong(&gort__s.nmspinning, &zero, 1))
        return;
    startm(NULL, true);
}

void gort__wakep(void)
{
    wakep();
}

static void resetspinning(gort__m *m)
{
    m->spinning = false;
    int32_t n = atomic_fetch_sub(&gort__s.nmspinning, 1);
    INVARIANT(n > 0, "negative nmspinning");
    /* We were the last spinner and found work: there may be more. */
    wakep();
}

/* Gives away a P whose M blocks (syscall, locked G). */
static void handoffp(gort__p *p)
{
    if (!runqempty(p) || atomic_load(&gort__s.runqsize) != 0) {
        startm(p, false);
        return;
    }
    int32_t zero = 0;
    if (atomic_load(&gort__s.nmspinning) + atomic_load(&gort__s.npidle) ==
            0 &&
        atomic_compare_exchange_strong(&gort__s.nmspinning, &zero, 1)) {
        startm(p, true);
        return;
    }

    gort__lock(&gort__s.lock);
    if (atomic_load(&gort__s.runqsize) != 0) {
        gort__unlock(&gort__s.lock);
        startm(p, false);
        return;
    }
    /* The last running P, and nobody polls: someone must watch the
     * poller and the timers. */
    if (atomic_load(&gort__s.npidle) == gort__s.nprocs - 1 &&
        atomic_load(&gort__s.lastpoll) != 0) {
        gort__unlock(&gort__s.lock);
        startm(p, false);
        return;
    }
    int64_t when = atomic_load(&p->timers.when0);
    pidleput(p);
    gort__unlock(&gort__s.lock);
    if (when != 0)
        gort__wake_for_timer(when);
}

/* ------------------------------------------------------------------ */
/* Locked Gs: a G wired to its M, as Go's LockOSThread. */

/* Sleeps a locked M until its G is handed to it with a P. */
static void stoplockedm(gort__m *m)
{
    if (m->p)
        handoffp(releasep(m));

    gort__lock(&gort__s.lock);
    gort__s.nmidlelocked++;
    checkdead();
    gort__unlock(&gort__s.lock);

    /* The waker takes us off nmidlelocked, so that no M sees every M
     * idle while we are being woken. */
    gort__notesleep(&m->park);
    gort__noteclear(&m->park);
    if (m->nextp) {
        acquirep(m, m->nextp);
        m->nextp = NULL;
    }
}

/* Hands m's P to the M that g is locked to, and wakes it. */
static void startlockedm(gort__m *m, gort_g *g)
{
    gort__m *lm = g->lockedm;
    gort__p *p = releasep(m);
    gort__lock(&gort__s.lock);
    gort__s.nmidlelocked--;
    gort__unlock(&gort__s.lock);
    lm->nextp = p;
    gort__notewakeup(&lm->park);
}

/* ------------------------------------------------------------------ */
/* Switching. */

/*
 * Sanitizer and valgrind hooks around each switch, so that the tools
 * know which stack is live: AddressSanitizer's fiber-switch calls (it
 * tracks stack bounds and fake stacks), ThreadSanitizer's fibers (each
 * G is a fiber; each M's scheduler context is the thread's own fiber),
 * and valgrind's stack registration (in stack.c). Without a tool they
 * compile to nothing.
 */
#ifdef GORT_ASAN
static void asan_start(void **fake, const void *bottom, size_t size)
{
    __sanitizer_start_switch_fiber(fake, bottom, size);
}
static void asan_finish(void *fake, const void **bottom, size_t *size)
{
    __sanitizer_finish_switch_fiber(fake, bottom, size);
}
#else
static void asan_start(void **fake, const void *bottom, size_t size)
{
    (void)fake, (void)bottom, (void)size;
}
static void asan_finish(void *fake, const void **bottom, size_t *size)
{
    (void)fake, (void)bottom, (void)size;
}
#endif

#ifdef GORT_TSAN
static void tsan_to(void *fiber)
{
    __tsan_switch_to_fiber(fiber, 0);
}
static void tsan_m_init(gort__m *m)
{
    m->tsan_fiber = __tsan_get_current_fiber();
}
#else
static void tsan_to(void *fiber)
{
    (void)fiber;
}
static void tsan_m_init(gort__m *m)
{
    (void)m;
}
#endif

static int stack_bind(gort__p *p, gort_g *g);

/* From g0 into g. Returns when g switches back. */
static void execute(gort__m *m, gort_g *g, bool inherit)
{
    if (g->sp == NULL && stack_bind(m->p, g) != 0)
        THROW("out of memory for a goroutine stack");
    setgstatus(g, GORT_GRUNNABLE, GORT_GRUNNING);
    g->m = m;
    m->curg = g;
    if (m->p) {
        /* Only this M writes them: a relaxed load and store, no locked
         * instruction. */
        gort__p *p = m->p;
        if (!inherit)
            atomic_store_explicit(
                &p->schedtick,
                atomic_load_explicit(&p->schedtick, memory_order_relaxed) + 1,
                memory_order_relaxed);
        atomic_store_explicit(
            &p->switchtick,
            atomic_load_explicit(&p->switchtick, memory_order_relaxed) + 1,
            memory_order_relaxed);
    }
    m->action = ACT_NONE;

    asan_start(&m->asan_fake, g->stack_lo,
               (size_t)(g->stack_hi - g->stack_lo));
    tsan_to(g->tsan_fiber);
    gort__switch(&m->g0sp, g->sp);
    asan_finish(m->asan_fake, NULL, NULL);
}

static void switched_in(gort_g *g, void *fake);

/* From the running G to its M's g0; returns when the G runs again,
 * possibly on another M. */
static void switch_to_g0(gort__m *m, gort_g *g, bool exiting)
{
    asan_start(exiting ? NULL : &g->asan_fake, m->g0_bottom, m->g0_size);
    tsan_to(m->tsan_fiber);
    gort__switch(&g->sp, m->g0sp);
    switched_in(g, g->asan_fake);
}

/*
 * Direct switches. A G that parks while its P's runnext holds a G
 * ready to go switches straight to that G, not through the M's g0 and
 * schedule(): one switch instead of two, which is most of a park/ready
 * round trip's cost. The park's commit must still run only once the
 * parking G is off its stack and before the M runs anything else, so
 * the G switched to runs it, first thing (switched_in), with no G
 * current as on g0; only the stack it runs on differs. If the commit says no, the parked G must resume at
 * once: the successor switches straight back and is requeued in
 * runnext, again only once it is off its stack.
 *
 * Taken only when schedule() would pick runnext anyway: the P's slice
 * is not over, no fairness turn for the global queue is due, no timer
 * of the P is due, and neither G is wired to a thread.
 */
static void switch_direct(gort__m *m, gort_g *from, gort_g *to)
{
    gort__p *p = m->p;

    setgstatus(to, GORT_GRUNNABLE, GORT_GRUNNING);
    to->m = m;
    m->curg = to;
    m->prevg = from;
    atomic_store_explicit(
        &p->switchtick,
        atomic_load_explicit(&p->switchtick, memory_order_relaxed) + 1,
        memory_order_relaxed);
    asan_start(&from->asan_fake, to->stack_lo,
               (size_t)(to->stack_hi - to->stack_lo));
    tsan_to(to->tsan_fiber);
    gort__switch(&from->sp, to->sp);
    switched_in(from, from->asan_fake);
}

/* The G that may follow a park straight away, taken from runnext; or
 * NULL for the way through schedule(). */
static gort_g *direct_successor(gort__m *m)
{
    gort__p *p = m->p;

    if (p == NULL || m->lockedg ||
        atomic_load_explicit(&p->preempt, memory_order_relaxed) ||
        atomic_load_explicit(&gort__s.stopping, memory_order_relaxed))
        return NULL;
    uint32_t tick = atomic_load_explicit(&p->schedtick, memory_order_relaxed);
    if (tick % 61 == 0 && atomic_load(&gort__s.runqsize) > 0)
        return NULL;
    int64_t w = atomic_load_explicit(&p->timers.when0, memory_order_relaxed);
    if (w != 0 && w <= gort__nanotime())
        return NULL;

    /* Its fields may be read only once it is ours: until then a thief
     * may take it and start it elsewhere. */
    gort_g *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
    if (next == NULL ||
        !atomic_compare_exchange_strong(&p->runnext, &next, NULL))
        return NULL;
    if (next->lockedm || next->sp == NULL) {
        /* Only the owner fills runnext, and it is still empty. */
        atomic_store(&p->runnext, next);
        return NULL;
    }
    return next;
}

/* Finishes, on the stack of g (now running on m), what the G that
 * switched straight to g left undone. */
static void finish_direct(gort__m *m, gort_g *g, gort_g *prev)
{
    enum gort__action act = m->action;

    m->action = ACT_NONE;
    if (act == ACT_REQUEUE) {
        runqput(m->p, prev, true);
        return;
    }
    INVARIANT(act == ACT_PARK, "direct switch without a park");
    setgstatus(prev, GORT_GRUNNING, GORT_GWAITING);
    prev->m = NULL;
    gort_commit_fn commit = m->commit;
    m->commit = NULL;
    if (commit == NULL)
        return;
    /* As on g0: no current G while the commit runs. */
    m->curg = NULL;
    bool ok = commit(prev, m->commitarg);
    m->curg = g;
    if (ok)
        return;

    /* prev must run again at once; g goes back to runnext. */
    setgstatus(prev, GORT_GWAITING, GORT_GRUNNABLE);
    setgstatus(g, GORT_GRUNNING, GORT_GRUNNABLE);
    m->action = ACT_REQUEUE;
    prev->m = m;
    m->curg = prev;
    m->prevg = g;
    setgstatus(prev, GORT_GRUNNABLE, GORT_GRUNNING);
    asan_start(&g->asan_fake, prev->stack_lo,
               (size_t)(prev->stack_hi - prev->stack_lo));
    tsan_to(prev->tsan_fiber);
    gort__switch(&g->sp, prev->sp);
    switched_in(g, g->asan_fake);
}

/* Every G runs this when it is switched in, from g0 or from another G
 * (fake: its sanitizer state; NULL on its first run). */
static void switched_in(gort_g *g, void *fake)
{
    gort__m *m = gort__getm();
    gort_g *prev = m->prevg;

    if (prev == NULL) {
        /* From g0: note its bounds for the switch back. */
        asan_finish(fake, &m->g0_bottom, &m->g0_size);
        return;
    }
    asan_finish(fake, NULL, NULL);
    m->prevg = NULL;
    finish_direct(m, g, prev);
}

static void dropg(gort__m *m)
{
    m->curg->m = NULL;
    m->curg = NULL;
}

/* Dead Gs wait on two kinds of free list, each per P with overflow to
 * a global one: those that still hold a stack (gfree) and those whose
 * stack went to a G that needed one (gbare). */
typedef struct gflist {
    gort_g **head;
    int32_t *n;
    gort_g **ghead;
    _Atomic int32_t *gn;
} gflist;

static gflist gf_stacked(gort__p *p)
{
    return (gflist){p ? &p->gfree : NULL, p ? &p->gfreecnt : NULL,
                    &gort__s.gfree, &gort__s.ngfree};
}

static gflist gf_bare(gort__p *p)
{
    return (gflist){p ? &p->gbare : NULL, p ? &p->gbarecnt : NULL,
                    &gort__s.gbare, &gort__s.ngbare};
}

/* Onto the P's list (half of it to the global one when long), or the
 * global one without a P. */
static void gf_put(gflist l, gort_g *g)
{
    if (l.head == NULL) {
        gort__lock(&gort__s.gflock);
        g->schedlink = *l.ghead;
        *l.ghead = g;
        atomic_fetch_add_explicit(l.gn, 1, memory_order_relaxed);
        gort__unlock(&gort__s.gflock);
        return;
    }
    g->schedlink = *l.head;
    *l.head = g;
    if (++*l.n < 64)
        return;

    gort__lock(&gort__s.gflock);
    while (*l.n > 32) {
        gort_g *x = *l.head;
        *l.head = x->schedlink;
        --*l.n;
        x->schedlink = *l.ghead;
        *l.ghead = x;
        atomic_fetch_add_explicit(l.gn, 1, memory_order_relaxed);
    }
    gort__unlock(&gort__s.gflock);
}

static gort_g *gf_get(gflist l)
{
    gort_g *g;

    if (l.head == NULL) {
        if (atomic_load_explicit(l.gn, memory_order_relaxed) == 0)
            return NULL;
        gort__lock(&gort__s.gflock);
        g = *l.ghead;
        if (g) {
            *l.ghead = g->schedlink;
            atomic_fetch_sub_explicit(l.gn, 1, memory_order_relaxed);
        }
        gort__unlock(&gort__s.gflock);
        return g;
    }
    if (*l.head == NULL && atomic_load_explicit(l.gn, memory_order_relaxed)) {
        gort__lock(&gort__s.gflock);
        while (*l.n < 32 && *l.ghead) {
            gort_g *x = *l.ghead;
            *l.ghead = x->schedlink;
            atomic_fetch_sub_explicit(l.gn, 1, memory_order_relaxed);
            x->schedlink = *l.head;
            *l.head = x;
            ++*l.n;
        }
        gort__unlock(&gort__s.gflock);
    }
    g = *l.head;
    if (g) {
        *l.head = g->schedlink;
        --*l.n;
    }
    return g;
}

/* A dead G goes back to a free list; it always holds its stack. */
static void gfput(gort__p *p, gort_g *g)
{
    gf_put(gf_stacked(p), g);
}

/* Moves a stack, with what the sanitizers and valgrind know of it,
 * from one G to another. */
static void stack_move(gort_g *to, gort_g *from)
{
    to->stack_lo = from->stack_lo;
    to->stack_hi = from->stack_hi;
    to->stack_map = from->stack_map;
    to->map_size = from->map_size;
    to->tsan_fiber = from->tsan_fiber;
    to->vg_stack = from->vg_stack;
    from->stack_lo = from->stack_hi = from->stack_map = NULL;
    from->map_size = 0;
    from->tsan_fiber = NULL;
    from->vg_stack = 0;
}

static void gentry(void *arg);

/* Gives g, which has never run, a stack: a dead G's, or a new one.
 * Binding at the first run rather than at the spawn means a burst of
 * spawns whose Gs run to completion one after another needs one stack,
 * not one per spawn. */
static int stack_bind(gort__p *p, gort_g *g)
{
    gort_g *donor = gf_get(gf_stacked(p));
    if (donor) {
        stack_move(g, donor);
        gf_put(gf_bare(p), donor);
    } else {
        int rc = gort__stack_alloc(g, gort__s.stack_size);
        if (rc != 0)
            return rc;
    }
    g->sp = gort__ctx_make(g->stack_hi, gentry, g);
    return 0;
}

/* exitsyscall found no P for g: queue it and let this M sleep. */
static gort_g *exitsyscall0(gort__m *m, gort_g *g)
{
    gort__casgstatus(g, GORT_GSYSCALL, GORT_GRUNNABLE);
    atomic_fetch_sub(&gort__s.nsyscall, 1);
    dropg(m);

    gort__lock(&gort__s.lock);
    gort__p *p = pidleget();
    if (p == NULL && g->lockedm == NULL)
        globrunqput(g);
    gort__unlock(&gort__s.lock);

    if (p) {
        acquirep(m, p);
        return g;
    }
    if (g->lockedm)
        return NULL; /* the loop's stoplockedm waits for a P */
    stopm(m);
    return NULL;
}

/* Carries out, on g0, what the G that just switched out asked for.
 * Returns a G to run at once (inheriting the slice), or NULL. */
static gort_g *after_switch(gort__m *m, bool *inherit)
{
    gort_g *g = m->curg;
    enum gort__action act = m->action;

    m->action = ACT_NONE;
    *inherit = false;
    switch (act) {
    case ACT_PARK: {
        setgstatus(g, GORT_GRUNNING, GORT_GWAITING);
        dropg(m);
        gort_commit_fn commit = m->commit;
        m->commit = NULL;
        if (commit && !commit(g, m->commitarg)) {
            setgstatus(g, GORT_GWAITING, GORT_GRUNNABLE);
            *inherit = true;
            return g;
        }
        return NULL;
    }
    case ACT_YIELD:
        setgstatus(g, GORT_GRUNNING, GORT_GRUNNABLE);
        dropg(m);
        gort__lock(&gort__s.lock);
        globrunqput(g);
        gort__unlock(&gort__s.lock);
        return NULL;
    case ACT_EXIT: {
        setgstatus(g, GORT_GRUNNING, GORT_GDEAD);
        dropg(m);
        if (g->lockedm) {
            g->lockedm = NULL;
            g->lockcount = 0;
            m->lockedg = NULL;
        }
        bool was_main = g == gort__s.maing;
        gort__stack_recycle(g);
        gfput(m->p, g);
        if (was_main) {
            atomic_store(&gort__s.main_done, true);
            initiate_stop();
        }
        return NULL;
    }
    case ACT_YIELD_LOCAL:
        setgstatus(g, GORT_GRUNNING, GORT_GRUNNABLE);
        dropg(m);
        runqput(m->p, g, false);
        return NULL;
    case ACT_SYSCALL:
        return exitsyscall0(m, g);
    default:
        THROW("goroutine switched out without a reason");
    }
}

/* ------------------------------------------------------------------ */
/* Finding work. */

/* Runs p's due timers; *now is read on first need (a switch with no
 * timers costs no clock read). True if some were due. */
static bool run_timers(gort__p *p, int64_t *now)
{
    int64_t w = atomic_load(&p->timers.when0);
    if (w == 0)
        return false;
    if (*now == 0)
        *now = gort__nanotime();
    if (w > *now)
        return false;
    gort__timers_check(&p->timers, *now);
    return true;
}

/* Every schedule runs its own P's due timers. */
static void check_timers(gort__m *m)
{
    int64_t now = 0;
    run_timers(m->p, &now);
}

/* An M out of local work also runs the other Ps' due timers: those of
 * idle Ps, and of Ps whose G runs long. Kept off the path of every
 * switch, which would otherwise touch every P's cache line. True if
 * some were due. */
static bool check_other_timers(gort__m *m)
{
    int32_t n = gort__s.nprocs, id = m->p->id;
    int64_t now = 0;
    bool ran = false;

    for (int32_t i = 1; i < n; i++) {
        int32_t j = id + i < n ? id + i : id + i - n;
        ran |= run_timers(gort__s.allp[j], &now);
    }
    return ran;
}

/* Of a batch the poller readied: the first G this M can run itself,
 * made runnable; the rest (and host threads' Gs, which wake on their
 * own threads) go where injectglist puts them. */
static gort_g *run_first(gort_glist *l)
{
    gort_g *g = NULL;
    gort_glist rest = {0};

    while (l->head) {
        gort_g *x = glist_pop(l);
        if (g == NULL && !x->foreign) {
            gort__casgstatus(x, GORT_GWAITING, GORT_GRUNNABLE);
            g = x;
        } else {
            gort_glist_push(&rest, x);
        }
    }
    injectglist(&rest);
    return g;
}

static gort_g *poll_nonblocking(void)
{
    if (!gort__poller->waiters || gort__poller->waiters() == 0)
        return NULL;
    int64_t last = atomic_load(&gort__s.lastpoll);
    if (last == 0)
        return NULL; /* someone is blocked in it */

    gort_glist l = {0};
    gort__poller->poll(0, &l);
    /* Only if nobody started a blocking poll meanwhile: its M may hold
     * Gs it has not queued yet, and lastpoll == 0 is what keeps the
     * virtual clock from moving under them. */
    atomic_compare_exchange_strong(&gort__s.lastpoll, &last,
                                   gort_nanotime_real());
    return run_first(&l);
}

static gort_g *steal_work(gort__m *m)
{
    int32_t n = gort__s.nprocs;

    for (int tries = 0; tries < 4; tries++) {
        bool last = tries == 3;
        uint32_t start = fastrand(m) % (uint32_t)n;
        for (int32_t i = 0; i < n; i++) {
            gort__p *p2 = gort__s.allp[(start + (uint32_t)i) % (uint32_t)n];
            if (p2 == m->p)
                continue;
            gort_g *g = runqsteal(m->p, p2, last);
            if (g)
                return g;
        }
    }
    return NULL;
}

/* A G waiting in gort__settle for every other G to block. */
static gort_g *_Atomic settle_g;

static bool settle_commit(gort_g *g, void *arg)
{
    (void)arg;
    atomic_store(&settle_g, g);
    return true;
}

void gort__settle(void)
{
    gort_park(settle_commit, NULL, GORT_WAIT_OTHER);
}

static void foreign_ready(gort_g *g);

/* Under sched.lock: a non-blocking poll whose Gs go straight to the
 * global queue (foreign ones are woken). True if it found any. */
static bool virtual_poll(void)
{
    if (!gort__poller->waiters || gort__poller->waiters() == 0)
        return false;

    gort_glist l = {0};
    gort__poller->poll(0, &l);
    bool found = l.n > 0;
    gort_g *g;
    while ((g = glist_pop(&l)) != NULL) {
        if (g->foreign) {
            foreign_ready(g);
            continue;
        }
        gort__casgstatus(g, GORT_GWAITING, GORT_GRUNNABLE);
        globrunqput(g);
    }
    return found;
}

/* With every P idle and nothing runnable, virtual time jumps to the
 * next timer, unless a G waits in gort__settle for this moment: then
 * *settled is that G, for the caller to ready, and time stays. Under
 * sched.lock. Returns true if it moved time, found a settler, or
 * queued Gs that I/O had readied. */
static bool virtual_advance(gort_g **settled)
{
    if (!gort__s.virtual_clock)
        return false;
    if (atomic_load(&gort__s.npidle) != gort__s.nprocs ||
        atomic_load(&gort__s.nmspinning) != 0 ||
        atomic_load(&gort__s.runqsize) != 0 ||
        atomic_load(&gort__s.nsyscall) != 0 ||
        atomic_load(&gort__s.nforeign) != 0)
        return false;
    /* An M in the poller may have been woken by I/O and not yet readied
     * its Gs. Break the poller; its M comes back through here after it
     * has handed off whatever it found. */
    if (atomic_load(&gort__s.lastpoll) == 0) {
        gort__poller->wake();
        return false;
    }
    /* I/O that the last G to run made ready may not have been polled by
     * anyone yet (an M that found the poller busy gave up its P without
     * looking). Look now: no P can be taken while this M holds the
     * lock, so no G runs to make more ready in between. */
    if (virtual_poll())
        return true;
    /* A blocking poll that began meanwhile may hold what this one
     * missed. */
    if (atomic_load(&gort__s.lastpoll) == 0) {
        gort__poller->wake();
        return false;
    }

    *settled = atomic_exchange(&settle_g, NULL);
    if (*settled)
        return true;

    int64_t next = gort__timers_earliest();
    if (next == 0)
        return false;
    if (next > atomic_load(&gort__s.vclock))
        atomic_store(&gort__s.vclock, next);
    return true;
}

static bool try_virtual_advance(gort__m *m);

/* Blocks in the poller until pollUntil (0: until woken). Returns with
 * a P and maybe a G, or with no P (the M then stops). */
static gort_g *block_in_poller(gort__m *m, int64_t polluntil,
                               bool wasspinning, bool *gotp)
{
    int64_t delay = -1;
    if (polluntil != 0 && !gort__s.virtual_clock) {
        delay = polluntil - gort__nanotime();
        if (delay < 0)
            delay = 0;
    }
    atomic_store(&gort__s.polluntil, polluntil);

    gort_glist l = {0};
    gort__poller->poll(delay, &l);
    atomic_store(&gort__s.polluntil, 0);

    /* Take a P (or queue what we found) before saying the poller is
     * free: until then lastpoll == 0 tells the virtual clock that Gs
     * may be in flight here. */
    gort__lock(&gort__s.lock);
    gort__p *p = pidleget();
    gort__unlock(&gort__s.lock);
    if (p == NULL) {
        injectglist(&l);
        atomic_store(&gort__s.lastpoll, gort_nanotime_real());
        /* Ms that went idle while this one held the poller left virtual
         * time alone (lastpoll was 0); moving it is now this M's job. */
        *gotp = try_virtual_advance(m);
        return NULL;
    }
    acquirep(m, p);
    atomic_store(&gort__s.lastpoll, gort_nanotime_real());
    *gotp = true;

    gort_g *g = run_first(&l);
    if (g == NULL && wasspinning) {
        m->spinning = true;
        atomic_fetch_add(&gort__s.nmspinning, 1);
    }
    return g;
}

/* The local phase of findrunnable, holding p: due timers, the global
 * queue when fairness asks for it, runnext and the ring, the global
 * queue, a non-blocking poll. */
static gort_g *find_local(gort__m *m, gort__p *p, bool *inherit)
{
    gort_g *g;

    check_timers(m);

    /* The monitor saw this slice last 10 ms: runnext inherits no more
     * (it goes behind the others), and the global queue goes first. */
    bool sliceover = atomic_load_explicit(&p->preempt,
                                          memory_order_relaxed);
    if (sliceover) {
        atomic_store(&p->preempt, false);
        gort_g *next = atomic_load(&p->runnext);
        if (next && atomic_compare_exchange_strong(&p->runnext, &next, NULL))
            runqput(p, next, false);
    }

    /* Fairness: now and then the global queue goes first. */
    uint32_t tick = atomic_load_explicit(&p->schedtick,
                                         memory_order_relaxed);
    if ((sliceover || tick % 61 == 0) &&
        atomic_load(&gort__s.runqsize) > 0) {
        gort__lock(&gort__s.lock);
        g = globrunqget(p, 1);
        gort__unlock(&gort__s.lock);
        if (g)
            return g;
    }

    if ((g = runqget(p, inherit)) != NULL)
        return g;

    if (atomic_load(&gort__s.runqsize) > 0) {
        gort__lock(&gort__s.lock);
        g = globrunqget(p, 0);
        gort__unlock(&gort__s.lock);
        if (g)
            return g;
    }
    return poll_nonblocking();
}

/* Stops counting m as spinning, then looks once more at every queue: a
 * G made runnable while m still counted as spinning woke nobody. True
 * if m took a P back (spinning again) to go after it. */
static bool drop_spinning_and_recheck(gort__m *m)
{
    m->spinning = false;
    int32_t n = atomic_fetch_sub(&gort__s.nmspinning, 1);
    INVARIANT(n > 0, "negative nmspinning");

    bool work = atomic_load(&gort__s.runqsize) > 0;
    for (int i = 0; i < gort__s.nprocs && !work; i++)
        work = !runqempty(gort__s.allp[i]);
    if (!work)
        return false;

    gort__lock(&gort__s.lock);
    gort__p *p = pidleget();
    gort__unlock(&gort__s.lock);
    if (p == NULL)
        return false; /* every P is busy: their Ms will find it */
    acquirep(m, p);
    m->spinning = true;
    atomic_fetch_add(&gort__s.nmspinning, 1);
    return true;
}

/* On the virtual clock, with everything idle: moves time or wakes the
 * settling G. True if m took a P back to run what became due. */
static bool try_virtual_advance(gort__m *m)
{
    gort_g *settled = NULL;

    if (!gort__s.virtual_clock)
        return false;

    gort__lock(&gort__s.lock);
    bool advanced = virtual_advance(&settled);
    gort__p *p = advanced ? pidleget() : NULL;
    gort__unlock(&gort__s.lock);
    if (p)
        acquirep(m, p);
    if (settled)
        gort_ready(settled);
    return p != NULL;
}

/* The idle M's last step: block in the poller until the next timer if
 * there is I/O or a timer to wait for and nobody else polls; otherwise
 * sleep until handed a P. Returns a G the poller readied, or NULL to
 * look again. */
static gort_g *block_or_stop(gort__m *m, bool wasspinning)
{
    int64_t polluntil = gort__timers_earliest();
    bool pollwork = gort__poller->waiters && gort__poller->waiters() > 0;

    if (pollwork || polluntil != 0) {
        int64_t last = atomic_load(&gort__s.lastpoll);
        if (last != 0 &&
            atomic_compare_exchange_strong(&gort__s.lastpoll, &last, 0)) {
            bool gotp;
            return block_in_poller(m, polluntil, wasspinning, &gotp);
        }
        /* Another M polls; make sure it wakes in time for our timer. */
        int64_t theirs = atomic_load(&gort__s.polluntil);
        if (polluntil != 0 && (theirs == 0 || theirs > polluntil))
            gort__poller->wake();
    }
    stopm(m);
    return NULL;
}

/* Finds a runnable G, blocking if need be. NULL: the runtime stops. */
static gort_g *findrunnable(gort__m *m, bool *inherit)
{
    gort_g *g;

    for (;;) {
        if (atomic_load(&gort__s.stopping))
            return NULL;
        if (m->p == NULL) {
            stopm(m);
            continue;
        }
        gort__p *p = m->p;
        *inherit = false;

        if ((g = find_local(m, p, inherit)) != NULL)
            return g;
        if (check_other_timers(m) && (g = find_local(m, p, inherit)))
            return g;

        /* Steal, unless half the busy Ps already have thieves. */
        int32_t busy = gort__s.nprocs - atomic_load(&gort__s.npidle);
        if (m->spinning || 2 * atomic_load(&gort__s.nmspinning) < busy) {
            if (!m->spinning) {
                m->spinning = true;
                atomic_fetch_add(&gort__s.nmspinning, 1);
            }
            if ((g = steal_work(m)) != NULL)
                return g;
        }

        /* Nothing: give up the P, unless the global queue got work. */
        gort__lock(&gort__s.lock);
        if (atomic_load(&gort__s.stopping)) {
            gort__unlock(&gort__s.lock);
            return NULL;
        }
        if (atomic_load(&gort__s.runqsize) > 0) {
            g = globrunqget(p, 0);
            gort__unlock(&gort__s.lock);
            return g;
        }
        pidleput(releasep(m));
        gort__unlock(&gort__s.lock);

        bool wasspinning = m->spinning;
        if (wasspinning && drop_spinning_and_recheck(m))
            continue;
        if (try_virtual_advance(m))
            continue;
        if ((g = block_or_stop(m, wasspinning)) != NULL)
            return g;
    }
}

/* Puts a batch of readied Gs where they will run: idle Ps get Ms. */
static void injectglist(gort_glist *l)
{
    gort_glist mine = {0};
    gort_g *g;

    while ((g = glist_pop(l)) != NULL) {
        if (g->foreign) {
            gort_ready(g);
            continue;
        }
        gort__casgstatus(g, GORT_GWAITING, GORT_GRUNNABLE);
        gort_glist_push(&mine, g);
    }
    if (mine.n == 0)
        return;

    gort__m *m = gort__getm();
    gort__p *p = m ? m->p : NULL;
    int32_t npidle = atomic_load(&gort__s.npidle);

    if (p == NULL || npidle > 0) {
        /* Enough to the global queue to feed the idle Ps. */
        int32_t n = p == NULL ? mine.n : (npidle < mine.n ? npidle
                                                           : mine.n);
        gort_g *head = mine.head, *tail = head;
        for (int32_t i = 1; i < n; i++)
            tail = tail->schedlink;
        mine.head = tail->schedlink;
        mine.n -= n;
        if (!mine.head)
            mine.tail = NULL;
        gort__lock(&gort__s.lock);
        globrunqputbatch(head, tail, n);
        gort__unlock(&gort__s.lock);
        for (int32_t i = 0; i < n && atomic_load(&gort__s.npidle) > 0;
             i++)
            startm(NULL, false);
    }
    while ((g = glist_pop(&mine)) != NULL)
        runqput(p, g, false);
}

void gort_ready_list(gort_glist *l)
{
    if (l == NULL)
        return;
    injectglist(l);
}

/* ------------------------------------------------------------------ */
/* The scheduler loop, on g0. Returns when the runtime stops. */

static void schedule(gort__m *m)
{
    gort_g *g = NULL;
    bool inherit = false;

    for (;;) {
        if (g == NULL && m->lockedg) {
            stoplockedm(m);
            if (atomic_load(&gort__s.stopping) && m->p == NULL)
                return;
            g = m->lockedg;
            inherit = false;
        }
        if (g == NULL) {
            g = findrunnable(m, &inherit);
            if (g == NULL)
                return;
        }
        if (m->spinning)
            resetspinning(m);
        if (g->lockedm && g->lockedm != m) {
            startlockedm(m, g);
            g = NULL;
            continue;
        }
        execute(m, g, inherit);
        g = after_switch(m, &inherit);
    }
}

/* A foreign M's g0 runs this on its own small stack: it carries out
 * the locked G's switch-outs. Only gort_lock_thread'ed runtime Gs get
 * here; foreign Gs park without a switch. */

/* ------------------------------------------------------------------ */
/* Goroutines. */

static void gexit(void);

static void gentry(void *arg)
{
    gort_g *g = arg;

    switched_in(g, NULL);
    g->fn(g->arg);
    gexit();
}

static void gexit(void)
{
    gort__m *m = gort__getm();
    m->action = ACT_EXIT;
    switch_to_g0(m, m->curg, true);
    THROW("dead goroutine resumed");
}

static void allg_add(gort_g *g)
{
    gort__lock(&gort__s.allglock);
    g->alllink = gort__s.allg;
    gort__s.allg = g;
    gort__unlock(&gort__s.allglock);
    atomic_fetch_add(&gort__s.ngs, 1);
}

/* A G to reuse or a new one. One that still holds a stack comes first
 * (it runs without binding one); a new G gets its stack when it first
 * runs. */
static gort_g *newg(gort__p *p)
{
    gort_g *g = gf_get(gf_stacked(p));
    if (g)
        return g;
    g = gf_get(gf_bare(p));
    if (g)
        return g;

    g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    atomic_store(&g->status, GORT_GIDLE);
    allg_add(g);
    return g;
}

static gort_g *newproc(gort_fn fn, void *arg)
{
    gort__m *m = gort__getm();
    gort__p *p = m ? m->p : NULL;

    gort_g *g = newg(p);
    if (!g)
        return NULL;
    g->fn = fn;
    g->arg = arg;
    g->goid = atomic_fetch_add(&gort__s.goidgen, 1) + 1;
    g->schedlink = NULL;
    g->waitreason = GORT_WAIT_NONE;
    g->preempt = false;
    g->lockedm = NULL;
    g->lockcount = 0;
    g->asan_fake = NULL;
    g->createdby = NULL;
    g->parentid = 0;
    g->sp = g->stack_hi ? gort__ctx_make(g->stack_hi, gentry, g) : NULL;
    gort__casgstatus(g, atomic_load(&g->status), GORT_GRUNNABLE);
    return g;
}

__attribute__((noinline)) int gort_go(gort_fn fn, void *arg)
{
    if (fn == NULL)
        return -EINVAL;
    if (!atomic_load(&gort__s.running) || atomic_load(&gort__s.stopping))
        return -ESRCH;

    /* A host thread that spawns is running gort code: it counts as a
     * foreign G from now on (not blocked, for the virtual clock and
     * the deadlock check). */
    gort__m *m = getm_or_foreign();
    gort_g *g = newproc(fn, arg);
    if (!g)
        return -ENOMEM;
    g->createdby = __builtin_return_address(0);

    g->parentid = m && m->curg ? m->curg->goid : 0;
    if (m && m->p) {
        runqput(m->p, g, true);
    } else {
        gort__lock(&gort__s.lock);
        globrunqput(g);
        gort__unlock(&gort__s.lock);
    }
    wakep();
    return 0;
}

/* ------------------------------------------------------------------ */
/* Foreign threads. */

static void foreign_destroy(void *arg)
{
    gort__m *m = arg;
    if (tls_gen != gort__s.gen || !atomic_load(&gort__s.running))
        return; /* the runtime that made it is gone; it freed them */

    gort_g *g = m->curg;
    gort__lock(&gort__s.allglock);
    for (gort_g **pp = &gort__s.allg; *pp; pp = &(*pp)->alllink) {
        if (*pp == g) {
            *pp = g->alllink;
            break;
        }
    }
    gort__unlock(&gort__s.allglock);
    atomic_fetch_sub(&gort__s.ngs, 1);
    atomic_fetch_sub(&gort__s.nforeign, 1);

    gort__lock(&gort__s.lock);
    for (gort__m **pp = &gort__s.allm; *pp; pp = &(*pp)->alllink) {
        if (*pp == m) {
            *pp = m->alllink;
            break;
        }
    }
    gort__unlock(&gort__s.lock);
    free(g);
    free(m);
    tls_m = NULL;
}

static void foreign_key_init(void)
{
    pthread_key_create(&foreign_key, foreign_destroy);
}

/* The M of the calling thread, creating a foreign one if needed. */
static gort__m *getm_or_foreign(void)
{
    gort__m *m = gort__getm();
    if (m)
        return m;
    INVARIANT(atomic_load(&gort__s.running),
              "gort called while the runtime is not running");

    pthread_once(&foreign_once, foreign_key_init);
    m = allocm();
    gort_g *g = calloc(1, sizeof *g);
    INVARIANT(m && g, "out of memory for a foreign thread");
    m->foreign = true;
    m->thread = pthread_self();
    g->foreign = true;
    g->goid = atomic_fetch_add(&gort__s.goidgen, 1) + 1;
    atomic_store(&g->status, GORT_GSYSCALL);
    g->m = m;
    g->lockedm = m;
    m->curg = g;
    m->lockedg = g;
    allg_add(g);
    atomic_fetch_add(&gort__s.nforeign, 1);

    gort__lock(&gort__s.lock);
    m->alllink = gort__s.allm;
    gort__s.allm = m;
    gort__unlock(&gort__s.lock);

    setm(m);
    pthread_setspecific(foreign_key, m);
    return m;
}

/* When the last running foreign thread parks, virtual time may move:
 * make sure an M looks. */
static void nudge_virtual(void)
{
    if (!gort__s.virtual_clock)
        return;
    if (atomic_load(&gort__s.lastpoll) == 0)
        gort__poller->wake();
    else
        wakep();
}

static void foreign_ready(gort_g *g);

/* A host thread that waits for I/O needs an M blocked in the poller to
 * see its event, and there may be none: an M with nothing to poll for
 * sleeps until handed a P, and only the monitor would poll, every
 * 10 ms. (A goroutine that parks leaves an M behind, which polls.) So
 * wake one, which finds no work and blocks in the poller. */
static void ensure_poller(void)
{
    if (atomic_load(&gort__s.lastpoll) != 0 && gort__poller->waiters &&
        gort__poller->waiters() > 0)
        wakep();
}

/* A foreign G sleeps on its futex word until readied. A signal that
 * interrupts the sleep of an interruptible thread calls cancel, which
 * either takes the G back (then this G readies itself, as if woken, and
 * the park returns -EINTR) or finds a wake-up already on its way (then
 * the sleep goes on until it arrives). XXX: a signal handled between
 * the commit and the futex call interrupts nothing, as one that comes
 * just before any blocking system call; the next signal does. */
static int foreign_park(gort_g *g, gort_commit_fn commit, void *arg,
                        enum gort_wait_reason why, gort_cancel_fn cancel)
{
    int rc = 0;

    g->waitreason = why;
    g->waitsince = coarse_now();
    atomic_store(&g->parkkey, 0);
    gort__casgstatus(g, GORT_GSYSCALL, GORT_GWAITING);

    if (commit && !commit(g, arg)) {
        gort__casgstatus(g, GORT_GWAITING, GORT_GSYSCALL);
        return 0;
    }
    if (atomic_fetch_sub(&gort__s.nforeign, 1) == 1)
        nudge_virtual();
    if (!gort__s.virtual_clock)
        ensure_poller();
    while (atomic_load(&g->parkkey) == 0) {
        if (gort__futex_wait(&g->parkkey, 0, -1) != -EINTR)
            continue;
        if (cancel != NULL && g->interruptible && cancel(g, arg)) {
            foreign_ready(g);
            rc = -EINTR;
        }
    }
    gort__casgstatus(g, GORT_GRUNNABLE, GORT_GSYSCALL);
    g->waitreason = GORT_WAIT_NONE;
    return rc;
}

static void foreign_ready(gort_g *g)
{
    gort__casgstatus(g, GORT_GWAITING, GORT_GRUNNABLE);
    atomic_fetch_add(&gort__s.nforeign, 1);
    atomic_store(&g->parkkey, 1);
    gort__futex_wake(&g->parkkey, 1);
}

void gort_set_interruptible(bool on)
{
    gort__m *m = getm_or_foreign();

    if (m->curg != NULL && m->curg->foreign)
        m->curg->interruptible = on;
}

/* ------------------------------------------------------------------ */
/* Park, ready, yield. */

void gort_park(gort_commit_fn commit, void *arg, enum gort_wait_reason why)
{
    gort_park_cancelable(commit, arg, why, NULL);
}

int gort_park_cancelable(gort_commit_fn commit, void *arg,
                         enum gort_wait_reason why, gort_cancel_fn cancel)
{
    gort__m *m = getm_or_foreign();
    gort_g *g = m->curg;
    INVARIANT(g != NULL, "park on a scheduler stack");

    if (g->foreign)
        return foreign_park(g, commit, arg, why, cancel);
    INVARIANT(atomic_load(&g->status) == GORT_GRUNNING,
              "park of a goroutine that is not running");
    g->waitreason = why;
    g->waitsince = coarse_now();
    m->commit = commit;
    m->commitarg = arg;
    m->action = ACT_PARK;
    gort_g *next = direct_successor(m);
    if (next)
        switch_direct(m, g, next);
    else
        switch_to_g0(m, g, false);
    g->waitreason = GORT_WAIT_NONE;
    return 0;
}

void gort_ready(gort_g *g)
{
    if (g == NULL)
        return;
    if (g->foreign) {
        foreign_ready(g);
        return;
    }
    gort__casgstatus(g, GORT_GWAITING, GORT_GRUNNABLE);

    gort__m *m = gort__getm();
    if (m && m->p) {
        runqput(m->p, g, true);
    } else {
        gort__lock(&gort__s.lock);
        globrunqput(g);
        gort__unlock(&gort__s.lock);
    }
    wakep();
}

void gort_yield(void)
{
    gort__m *m = gort__getm();
    if (m == NULL || m->curg == NULL || m->curg->foreign ||
        atomic_load(&m->curg->status) != GORT_GRUNNING) {
        sched_yield();
        return;
    }
    m->curg->preempt = false;
    m->action = ACT_YIELD;
    switch_to_g0(m, m->curg, false);
}

void gort__yield_local(void)
{
    gort__m *m = gort__getm();
    if (m == NULL || m->curg == NULL || m->curg->foreign || m->p == NULL)
        return;
    m->action = ACT_YIELD_LOCAL;
    switch_to_g0(m, m->curg, false);
}

gort_g *gort_self(void)
{
    if (!atomic_load(&gort__s.running))
        return NULL;
    return getm_or_foreign()->curg;
}

uint64_t gort_goid(const gort_g *g)
{
    return g ? g->goid : 0;
}

int gort_procs(void)
{
    return gort__s.nprocs;
}

/* ------------------------------------------------------------------ */
/* System calls. */

void gort_entersyscall(void)
{
    gort__m *m = gort__getm();
    if (m == NULL || m->curg == NULL || m->curg->foreign)
        return;
    gort_g *g = m->curg;
    gort__p *p = m->p;

    setgstatus(g, GORT_GRUNNING, GORT_GSYSCALL);
    atomic_fetch_add(&gort__s.nsyscall, 1);
    atomic_fetch_add(&p->syscalltick, 1);
    p->m = NULL;
    m->oldp = p;
    m->p = NULL;
    atomic_store(&p->status, PSYSCALL);
    if (atomic_load(&gort__s.sysmon_wait)) {
        atomic_store(&gort__s.sysmon_wait, false);
        gort__notewakeup(&gort__s.sysmon_note);
    }
}

void gort_exitsyscall(void)
{
    gort__m *m = gort__getm();
    if (m == NULL || m->curg == NULL || m->curg->foreign)
        return;
    gort_g *g = m->curg;
    gort__p *p = m->oldp;
    m->oldp = NULL;

    /* Fast path: our P is still ours. */
    uint32_t s = PSYSCALL;
    if (p && atomic_compare_exchange_strong(&p->status, &s, PIDLE)) {
        acquirep(m, p);
        setgstatus(g, GORT_GSYSCALL, GORT_GRUNNING);
        atomic_fetch_sub(&gort__s.nsyscall, 1);
        return;
    }

    /* Then any idle P. */
    if (atomic_load(&gort__s.npidle) > 0) {
        gort__lock(&gort__s.lock);
        gort__p *p2 = pidleget();
        gort__unlock(&gort__s.lock);
        if (p2) {
            acquirep(m, p2);
            setgstatus(g, GORT_GSYSCALL, GORT_GRUNNING);
            atomic_fetch_sub(&gort__s.nsyscall, 1);
            return;
        }
    }

    /* None: queue the G and let g0 find this M something to do. */
    m->action = ACT_SYSCALL;
    switch_to_g0(m, g, false);
}

/* ------------------------------------------------------------------ */
/* Thread locking. */

void gort_lock_thread(void)
{
    gort__m *m = getm_or_foreign();
    gort_g *g = m->curg;
    if (g->foreign)
        return; /* already wired for life */
    g->lockcount++;
    g->lockedm = m;
    m->lockedg = g;
}

void gort_unlock_thread(void)
{
    gort__m *m = gort__getm();
    if (m == NULL || m->curg == NULL || m->curg->foreign)
        return;
    gort_g *g = m->curg;
    INVARIANT(g->lockcount > 0, "unlock of a thread that is not locked");
    if (--g->lockcount == 0) {
        g->lockedm = NULL;
        m->lockedg = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* The monitor thread (Go's sysmon). */

static void trace_line(int64_t now, int64_t start)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "SCHED %lldms: procs=%d idleprocs=%d threads=%d "
                     "spinningthreads=%d idlethreads=%d runqueue=%d [",
                     (long long)((now - start) / 1000000), gort__s.nprocs,
                     (int)atomic_load(&gort__s.npidle), gort__s.mcount,
                     (int)atomic_load(&gort__s.nmspinning),
                     gort__s.nmidle, (int)atomic_load(&gort__s.runqsize));
    for (int i = 0; i < gort__s.nprocs && n < (int)sizeof buf - 16; i++) {
        gort__p *p = gort__s.allp[i];
        uint32_t len = atomic_load(&p->runqtail) -
                       atomic_load(&p->runqhead);
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%u",
                      i ? " " : "", len);
    }
    n += snprintf(buf + n, sizeof buf - (size_t)n, "]\n");
    (void)!write(2, buf, (size_t)n < sizeof buf ? (size_t)n
                                               : sizeof buf - 1);
}

/* Takes Ps from Ms blocked in syscalls and marks long slices. */
static int retake(int64_t now)
{
    int n = 0;

    for (int i = 0; i < gort__s.nprocs; i++) {
        gort__p *p = gort__s.allp[i];
        uint32_t s = atomic_load(&p->status);

        if (s == PRUNNING) {
            uint32_t st = atomic_load_explicit(&p->schedtick,
                                               memory_order_relaxed);
            uint32_t sw = atomic_load_explicit(&p->switchtick,
                                               memory_order_relaxed);
            /* On the virtual clock, real-time slices would make the
             * order of runs depend on how fast the machine is. */
            if (st != p->mon_schedtick) {
                p->mon_schedtick = st;
                p->mon_schedwhen = now;
            } else if (now - p->mon_schedwhen >= SLICE_NS &&
                       !gort__s.virtual_clock) {
                atomic_store(&p->preempt, true);
                p->mon_schedwhen = now;
            }
            if (sw != p->mon_switchtick) {
                p->mon_switchtick = sw;
                p->mon_switchwhen = now;
            } else if (now - p->mon_switchwhen >= SLICE_NS) {
                atomic_fetch_add(&gort__s.long_running, 1);
                p->mon_switchwhen = now;
            }
        } else if (s == PSYSCALL) {
            uint32_t t = atomic_load(&p->syscalltick);
            if (t != p->mon_syscalltick) {
                p->mon_syscalltick = t;
                p->mon_syscallwhen = now;
                continue;
            }
            if (runqempty(p) &&
                atomic_load(&gort__s.nmspinning) +
                        atomic_load(&gort__s.npidle) >
                    0 &&
                now - p->mon_syscallwhen < SLICE_NS)
                continue;
            if (atomic_compare_exchange_strong(&p->status, &s, PIDLE)) {
                atomic_fetch_add(&gort__s.handoffs, 1);
                handoffp(p);
                n++;
            }
        }
    }
    return n;
}

static void *sysmon(void *arg)
{
    (void)arg;
    int64_t delay = 20 * 1000, start = gort_nanotime_real();
    int64_t lasttrace = start;
    int idle = 0;

    while (!atomic_load(&gort__s.stopping)) {
        gort__notetsleep(&gort__s.sysmon_note, delay);
        if (atomic_load(&gort__s.stopping))
            break;
        int64_t now = gort_nanotime_real();
        atomic_store_explicit(&gort__s.coarse_now, now, memory_order_relaxed);
        int did = retake(now);
        confirmdead(now);

        /* Poll if nobody has for 10 ms. Not on the virtual clock: the
         * Gs found would be invisible between the poll and their
         * injection, and time could move meanwhile; there the idle Ms
         * poll before time moves. */
        int64_t last = atomic_load(&gort__s.lastpoll);
        if (!gort__s.virtual_clock && gort__poller->waiters &&
            gort__poller->waiters() > 0 &&
            last != 0 && now - last > SLICE_NS &&
            atomic_compare_exchange_strong(&gort__s.lastpoll, &last, now)) {
            gort_glist l = {0};
            gort__poller->poll(0, &l);
            if (l.n > 0) {
                injectglist(&l);
                did++;
            }
        }

        if (atomic_exchange(&gort__s.dump_requested, false)) {
            gort_dump(2, false);
            did++;
        }
        if (gort__s.schedtrace_ms > 0 &&
            now - lasttrace >= gort__s.schedtrace_ms * 1000000) {
            trace_line(now, start);
            lasttrace = now;
        }

        if (did) {
            idle = 0;
            delay = 20 * 1000;
        } else if (++idle > 50 && delay < 10 * 1000 * 1000) {
            delay *= 2;
        }
        if (gort__s.schedtrace_ms > 0 &&
            delay > gort__s.schedtrace_ms * 1000000)
            delay = gort__s.schedtrace_ms * 1000000;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The default poller: with no libpoll, an idle M sleeps on a futex
 * until its next timer or a wake-up. */

static _Atomic uint32_t futex_poll_key;

static void futex_poll(int64_t delay, gort_glist *out)
{
    (void)out;
    if (delay != 0 && atomic_exchange(&futex_poll_key, 0) == 0)
        gort__futex_wait(&futex_poll_key, 0, delay);
    atomic_store(&futex_poll_key, 0);
}

static void futex_poll_wake(void)
{
    uint32_t zero = 0;
    if (atomic_compare_exchange_strong(&futex_poll_key, &zero, 1))
        gort__futex_wake(&futex_poll_key, 1);
}

static const gort_poller futex_poller = {
    .poll = futex_poll, .wake = futex_poll_wake, .waiters = NULL};

void gort_set_poller(const gort_poller *p)
{
    user_poller = p;
}

/* ------------------------------------------------------------------ */
/* Start and stop. */

static int env_int(const char *name, const char *key, int64_t *out)
{
    const char *v = getenv(name);
    if (!v)
        return 0;
    if (key) {
        const char *k = strstr(v, key);
        if (!k)
            return 0;
        v = k + strlen(key);
    }
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v)
        return 0;
    *out = x;
    return 1;
}

static int runtime_init(const gort_config *cfg)
{
    gort_config c = cfg ? *cfg : (gort_config){0};
    int64_t x;

    if (c.procs < 0 || (c.stack_size && (c.stack_size < GORT_MIN_STACK_SIZE ||
                                          c.stack_size > GORT_MAX_STACK_SIZE)))
        return -EINVAL;
    if (c.procs == 0 && env_int("GORT_PROCS", NULL, &x) && x > 0)
        c.procs = (int)(x > GORT_MAX_PROCS ? GORT_MAX_PROCS : x);
    if (c.procs == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.procs = n > 0 ? (int)n : 1;
    }
    if (c.procs > GORT_MAX_PROCS)
        c.procs = GORT_MAX_PROCS;
    if (c.stack_size == 0)
        c.stack_size = GORT_DEFAULT_STACK_SIZE;
    if (c.schedtrace_ms == 0 && env_int("GORT_DEBUG", "schedtrace=", &x))
        c.schedtrace_ms = x;
    if (!c.dump_on_sigquit && env_int("GORT_DEBUG", "sigquit=", &x))
        c.dump_on_sigquit = x != 0;

    uint64_t gen = gort__s.gen;
    memset(&gort__s, 0, sizeof gort__s);
    gort__s.gen = gen + 1;
    gort__s.nprocs = c.procs;
    gort__s.stack_size = c.stack_size;
    gort__s.virtual_clock = c.virtual_clock;
    gort__s.vclock = 1000000000; /* virtual time starts at 1 s */
    gort__s.schedtrace_ms = c.schedtrace_ms;
    gort__s.dump_on_sigquit = c.dump_on_sigquit;
    gort__s.lastpoll = gort_nanotime_real();
    gort__s.coarse_now = gort__s.lastpoll;
    gort__poller = user_poller ? user_poller : &futex_poller;

    gort__s.allp = calloc((size_t)c.procs, sizeof *gort__s.allp);
    if (!gort__s.allp)
        return -ENOMEM;
    for (int i = 0; i < c.procs; i++) {
        gort__p *p = calloc(1, sizeof *p);
        if (!p)
            return -ENOMEM;
        p->id = i;
        atomic_store(&p->status, PIDLE);
        gort__timers_init(&p->timers);
        gort__s.allp[i] = p;
    }
    for (int i = c.procs - 1; i >= 0; i--)
        pidleput(gort__s.allp[i]);

    gort__sema_init();
    int rc = gort__signals_init();
    if (rc)
        return rc;
    if (c.dump_on_sigquit && (rc = gort__dump_signal_init()) != 0)
        return rc;
    atomic_store(&gort__s.running, true);
    return 0;
}

static void initiate_stop(void)
{
    if (atomic_exchange(&gort__s.stopping, true))
        return;

    gort__lock(&gort__s.lock);
    gort__m *m;
    while ((m = mget()) != NULL)
        gort__notewakeup(&m->park);
    gort__unlock(&gort__s.lock);

    gort__poller->wake();
    gort__notewakeup(&gort__s.sysmon_note);
}

/* Wakes Ms sleeping with a locked G, so they see stopping. */
static void wake_locked_ms(void)
{
    gort__lock(&gort__s.lock);
    for (gort__m *m = gort__s.allm; m; m = m->alllink) {
        if (!m->foreign && m->lockedg && atomic_load(&m->park.key) == 0) {
            atomic_store(&m->park.key, 1);
            gort__futex_wake(&m->park.key, 1);
        }
    }
    gort__unlock(&gort__s.lock);
}

static void runtime_fini(gort__m *self)
{
    /* Join every M but ourselves; Ms may still be waking up. */
    for (;;) {
        wake_locked_ms();
        gort__lock(&gort__s.lock);
        gort__m *m = gort__s.allm, *victim = NULL;
        for (; m; m = m->alllink) {
            if (m != self && !m->foreign) {
                victim = m;
                break;
            }
        }
        if (victim) {
            for (gort__m **pp = &gort__s.allm; *pp; pp = &(*pp)->alllink)
                if (*pp == victim) {
                    *pp = victim->alllink;
                    break;
                }
        }
        gort__unlock(&gort__s.lock);
        if (!victim)
            break;
        /* Keep waking sleepers while we wait for this one. */
        gort__m *w;
        gort__lock(&gort__s.lock);
        while ((w = mget()) != NULL)
            gort__notewakeup(&w->park);
        gort__unlock(&gort__s.lock);
        gort__poller->wake();
        pthread_join(victim->thread, NULL);
        free(victim);
    }
    if (gort__s.sysmon_started)
        pthread_join(gort__s.sysmon, NULL);

    /* Timers embedded in Gs and elsewhere forget their heaps. */
    for (int i = 0; i < gort__s.nprocs; i++)
        gort__timers_fini(&gort__s.allp[i]->timers);

    gort_g *g = gort__s.allg;
    while (g) {
        gort_g *next = g->alllink;
        gort__stack_free(g);
        free(g);
        g = next;
    }
    for (gort__m *m = gort__s.allm; m; ) {
        gort__m *next = m->alllink;
        if (m != self)
            free(m); /* foreign Ms; their threads see a stale generation */
        m = next;
    }
    gort__stacks_fini();
    gort__dump_signal_fini();
    for (int i = 0; i < gort__s.nprocs; i++)
        free(gort__s.allp[i]);
    free(gort__s.allp);
    gort__signals_fini();

    uint64_t gen = gort__s.gen;
    memset(&gort__s, 0, sizeof gort__s);
    gort__s.gen = gen + 1; /* every TLS pointer is now stale */
}

static int start_sysmon(void)
{
    int rc = pthread_create(&gort__s.sysmon, NULL, sysmon, NULL);
    gort__s.sysmon_started = rc == 0;
    return -rc;
}

__attribute__((noinline)) int gort_main(gort_fn fn, void *arg,
                                        const gort_config *cfg)
{
    if (fn == NULL)
        return -EINVAL;
    /* Held while the runtime runs under gort_main: a nested call, or
     * one from another thread, is refused rather than queued. */
    if (pthread_mutex_trylock(&life_mu) != 0)
        return -EBUSY;
    if (atomic_load(&gort__s.running)) {
        pthread_mutex_unlock(&life_mu);
        return -EBUSY;
    }
    int rc = runtime_init(cfg);
    if (rc) {
        pthread_mutex_unlock(&life_mu);
        return rc;
    }

    gort__m *m0 = allocm();
    INVARIANT(m0 != NULL, "out of memory for M0");
    m0->thread = pthread_self();
    gort__s.allm = m0;
    gort__s.mcount = 1;
    gort__s.has_main = true;
    setm(m0);
    tsan_m_init(m0);
    gort__altstack_init(m0);

    /* The main G's stack is bound now so that a size no mapping can
     * satisfy fails here, not in the scheduler. */
    gort_g *g = newproc(fn, arg);
    if (g != NULL && stack_bind(NULL, g) != 0)
        g = NULL;
    if (g == NULL) {
        gort__altstack_fini(m0);
        atomic_store(&gort__s.stopping, true);
        runtime_fini(m0);
        free(m0);
        setm(NULL);
        pthread_mutex_unlock(&life_mu);
        return -ENOMEM;
    }
    gort__s.maing = g;
    g->createdby = __builtin_return_address(0);
    gort__lock(&gort__s.lock);
    globrunqput(g);
    acquirep(m0, pidleget());
    gort__unlock(&gort__s.lock);
    start_sysmon();

    schedule(m0);

    initiate_stop();
    gort__altstack_fini(m0);
    runtime_fini(m0);
    free(m0);
    setm(NULL);
    pthread_mutex_unlock(&life_mu);
    return 0;
}

int gort_start(const gort_config *cfg)
{
    if (pthread_mutex_trylock(&life_mu) != 0)
        return -EBUSY;
    if (atomic_load(&gort__s.running)) {
        pthread_mutex_unlock(&life_mu);
        return -EBUSY;
    }
    int rc = runtime_init(cfg);
    if (rc == 0)
        rc = start_sysmon();
    pthread_mutex_unlock(&life_mu);
    return rc;
}

void gort_stop(void)
{
    if (pthread_mutex_trylock(&life_mu) != 0)
        return; /* starting, stopping, or running under gort_main */
    if (!atomic_load(&gort__s.running)) {
        pthread_mutex_unlock(&life_mu);
        return;
    }
    gort__m *m = gort__getm();
    INVARIANT(m == NULL || m->foreign, "gort_stop called from a goroutine");
    initiate_stop();
    runtime_fini(NULL);
    pthread_mutex_unlock(&life_mu);
}

bool gort_running(void)
{
    return atomic_load(&gort__s.running) && !atomic_load(&gort__s.stopping);
}

/* ------------------------------------------------------------------ */
/* Stats. */

void gort_get_stats(gort_stats *s)
{
    if (s == NULL)
        return;
    memset(s, 0, sizeof *s);
    if (!atomic_load(&gort__s.running))
        return;

    gort__lock(&gort__s.allglock);
    for (gort_g *g = gort__s.allg; g; g = g->alllink) {
        uint32_t st = atomic_load(&g->status);
        if (st < GORT_GNSTATUS)
            s->gs[st]++;
    }
    gort__unlock(&gort__s.allglock);

    gort__lock(&gort__s.lock);
    s->ms = gort__s.mcount;
    s->idle_ms = gort__s.nmidle;
    gort__unlock(&gort__s.lock);
    s->spinning_ms = atomic_load(&gort__s.nmspinning);
    s->idle_ps = atomic_load(&gort__s.npidle);
    s->procs = gort__s.nprocs;
    s->steals = atomic_load(&gort__s.steals);
    s->global_runq = atomic_load(&gort__s.runqsize);
    s->timers = gort__timers_count();
    s->long_running = atomic_load(&gort__s.long_running);
    s->syscall_handoffs = atomic_load(&gort__s.handoffs);
    s->stacks = gort__stacks_count();
}
