/*
 * runtime.h: libsched's private structures, shared by its source files.
 *
 * Lock order (take left before right, never the reverse):
 *
 *   timer.lock -> timers heap lock (ts.lock) -> sched.lock
 *   semroot.lock -> sched.lock
 *
 * A timer callback runs with no lock held. sched.lock is a leaf apart
 * from the futex wake-ups it may issue.
 */
#ifndef GORT_RUNTIME_H
#define GORT_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gort_sched.h"

/* ------------------------------------------------------------------ */
/* Invariants. Always on, release builds included: scheduler corruption
 * must not slip through. */

_Noreturn void gort__throw(const char *func, const char *what,
                           const char *file, int line);

#define THROW(what) gort__throw(__func__, (what), __FILE__, __LINE__)
#define INVARIANT(cond, what)                                              \
    do {                                                                   \
        if (__builtin_expect(!(cond), 0))                                  \
            THROW(what);                                                   \
    } while (0)

/* A spin-wait hint to the CPU. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__)
    __asm__ volatile("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ */
/* Runtime-internal locks and one-shot notes (futex based). They never
 * park a G: they block the thread, briefly. */

typedef _Atomic uint32_t gort__lock_t;

void gort__lock(gort__lock_t *l);
void gort__unlock(gort__lock_t *l);
bool gort__trylock(gort__lock_t *l);

typedef struct gort__note {
    _Atomic uint32_t key;
} gort__note;

void gort__noteclear(gort__note *n);
void gort__notewakeup(gort__note *n);
void gort__notesleep(gort__note *n);
/* Sleeps at most ns (< 0: forever). Returns true if woken. */
bool gort__notetsleep(gort__note *n, int64_t ns);

int gort__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t ns);
void gort__futex_wake(_Atomic uint32_t *addr, int n);

/* ------------------------------------------------------------------ */
/* Context switch (switch_*.S). */

/* Saves the callee-saved registers and FP control state on the current
 * stack, stores the stack pointer in *save, loads new_sp, restores and
 * returns into the context saved there. */
void gort__switch(void **save, void *new_sp);

/* Builds an initial context on a stack whose top is stack_hi, so that
 * switching to the returned stack pointer calls entry(arg). */
void *gort__ctx_make(char *stack_hi, void (*entry)(void *), void *arg);

/* ------------------------------------------------------------------ */
/* G, M, P. */

typedef struct gort__m gort__m;
typedef struct gort__p gort__p;

struct gort_g {
    void *sp;                  /* saved context while not running */
    gort__m *m;                /* M running it; owner: that M */
    _Atomic uint32_t status;   /* enum gort_gstatus; CAS transitions */
    uint64_t goid;
    gort_fn fn;                /* entry; immutable while alive */
    void *arg;
    char *stack_lo;            /* usable stack [stack_lo, stack_hi) */
    char *stack_hi;
    char *stack_map;           /* mapping incl. guard; NULL: none yet
                                * (bound when it first runs) or foreign */
    size_t map_size;
    gort_g *schedlink;         /* run queue / glist / free list link */
    gort_g *alllink;           /* allgs list; under sched.allglock */
    enum gort_wait_reason waitreason;
    int64_t waitsince;         /* real ns when it parked */
    gort__m *lockedm;          /* M it is wired to, or NULL */
    uint32_t lockcount;        /* gort_lock_thread nesting */
    bool foreign;              /* the G of a thread gort did not start */
    bool interruptible;        /* foreign: signals end cancelable parks;
                                * owner: its thread */
    bool preempt;              /* ran > 10 ms without yielding */
    _Atomic uint32_t parkkey;  /* foreign G: futex word for parking */
    gort_timer sleeptimer;     /* for gort_sleep */
    gort_timer semtimer;       /* for gort_sem_acquire_until */
    void *semw;                /* its semaphore wait; under root lock */
    uint64_t semgen;           /* that wait's generation */
    int64_t sleepwhen;
    void *asan_fake;           /* sanitizer fiber state */
    void *tsan_fiber;          /* ThreadSanitizer's fiber for this G */
    unsigned vg_stack;         /* valgrind's id for the stack */
    void *createdby;           /* return address in gort_go's caller */
    uint64_t parentid;         /* goid of the G that created it */
};

