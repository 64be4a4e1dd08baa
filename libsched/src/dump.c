/*
 * dump.c: goroutine dumps, on request and on SIGQUIT.
 *
 * A dump walks allgs under allglock and prints what each G is doing.
 * The SIGQUIT handler only sets a flag: walking the G list takes a lock
 * the interrupted thread may hold. The monitor thread, which wakes at
 * least every 10 ms, sees the flag and writes the dump to stderr.
 *
 * Symbols come from dladdr, which knows the dynamic symbol table only:
 * a function in a program linked without -rdynamic shows as its module
 * and offset, which addr2line turns into a line.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

/* A dump reads Gs that run meanwhile: a snapshot that may be a little
 * stale, by design. ThreadSanitizer is told to ignore those reads. */
#ifdef GORT_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
#define IGNORE_READS_BEGIN() AnnotateIgnoreReadsBegin(__FILE__, __LINE__)
#define IGNORE_READS_END() AnnotateIgnoreReadsEnd(__FILE__, __LINE__)
#else
#define IGNORE_READS_BEGIN() ((void)0)
#define IGNORE_READS_END() ((void)0)
#endif

static const char *const status_names[GORT_GNSTATUS] = {
    "idle", "runnable", "running", "syscall", "waiting", "dead"};

static const char *const reason_names[GORT_WAIT_NREASONS] = {
    "", "sleep", "semacquire", "IO wait", "select", "wait"};

/* A growable text buffer; on allocation failure it stops growing and
 * the dump reports -ENOMEM. */
typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void bprintf(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bprintf(buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* "name+0x12" or "module+0x1234" or the bare address. */
static void symbolise(const void *addr, char *out, size_t n)
{
    Dl_info info;
    if (addr && dladdr(addr, &info)) {
        if (info.dli_sname) {
            snprintf(out, n, "%s+0x%lx", info.dli_sname,
                     (unsigned long)((const char *)addr -
                                     (const char *)info.dli_saddr));
            return;
        }
        if (info.dli_fname) {
            const char *base = strrchr(info.dli_fname, '/');
            snprintf(out, n, "%s+0x%lx", base ? base + 1 : info.dli_fname,
                     (unsigned long)((const char *)addr -
                                     (const char *)info.dli_fbase));
            return;
        }
    }
    snprintf(out, n, "%p", addr);
}

/* JSON strings here are symbol names and fixed words; escape the few
 * characters that could still appear. */
static void json_str(buf *b, const char *s)
{
    bprintf(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            bprintf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            bprintf(b, "\\u%04x", *s);
        else
            bprintf(b, "%c", *s);
    }
    bprintf(b, "\"");
}

static void dump_g(buf *b, gort_g *g, int64_t now, bool json, bool first)
{
    uint32_t st = atomic_load(&g->status);
    const char *status = st < GORT_GNSTATUS ? status_names[st] : "corrupt";
    const char *why = "";
    int64_t waited = 0;
    char entry[256], creator[256];

    if (st == GORT_GWAITING) {
        why = g->waitreason < GORT_WAIT_NREASONS
                  ? reason_names[g->waitreason] : "wait";
        waited = now - g->waitsince;
        if (waited < 0)
            waited = 0;
    }
    if (g->foreign) {
        snprintf(entry, sizeof entry, "(foreign thread)");
        snprintf(creator, sizeof creator, "(none)");
    } else {
        symbolise((const void *)(uintptr_t)g->fn, entry, sizeof entry);
        symbolise(g->createdby, creator, sizeof creator);
    }

    if (!json) {
        bprintf(b, "goroutine %llu [%s", (unsigned long long)g->goid,
                st == GORT_GWAITING ? why : status);
        if (g->lockedm)
            bprintf(b, ", locked to thread");
        if (st == GORT_GWAITING)
            bprintf(b, ", %lld ms", (long long)(waited / 1000000));
        bprintf(b, "]: entry %s, created by goroutine %llu at %s\n", entry,
                (unsigned long long)g->parentid, creator);
        return;
    }
    bprintf(b, "%s\n  {\"id\": %llu, \"status\": ", first ? "" : ",",
            (unsigned long long)g->goid);
    json_str(b, status);
    bprintf(b, ", \"wait_reason\": ");
    json_str(b, why);
    bprintf(b, ", \"waited_ns\": %lld, \"locked\": %s, \"foreign\": %s, "
               "\"entry\": ",
            (long long)waited, g->lockedm ? "true" : "false",
            g->foreign ? "true" : "false");
    json_str(b, entry);
    bprintf(b, ", \"created_by\": ");
    json_str(b, creator);
    bprintf(b, ", \"parent\": %llu}", (unsigned long long)g->parentid);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int gort_dump(int fd, bool json)
{
    if (fd < 0)
        return -EBADF;
    if (!atomic_load(&gort__s.running))
        return -ESRCH;

    int64_t now = atomic_load(&gort__s.coarse_now);
    buf b = {0};
    bool first = true;

    if (json)
        bprintf(&b, "{\"goroutines\": [");
    gort__lock(&gort__s.allglock);
    IGNORE_READS_BEGIN();
    for (gort_g *g = gort__s.allg; g; g = g->alllink) {
        if (atomic_load(&g->status) == GORT_GDEAD)
            continue;
        dump_g(&b, g, now, json, first);
        first = false;
    }
    IGNORE_READS_END();
    gort__unlock(&gort__s.allglock);
    if (json)
        bprintf(&b, "\n]}\n");

    int rc = b.oom ? -ENOMEM : write_all(fd, b.p ? b.p : "", b.len);
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------ */

static struct sigaction old_quit;
static bool quit_installed;

static void quit_handler(int sig)
{
    (void)sig;
    atomic_store(&gort__s.dump_requested, true);
}

int gort__dump_signal_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = quit_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGQUIT, &sa, &old_quit) != 0)
        return -errno;
    quit_installed = true;
    return 0;
}

void gort__dump_signal_fini(void)
{
    if (!quit_installed)
        return;
    sigaction(SIGQUIT, &old_quit, NULL);
    quit_installed = false;
}
