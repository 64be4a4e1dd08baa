/*
 * gort_sched.h: goroutines on a G/M/P work-stealing scheduler.
 *
 * The public surface of libsched. It needs only libc and pthreads.
 *
 *   G  a goroutine: a C function with its own mmap'd stack.
 *   M  an OS thread that runs Gs. Each M has a scheduler stack (g0).
 *   P  a processor: the right to run Gs, with a run queue and timers.
 *
 * Conventions: functions that can fail return 0 or a negative errno.
 * Times are absolute monotonic nanoseconds (int64_t) on gort_now()'s
 * clock; durations are nanoseconds.
 *
 * Where a G can be switched out: scheduling is cooperative. A G leaves
 * its M only inside gort_yield(), gort_park() (and what is built on it:
 * sleeps, semaphores, mutexes, wait groups, and libpoll/libnet waits)
 * and gort_exitsyscall() when its P was taken while it blocked. A G
 * that loops without calling any of these keeps its P; the monitor
 * thread notices after 10 ms and counts it (gort_stats.long_running),
 * and gort_yield() gives the P away when asked.
 */
#ifndef GORT_SCHED_H
#define GORT_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GORT_VERSION "0.1.0"

typedef struct gort_g gort_g;
typedef void (*gort_fn)(void *arg);

/* Runtime configuration. Zero fields take defaults (and the
 * environment: GORT_PROCS, GORT_DEBUG=schedtrace=MS). */
typedef struct gort_config {
    int procs;          /* number of Ps; 0: GORT_PROCS or online CPUs */
    size_t stack_size;  /* usable stack bytes per G; 0: 256 KiB;
                         * from 16 KiB to 1 GiB */
    bool virtual_clock; /* time advances only when every G is blocked */
    int64_t schedtrace_ms; /* >0: one summary line on stderr per period */
    bool dump_on_sigquit;  /* SIGQUIT writes a goroutine dump to stderr */
} gort_config;

#define GORT_DEFAULT_STACK_SIZE (256 * 1024)
#define GORT_MIN_STACK_SIZE (16 * 1024)
#define GORT_MAX_STACK_SIZE ((size_t)1 << 30) /* larger: -EINVAL */
#define GORT_MAX_PROCS 256

/* Runs fn(arg) as the main goroutine and returns when it returns, after
 * every runtime thread has been joined and every stack freed. Gs still
 * alive then are discarded. Returns 0, or a negative errno if the
 * runtime could not start: -EBUSY (already running), -EINVAL (bad
 * config), -ENOMEM. Functions below that take an object ignore a NULL
 * one, except the semaphore calls, which abort on a NULL address. */
int gort_main(gort_fn fn, void *arg, const gort_config *cfg);

/* Starts the runtime without a main goroutine, for hosts (such as the
 * Python binding) whose own threads call in as foreign threads.
 * gort_stop() ends it; it must be called from a thread that is not
 * running a G. */
int gort_start(const gort_config *cfg);
void gort_stop(void);
bool gort_running(void);

/* Creates a goroutine running fn(arg); it is put in the caller's P's
 * runnext-free run queue (or the global queue from a thread without a
 * P). Returns 0 or -ENOMEM. */
int gort_go(gort_fn fn, void *arg);

/* Gives up the P: the current G goes to the global run queue. */
void gort_yield(void);

/* The running G (a foreign thread gets its own G on first use), its id
 * and the number of Ps. */
gort_g *gort_self(void);
uint64_t gort_goid(const gort_g *g);
int gort_procs(void);

/* ------------------------------------------------------------------ */
/* Parking. */

/* Why a G waits, for stats and goroutine dumps. */
enum gort_wait_reason {
    GORT_WAIT_NONE,
    GORT_WAIT_SLEEP,
    GORT_WAIT_SEMACQUIRE,
    GORT_WAIT_IO,
    GORT_WAIT_SELECT,
    GORT_WAIT_OTHER,
    GORT_WAIT_NREASONS
};

