/*
 * stack.c: goroutine stacks and the stack overflow report.
 *
 * Each G's stack is its own mmap: a PROT_NONE guard region at the low
 * end, then the usable stack. A G that overflows touches the guard and
 * takes SIGSEGV; the handler runs on the M's alternate signal stack,
 * sees that the fault address lies in (or just below) the running G's
 * guard, prints which goroutine overflowed and aborts. Any other fault
 * goes to the handler that was installed before ours, or to the default
 * action, so crashes elsewhere look as they would without gort.
 *
 * The guard is 64 KiB so that a function with a large frame cannot step
 * over it; it costs address space, not memory. Stacks are reused
 * through the dead-G free lists, so a mapping is made once per G ever
 * live at the same time, not once per spawn.
 *
 * Rejected: checking a canary at each switch (an overflow would already
 * have corrupted whatever lies below), and growable stacks (they need
 * the compiler to cooperate, as Go's does).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GORT_VALGRIND 1
#endif
#endif
#ifdef GORT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Tells valgrind (when the program runs under it) and ThreadSanitizer
 * about a G's stack, so that switching onto it is not mistaken for a
 * wild stack pointer, and each G has its own fiber. */
static void tools_stack_new(gort_g *g)
{
#ifdef GORT_VALGRIND
    g->vg_stack = VALGRIND_STACK_REGISTER(g->stack_lo, g->stack_hi);
#endif
#ifdef GORT_TSAN
    g->tsan_fiber = __tsan_create_fiber(0);
#endif
    (void)g;
}

/* A dead G's stack is about to serve a new G. ThreadSanitizer keeps a
 * shadow call stack per fiber, and a G never returns from its entry
 * function: reused as it is, the fiber's shadow stack would grow by a
 * frame or two with every G it served. Give the stack a fresh fiber. */
void gort__stack_recycle(gort_g *g)
{
#ifdef GORT_TSAN
    if (g->tsan_fiber) {
        __tsan_destroy_fiber(g->tsan_fiber);
        g->tsan_fiber = __tsan_create_fiber(0);
    }
#endif
    (void)g;
}

static void tools_stack_free(gort_g *g)
{
#ifdef GORT_VALGRIND
    VALGRIND_STACK_DEREGISTER(g->vg_stack);
#endif
#ifdef GORT_TSAN
    if (g->tsan_fiber)
        __tsan_destroy_fiber(g->tsan_fiber);
    g->tsan_fiber = NULL;
#endif
    (void)g;
}

#define GUARD_SIZE (64 * 1024)
#define ALTSTACK_SIZE (64 * 1024)

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) & ~(pg - 1);
}

/* Stacks are carved from slabs of SLAB_STACKS each: one mapping per
 * slab, with each stack's guard installed by madvise(MADV_GUARD_INSTALL)
 * (Linux 6.13), which faults like PROT_NONE but does not split the
 * mapping. mprotect'ed guards would cost two mappings per stack, and
 * the default vm.max_map_count (65530) would cap live Gs near 32,000.
 * On an older kernel each stack gets its own mapping and an mprotect'ed
 * guard, and that cap applies. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#define SLAB_STACKS 64

typedef struct slab {
    struct slab *next;
    char *base;
    size_t size;
} slab;

static gort__lock_t slab_lock;
static slab *slabs;          /* under slab_lock */
static char *slab_next;      /* next free stack in the newest slab */
static size_t slab_left;     /* stacks left there */
static size_t slab_stride;
static int guard_mode;       /* 0 unknown, 1 madvise, 2 mprotect */
static _Atomic int64_t nstacks;

static int stack_alloc_own(gort_g *g, size_t size)
{
    size_t total = size + GUARD_SIZE;
    char *base = mmap(NULL, total, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                      -1, 0);
    if (base == MAP_FAILED)
        return -errno;

    if (mprotect(base, GUARD_SIZE, PROT_NONE) != 0) {
        int err = -errno;
        munmap(base, total);
        return err;
    }

    g->stack_map = base;
    g->map_size = total;
    g->stack_lo = base + GUARD_SIZE;
    g->stack_hi = base + total;
    tools_stack_new(g);
    atomic_fetch_add(&nstacks, 1);
    return 0;
}