enum gort__pstatus { PIDLE, PRUNNING, PSYSCALL, PDEAD };

#define RUNQ_SIZE 256

/* A per-P timer heap: a 4-ary min-heap on heap_when. */
typedef struct gort__timers {
    gort__lock_t lock;
    gort_timer **heap;          /* under lock */
    int32_t len, cap;           /* under lock */
    _Atomic int64_t when0;      /* heap[0]'s heap_when, 0 if empty */
    _Atomic int32_t ndeleted;   /* entries marked deleted */
} gort__timers;

struct gort__p {
    int id;
    _Atomic uint32_t status;   /* enum gort__pstatus */
    gort__m *m;                /* owner M; NULL when idle/in syscall */
    gort__p *link;             /* idle list; under sched.lock */
    _Atomic uint32_t schedtick; /* each new time slice; owner writes,
                                 * the monitor reads (relaxed) */
    _Atomic uint32_t syscalltick;
    _Atomic uint32_t switchtick; /* every G switch; as schedtick */
    _Atomic bool preempt;      /* time slice over: runnext inherits no more */

    /* The run queue: lock-free ring, one producer (the owner), many
     * consumers (owner and thieves). */
    _Atomic uint32_t runqhead;
    _Atomic uint32_t runqtail;
    gort_g *_Atomic runq[RUNQ_SIZE];
    gort_g *_Atomic runnext;

    gort_g *gfree;             /* dead Gs with stacks, owner only */
    int32_t gfreecnt;
    gort_g *gbare;             /* dead Gs whose stacks went to others */
    int32_t gbarecnt;

    gort__timers timers;

    /* The monitor's view, owned by it. */
    uint32_t mon_schedtick, mon_switchtick, mon_syscalltick;
    int64_t mon_schedwhen, mon_switchwhen, mon_syscallwhen;
};

enum gort__action {
    ACT_NONE,
    ACT_PARK,       /* gort_park: run commit, then schedule */
    ACT_YIELD,      /* gort_yield: to the global queue */
    ACT_YIELD_LOCAL,/* a handoff: to the local queue's tail */
    ACT_EXIT,       /* the G returned */
    ACT_SYSCALL,    /* exitsyscall found no P */
    ACT_REQUEUE,    /* a direct switch undone: back to runnext */
    ACT_LOCKED_PARK /* unused marker */
};

struct gort__m {
    void *g0sp;                /* scheduler context while a G runs */
    gort_g *curg;              /* G running on this M */
    gort__p *p;                /* attached P */
    gort__p *nextp;            /* P handed to it while sleeping */
    gort__p *oldp;             /* P held before a syscall */
    gort_g *lockedg;           /* G wired to this M */
    bool spinning;             /* looking for work; counted */
    bool foreign;              /* a host thread's M */
    bool exiting;
    gort__note park;           /* sleeps here when idle or locked */
    uint32_t fastrand;
    gort__m *schedlink;        /* idle list; under sched.lock */
    gort__m *alllink;          /* all Ms; under sched.lock */
    pthread_t thread;

    /* What the G asked for when it switched to g0. */
    enum gort__action action;
    gort_commit_fn commit;
    void *commitarg;
    gort_g *prevg;             /* G that switched straight to curg and
                                * left it action to finish; else NULL */

    char *altstack;            /* signal stack for overflow reports */
    size_t altstack_size;
    char *g0stack;             /* foreign M's scheduler stack */
    size_t g0stack_size;
    const void *g0_bottom;     /* sanitizer fiber bounds of g0 */
    size_t g0_size;
    void *asan_fake;
    void *tsan_fiber;          /* the thread's own fiber (g0) */
};