/* Called by gort_park after the G has left its M (status waiting) and
 * before the M runs anything else, in scheduler context (no current G:
 * gort_self() is NULL). It runs on the M's scheduler stack, or, when
 * the park switches straight to the G in runnext, at the top of that
 * G's stack: keep it short, and never block or park in it. Returning
 * false resumes the G at once. */
typedef bool (*gort_commit_fn)(gort_g *g, void *arg);

/* Parks the current G until gort_ready(g). commit may be NULL. */
void gort_park(gort_commit_fn commit, void *arg, enum gort_wait_reason why);

/* Takes a parked G back from whatever would ready it (a pollDesc, a
 * queue), so that nobody will. Returns false if it is too late: a
 * wake-up is already on its way. */
typedef bool (*gort_cancel_fn)(gort_g *g, void *arg);

/* gort_park, with a way out for a host thread that must run its own
 * signal handlers (Python runs them only on its main thread, between
 * bytecodes). When a signal interrupts the sleep of a thread marked by
 * gort_set_interruptible, cancel(g, arg) runs on that thread; if it
 * returns true the park ends at once and returns -EINTR. Otherwise, and
 * for every goroutine and unmarked thread, it is gort_park and returns
 * 0 once readied. */
int gort_park_cancelable(gort_commit_fn commit, void *arg,
                         enum gort_wait_reason why, gort_cancel_fn cancel);

/* Marks (or unmarks) the calling host thread as one whose cancelable
 * waits a signal interrupts. Does nothing on a goroutine. */
void gort_set_interruptible(bool on);

/* Makes a waiting G runnable: in the current P's runnext (it inherits
 * the time slice), or the global queue from a thread without a P. */
void gort_ready(gort_g *g);

/* A list of Gs, threaded through the Gs themselves. */
typedef struct gort_glist {
    gort_g *head;
    gort_g *tail;
    int n;
} gort_glist;

void gort_glist_push(gort_glist *l, gort_g *g);
/* Readies every G in l (for a poller's batch of wake-ups). */
void gort_ready_list(gort_glist *l);

/* ------------------------------------------------------------------ */
/* Time and timers. */

int64_t gort_now(void);           /* monotonic (or virtual) ns */
int64_t gort_nanotime_real(void); /* CLOCK_MONOTONIC, never virtual */
void gort_sleep(int64_t ns);
void gort_sleep_until(int64_t when);

/* Called from the scheduler loop on a scheduler stack, with no lock
 * held. It must not park; it may call gort_ready. seq is the value
 * given when the timer was set; delay is how late it runs (ns). */
typedef void (*gort_timer_fn)(void *arg, uintptr_t seq, int64_t delay);

/* A timer. Embed it anywhere; all fields are private. It must stay
 * valid while it is set and while its function may be running. */
typedef struct gort_timer {
    uint32_t lock;
    uint8_t active;     /* set and not deleted; under lock */
    uint8_t del_counted; /* counted in its heap's ndeleted; heap lock */
    uint8_t pad[2];
    int64_t when;       /* under lock */
    int64_t period;     /* under lock */
    gort_timer_fn fn;   /* under lock */
    void *arg;          /* under lock */
    uintptr_t seq;      /* under lock */
    void *heap;         /* owning heap, or NULL; under that heap's lock */
    int64_t heap_when;  /* key in the owning heap; under that lock */
    int32_t heap_idx;   /* slot in the owning heap; under that lock */
} gort_timer;

#define GORT_TIMER_INIT {0}

/* Sets (or resets) t to fire at when, then every period ns if period
 * > 0. when <= now fires as soon as the scheduler looks; a huge when
 * simply never fires. */
void gort_timer_set(gort_timer *t, int64_t when, int64_t period,
                    gort_timer_fn fn, void *arg, uintptr_t seq);
/* Changes when (and period) of a timer, set or not. */
void gort_timer_modify(gort_timer *t, int64_t when, int64_t period);
/* Stops t. Deletion only marks; the owning P removes it from its heap.
 * Returns true if t was set and had not yet fired. fn may be running
 * on another M when this returns. */
bool gort_timer_del(gort_timer *t);

/* ------------------------------------------------------------------ */
/* Blocking calls. */