static int slab_grow(size_t stride)
{
    size_t size = stride * SLAB_STACKS;
    slab *sl = malloc(sizeof *sl);
    if (!sl)
        return -ENOMEM;
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                      -1, 0);
    if (base == MAP_FAILED) {
        free(sl);
        return -errno;
    }
    for (size_t i = 0; i < SLAB_STACKS; i++) {
        if (madvise(base + i * stride, GUARD_SIZE, MADV_GUARD_INSTALL)) {
            int err = -errno;
            munmap(base, size);
            free(sl);
            return err;
        }
    }
    sl->base = base;
    sl->size = size;
    sl->next = slabs;
    slabs = sl;
    slab_next = base;
    slab_left = SLAB_STACKS;
    slab_stride = stride;
    return 0;
}

int gort__stack_alloc(gort_g *g, size_t size)
{
    size = page_round(size);
    size_t stride = size + GUARD_SIZE;

    gort__lock(&slab_lock);
    if (guard_mode != 2 && (slab_left == 0 || slab_stride != stride)) {
        int rc = slab_grow(stride);
        if (rc == -EINVAL && guard_mode == 0)
            guard_mode = 2; /* no guard regions on this kernel */
        else if (rc) {
            gort__unlock(&slab_lock);
            return rc;
        } else
            guard_mode = 1;
    }
    if (guard_mode == 2) {
        gort__unlock(&slab_lock);
        return stack_alloc_own(g, size);
    }
    char *base = slab_next;
    slab_next += stride;
    slab_left--;
    gort__unlock(&slab_lock);

    g->stack_map = base;
    g->map_size = 0; /* owned by its slab */
    g->stack_lo = base + GUARD_SIZE;
    g->stack_hi = base + stride;
    tools_stack_new(g);
    atomic_fetch_add(&nstacks, 1);
    return 0;
}

int64_t gort__stacks_count(void)
{
    return atomic_load(&nstacks);
}

void gort__stack_free(gort_g *g)
{
    if (g->stack_map) {
        tools_stack_free(g);
        atomic_fetch_sub(&nstacks, 1);
    }
    if (g->stack_map && g->map_size)
        munmap(g->stack_map, g->map_size);
    g->stack_map = g->stack_lo = g->stack_hi = NULL;
}

void gort__stacks_fini(void)
{
    gort__lock(&slab_lock);
    while (slabs) {
        slab *sl = slabs;
        slabs = sl->next;
        munmap(sl->base, sl->size);
        free(sl);
    }
    slab_next = NULL;
    slab_left = 0;
    gort__unlock(&slab_lock);
}

/* ------------------------------------------------------------------ */
/* The SIGSEGV/SIGBUS handler. */

static struct sigaction old_segv, old_bus;
static bool signals_installed;

static void write_str(const char *s)
{
    (void)!write(2, s, strlen(s));
}

static void write_u64(uint64_t v)
{
    char buf[24];
    int i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v && i > 0);
    (void)!write(2, buf + i, sizeof buf - (size_t)i);
}

static bool in_guard(const gort_g *g, const char *addr)
{
    if (g == NULL || g->stack_map == NULL)
        return false;
    /* Anything from the guard up to the stack's low end, and a little
     * below the mapping (a frame that jumped past the guard). */
    return addr >= g->stack_map - GUARD_SIZE && addr < g->stack_lo;
}

static void chain(int sig, siginfo_t *info, void *uctx, struct sigaction *old)
{
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: restore it and let the fault happen again. */
    signal(sig, SIG_DFL);
}

static void fault_handler(int sig, siginfo_t *info, void *uctx)
{
    gort__m *m = gort__getm();
    gort_g *g = m ? m->curg : NULL;

    if (g && in_guard(g, (const char *)info->si_addr)) {
        write_str("gort: fatal error: stack overflow in goroutine ");
        write_u64(g->goid);
        write_str(" (stack size ");
        write_u64((uint64_t)(g->stack_hi - g->stack_lo));
        write_str(" bytes; raise gort_config.stack_size)\n");
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    chain(sig, info, uctx, sig == SIGSEGV ? &old_segv : &old_bus);
}

int gort__signals_init(void)
{
    if (signals_installed)
        return 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old_segv) != 0)
        return -errno;
    if (sigaction(SIGBUS, &sa, &old_bus) != 0)
        return -errno;
    signals_installed = true;
    return 0;
}

void gort__signals_fini(void)
{
    if (!signals_installed)
        return;
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    signals_installed = false;
}

int gort__altstack_init(gort__m *m)
{
    char *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;

    stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        int err = -errno;
        munmap(p, ALTSTACK_SIZE);
        return err;
    }
    m->altstack = p;
    m->altstack_size = ALTSTACK_SIZE;
    return 0;
}

void gort__altstack_fini(gort__m *m)
{
    if (!m->altstack)
        return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(m->altstack, m->altstack_size);
    m->altstack = NULL;
}