/* A list of Ms, Ps and Gs under sched.lock. */
typedef struct gort__sched {
    gort__lock_t lock;

    gort__m *midle;            /* idle Ms */
    int32_t nmidle;
    int32_t nmidlelocked;      /* Ms sleeping with a locked G */
    int32_t mcount;            /* Ms created (not foreign) */
    gort__m *allm;

    gort__p *pidle;            /* idle Ps */
    _Atomic int32_t npidle;
    _Atomic int32_t nmspinning;

    gort_g *runqhead, *runqtail; /* global run queue */
    _Atomic int32_t runqsize;

    gort__lock_t gflock;        /* global dead G caches */
    gort_g *gfree;              /* with stacks; under gflock */
    _Atomic int32_t ngfree;     /* written under gflock, peeked without */
    gort_g *gbare;              /* without; as gfree */
    _Atomic int32_t ngbare;

    gort__lock_t allglock;
    gort_g *allg;
    _Atomic int64_t ngs;

    _Atomic uint64_t goidgen;
    int32_t nprocs;
    gort__p **allp;
    size_t stack_size;

    _Atomic int64_t coarse_now; /* real ns, stamped by the monitor */
    _Atomic int64_t lastpoll;   /* 0: an M is blocked in the poller */
    _Atomic int64_t polluntil;  /* when that M wakes; 0: never */
    _Atomic int32_t nsyscall;   /* Gs in syscall status */
    _Atomic int32_t nforeign;   /* foreign Gs not parked */

    _Atomic bool running;
    _Atomic bool stopping;
    bool has_main;
    gort_g *maing;
    _Atomic bool main_done;
    _Atomic int64_t dead_since; /* real ns checkdead first saw every G
                                 * asleep, 0 if not; the monitor decides */

    bool virtual_clock;
    _Atomic int64_t vclock;

    pthread_t sysmon;
    bool sysmon_started;
    gort__note sysmon_note;
    _Atomic bool sysmon_wait;
    int64_t schedtrace_ms;
    bool dump_on_sigquit;
    _Atomic bool dump_requested; /* set by the SIGQUIT handler */

    _Atomic int64_t steals;
    _Atomic int64_t long_running;
    _Atomic int64_t handoffs;
    uint64_t gen;               /* bumped each start; stale TLS check */
} gort__sched;

extern gort__sched gort__s;
extern const gort_poller *gort__poller;

/* ------------------------------------------------------------------ */
/* Shared internals. */

gort__m *gort__getm(void);
void gort__casgstatus(gort_g *g, uint32_t from, uint32_t to);

int64_t gort__nanotime(void);

/* Stacks (stack.c). */
int gort__stack_alloc(gort_g *g, size_t size);
void gort__stack_free(gort_g *g);
/* Before a dead G's stack serves another G (sanitizer bookkeeping). */
void gort__stack_recycle(gort_g *g);
/* Stacks mapped and not yet freed. */
int64_t gort__stacks_count(void);
void gort__stacks_fini(void);
int gort__signals_init(void);
void gort__signals_fini(void);
int gort__altstack_init(gort__m *m);
void gort__altstack_fini(gort__m *m);

void gort__wakep(void);
/* Puts the running G at the tail of its P's queue and schedules: the G
 * just readied into runnext runs next. */
void gort__yield_local(void);

/* Timers (timer.c). */
void gort__timers_init(gort__timers *ts);
void gort__timers_fini(gort__timers *ts);
/* Runs ts's due timers; returns its next when (0: none). */
int64_t gort__timers_check(gort__timers *ts, int64_t now);
int64_t gort__timers_count(void);
/* Tells a blocked poller or idle M that a timer now fires at when. */
void gort__wake_for_timer(int64_t when);
/* The earliest timer over all Ps (0: none). */
int64_t gort__timers_earliest(void);

/* Run queue code, for testing.c (proc.c). */
void gort__runqput(gort__p *p, gort_g *g, bool next);
gort_g *gort__runqget(gort__p *p, bool *inherit);
gort_g *gort__runqsteal(gort__p *p, gort__p *p2, bool stealnext);
gort_g *gort__globrunqpop(void);
gort_g *gort__globrunqget(gort__p *p, int32_t max);
void gort__settle(void);
/* Makes this thread's new timers go to ts (NULL: normal). */
void gort__timers_override(gort__timers *ts);

/* Goroutine dumps (dump.c). */
int gort__dump_signal_init(void);
void gort__dump_signal_fini(void);

/* Semaphores (sema.c). */
void gort__sema_init(void);

/* Sanitizer fiber hooks. */
#if defined(__SANITIZE_ADDRESS__)
#define GORT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GORT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORT_TSAN 1
#endif
#endif

#endif