/* Brackets a call that may block the thread. While inside, the monitor
 * may hand this M's P to another M; gort_exitsyscall gets a P back,
 * waiting for one if needed. Harmless on a thread without a G. */
void gort_entersyscall(void);
void gort_exitsyscall(void);

/* Wires the current G to its thread until the matching unlock: it runs
 * only on this M, and this M runs only it. Nests. */
void gort_lock_thread(void);
void gort_unlock_thread(void);

/* ------------------------------------------------------------------ */
/* Semaphore, mutex, wait group (Go's runtime sema and sync). */

/* Waits until *addr > 0, then decrements it. */
void gort_sem_acquire(uint32_t *addr);
/* Like acquire, but gives up at deadline (absolute ns; 0: never).
 * Returns 0 or -ETIMEDOUT. */
int gort_sem_acquire_until(uint32_t *addr, int64_t deadline);
/* Increments *addr and wakes one waiter, if any. With handoff the
 * woken G runs next on this P and this G yields to it. */
void gort_sem_release(uint32_t *addr, bool handoff);

typedef struct gort_mutex {
    uint32_t state;
    uint32_t sema;
} gort_mutex;
#define GORT_MUTEX_INIT {0, 0}
void gort_mutex_lock(gort_mutex *m);
bool gort_mutex_trylock(gort_mutex *m);
void gort_mutex_unlock(gort_mutex *m);

typedef struct gort_waitgroup {
    uint64_t state; /* high 32: count, low 32: waiters */
    uint32_t sema;
} gort_waitgroup;
#define GORT_WAITGROUP_INIT {0, 0}
void gort_wg_add(gort_waitgroup *wg, int delta);
void gort_wg_done(gort_waitgroup *wg);
void gort_wg_wait(gort_waitgroup *wg);

/* ------------------------------------------------------------------ */
/* The poller hook: libpoll installs one; without it, an idle P sleeps
 * on a futex until its next timer. */

typedef struct gort_poller {
    /* delay < 0 blocks until an event or poller_break; 0 does not
     * block; > 0 waits at most delay ns. Adds readied Gs to out. */
    void (*poll)(int64_t delay, gort_glist *out);
    /* Wakes a poll blocked in another thread. */
    void (*wake)(void);
    /* Gs currently parked waiting for the poller. */
    int32_t (*waiters)(void);
} gort_poller;

/* Installs p (NULL removes). Call before the runtime starts. */
void gort_set_poller(const gort_poller *p);

/* ------------------------------------------------------------------ */
/* Introspection. */

enum gort_gstatus {
    GORT_GIDLE,
    GORT_GRUNNABLE,
    GORT_GRUNNING,
    GORT_GSYSCALL,
    GORT_GWAITING,
    GORT_GDEAD,
    GORT_GNSTATUS
};

typedef struct gort_stats {
    int64_t gs[GORT_GNSTATUS]; /* Gs by status */
    int64_t ms;                /* Ms created and alive */
    int64_t spinning_ms;
    int64_t idle_ms;
    int64_t idle_ps;
    int64_t procs;
    int64_t steals;            /* successful steals */
    int64_t global_runq;       /* length of the global run queue */
    int64_t timers;            /* entries in all timer heaps */
    int64_t long_running;      /* times a G ran > 10 ms without yielding */
    int64_t syscall_handoffs;  /* Ps taken from Ms blocked in syscalls */
    int64_t stacks;            /* G stacks mapped: a G gets one when it
                                * first runs, and a dead G's is reused */
} gort_stats;

void gort_get_stats(gort_stats *s);

/* Writes a goroutine dump to fd: one entry per G with its id, status,
 * wait reason, how long it has waited and where it was created (entry
 * function and the caller of gort_go, symbolised when possible). As
 * text, one line per G; as JSON, one object {"goroutines": [...]}.
 * Returns 0 or a negative errno. With gort_config.dump_on_sigquit (or
 * GORT_DEBUG=sigquit=1) SIGQUIT writes the text dump to stderr. */
int gort_dump(int fd, bool json);

#ifdef __cplusplus
}
#endif
#endif
