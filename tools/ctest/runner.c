/*
 * runner.c: runs the tests a library lists in its tests.def.
 *
 * The build compiles this file once per library, with -I<lib>/test, so
 * the tests.def included below is that library's list, and links it
 * with the library's test files into build/<variant>/<lib>_tests.
 *
 *     <lib>_tests                 run every test
 *     <lib>_tests NAME...         run the tests matching these names
 *                                 (shell wildcards allowed)
 *     <lib>_tests --list          print the names
 *     <lib>_tests --run NAME      run one test in this process
 *
 * Each test runs in a process of its own: the runner forks, and the
 * child execs the runner again with --run NAME. Exec rather than a bare
 * fork gives every test a fresh address space with no runtime state and
 * no threads inherited from earlier tests. The child is the leader of a
 * new process group, so a timeout can kill it together with anything it
 * forked.
 *
 * The child's stdout and stderr go to anonymous memory files, not
 * pipes. With a pipe, a grandchild that inherited the write end would
 * keep the runner waiting for an end of file that never comes, and a
 * test that writes more than a pipe holds would block while the runner
 * waits for it to exit. A file has neither problem: the runner reads it
 * back once the test is over.
 *
 * The runner makes itself a child subreaper, so whatever a test forks
 * and leaves behind is reparented to the runner rather than to init.
 * After each test it kills the test's process group and reaps every
 * child it has: a test leaves neither a process nor a zombie behind. A
 * grandchild that moved itself to another process group (setsid) is out
 * of reach of the group kill; it is reaped when it exits.
 *
 * Waiting is sigtimedwait on SIGCHLD, which the runner keeps blocked
 * (and the child unblocks before exec), so the deadline is exact and
 * nothing polls.
 */
#include "gort_test.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_CASE(name, timeout) TEST(name);
#define DEATH_CASE(name, timeout, expect) TEST(name);
#include "tests.def"
#undef TEST_CASE
#undef DEATH_CASE

struct test_case {
    const char *name;
    void (*fn)(void);
    double timeout;     /* seconds, before GORT_TEST_TIMEOUT_SCALE */
    const char *expect; /* a DEATH_CASE's stderr substring, else NULL */
};

static const struct test_case cases[] = {
#define TEST_CASE(name, timeout) {#name, gtest_##name, (timeout), NULL},
#define DEATH_CASE(name, timeout, expect)                                      \
    {#name, gtest_##name, (timeout), (expect)},
#include "tests.def"
#undef TEST_CASE
#undef DEATH_CASE
    {NULL, NULL, 0, NULL},
};

/* Captured output beyond this is not read back. */
#define MAX_CAPTURE (16 << 20)
/* A failure shows at most this much of a test's output. */
#define MAX_SHOWN (32 << 10)

/* The process group of the running test, for the signal handler. */
static volatile sig_atomic_t current_pgid;

/* What became of one test process. */
struct outcome {
    int status; /* from waitpid, when !timed_out */
    bool timed_out;
    double seconds;
    char *out; /* captured stdout, NUL-terminated */
    size_t out_len;
    char *err; /* captured stderr, NUL-terminated */
    size_t err_len;
};

/* ------------------------------------------------------------------ */
/* The half that runs inside the test process. */

void gtest__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

double gtest_scale(void)
{
    const char *s = getenv("GORT_TEST_TIMEOUT_SCALE");
    char *end;
    double v;

    if (s == NULL || *s == '\0')
        return 1.0;
    v = strtod(s, &end);
    if (*end != '\0' || !(v > 0))
        return 1.0;
    return v;
}

static const struct test_case *find_case(const char *name)
{
    for (const struct test_case *tc = cases; tc->name != NULL; tc++)
        if (strcmp(tc->name, name) == 0)
            return tc;
    return NULL;
}

static int run_in_process(const char *name)
{
    const struct test_case *tc = find_case(name);

    if (tc == NULL) {
        fprintf(stderr, "no test named %s\n", name);
        return 2;
    }

    /* Unbuffered, so that output written before a crash is not lost. */
    setvbuf(stdout, NULL, _IONBF, 0);
    tc->fn();
    return 0;
}

/* ------------------------------------------------------------------ */
/* The half that supervises. */

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "runner: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void on_fatal_signal(int sig)
{
    pid_t pg = current_pgid;

    if (pg > 0)
        kill(-pg, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void setup_supervisor(void)
{
    struct sigaction sa;
    sigset_t chld;

    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        die("prctl(PR_SET_CHILD_SUBREAPER)");

    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0)
        die("sigprocmask");

    /* An interrupted runner takes the running test down with it. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* In the forked child: becomes the test process. Never returns. */
static void exec_test(const char *name, int out_fd, int err_fd)
{
    sigset_t none;
    int null_fd;
    char *argv[] = {(char *)"gort-test", (char *)"--run", (char *)name, NULL};

    setpgid(0, 0);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);

    null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
        dup2(err_fd, 2) < 0)
        _exit(126);

    /* /proc/self/exe is this very program even if its path changed. */
    execv("/proc/self/exe", argv);
    dprintf(2, "runner: exec: %s\n", strerror(errno));
    _exit(127);
}

/*
 * Waits for the test process until the deadline, then kills its group
 * and reaps it. The process is only reaped after the group kill: while
 * it is an unreaped zombie its pid, which is the group's id, cannot be
 * reused, so the kill cannot reach an unrelated process.
 */
static void wait_test(pid_t pid, double deadline, struct outcome *oc)
{
    sigset_t chld;

    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        siginfo_t si;
        double left;
        struct timespec ts;

        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
            errno != EINTR)
            die("waitid");
        if (si.si_pid == pid)
            break;

        left = deadline - now_seconds();
        if (left <= 0) {
            oc->timed_out = true;
            break;
        }
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        /* Any SIGCHLD (an orphan's too) only means: look again. */
        sigtimedwait(&chld, NULL, &ts);
    }

    kill(-pid, SIGKILL);
    while (waitpid(pid, &oc->status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
}

/* Reaps what is left of the test's group, and any other orphan. */
static void reap_leftovers(pid_t pgid)
{
    int st;

    while (waitpid(-pgid, &st, 0) > 0 || errno == EINTR)
        ;
    while (waitpid(-1, &st, WNOHANG) > 0)
        ;
}

static char *read_back(int fd, size_t *len)
{
    off_t size = lseek(fd, 0, SEEK_END);
    size_t want, got = 0;
    char *buf;

    if (size < 0)
        die("lseek");
    want = (size_t)size < MAX_CAPTURE ? (size_t)size : MAX_CAPTURE;
    buf = malloc(want + 1);
    if (buf == NULL)
        die("malloc");
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

static void run_child(const struct test_case *tc, struct outcome *oc)
{
    int out_fd = memfd_create("gort-test-stdout", MFD_CLOEXEC);
    int err_fd = memfd_create("gort-test-stderr", MFD_CLOEXEC);
    double start, deadline;
    pid_t pid;

    if (out_fd < 0 || err_fd < 0)
        die("memfd_create");

    memset(oc, 0, sizeof(*oc));
    fflush(stdout);
    start = now_seconds();
    deadline = start + tc->timeout * gtest_scale();
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        exec_test(tc->name, out_fd, err_fd);

    /* Also here, so the group exists before any kill(-pid). */
    setpgid(pid, pid);
    current_pgid = pid;
    wait_test(pid, deadline, oc);
    oc->seconds = now_seconds() - start;
    reap_leftovers(pid);
    current_pgid = 0;

    oc->out = read_back(out_fd, &oc->out_len);
    oc->err = read_back(err_fd, &oc->err_len);
    close(out_fd);
    close(err_fd);
}

/* Decides pass or fail; on failure writes the reason into why. */
static bool judge(const struct test_case *tc, const struct outcome *oc,
                  char *why, size_t n)
{
    const int st = oc->status;
    bool died = WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0);

    if (oc->timed_out) {
        snprintf(why, n, "timed out after %.1fs", oc->seconds);
        return false;
    }
    if (tc->expect == NULL) {
        if (WIFSIGNALED(st))
            snprintf(why, n, "killed by signal %d (%s)", WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
        else if (WEXITSTATUS(st) != 0)
            snprintf(why, n, "exited with status %d", WEXITSTATUS(st));
        return !died;
    }
    if (!died) {
        snprintf(why, n, "exited normally; expected to die with \"%s\"",
                 tc->expect);
        return false;
    }
    if (memmem(oc->err, oc->err_len, tc->expect, strlen(tc->expect)) == NULL) {
        snprintf(why, n, "died, but stderr lacks \"%s\"", tc->expect);
        return false;
    }
    return true;
}

static void show_capture(const char *label, const char *buf, size_t len)
{
    const char *p = buf;
    bool line_start = true;

    if (len == 0)
        return;
    printf("    --- %s", label);
    if (len > MAX_SHOWN) {
        const char *nl;

        /* The end of the output is where the failure is. */
        printf(" (the end of %zu bytes)", len);
        p = buf + len - MAX_SHOWN;
        nl = memchr(p, '\n', MAX_SHOWN);
        if (nl != NULL && nl + 1 < buf + len)
            p = nl + 1;
        len = (size_t)(buf + len - p);
    }
    printf("\n");
    for (size_t i = 0; i < len; i++) {
        if (line_start)
            fputs("    ", stdout);
        putchar(p[i]);
        line_start = p[i] == '\n';
    }
    if (!line_start)
        putchar('\n');
}

static bool run_one(const struct test_case *tc)
{
    struct outcome oc;
    char why[512] = "";
    const char *verdict;
    bool ok;

    run_child(tc, &oc);
    ok = judge(tc, &oc, why, sizeof(why));
    verdict = ok ? "ok" : oc.timed_out ? "TIMEOUT" : "FAIL";
    printf("%-7s %-52s %8.3fs\n", verdict, tc->name, oc.seconds);
    if (!ok) {
        printf("    %s\n", why);
        show_capture("stderr", oc.err, oc.err_len);
        show_capture("stdout", oc.out, oc.out_len);
    }
    fflush(stdout);
    free(oc.out);
    free(oc.err);
    return ok;
}

static bool selected(const char *name, char **pats, int npats)
{
    if (npats == 0)
        return true;
    for (int i = 0; i < npats; i++)
        if (fnmatch(pats[i], name, 0) == 0)
            return true;
    return false;
}

static void usage(FILE *f, const char *argv0)
{
    fprintf(f,
            "usage: %s [--list] [--run NAME] [NAME...]\n"
            "  NAME may use shell wildcards; GORT_TEST_TIMEOUT_SCALE\n"
            "  multiplies every timeout.\n",
            argv0);
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    bool list = false;
    char **pats = argv + 1;
    int npats = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--run") == 0) {
            if (i + 1 >= argc) {
                usage(stderr, argv[0]);
                return 2;
            }
            return run_in_process(argv[i + 1]);
        } else if (strcmp(argv[i], "--list") == 0) {
            list = true;
        } else if (strcmp(argv[i], "-h") == 0 ||
                   strcmp(argv[i], "--help") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr, argv[0]);
            return 2;
        } else {
            pats[npats++] = argv[i];
        }
    }

    /* A name that matches nothing is a typo, not an empty success. */
    for (int i = 0; i < npats; i++) {
        bool any = false;

        for (const struct test_case *tc = cases; tc->name != NULL; tc++)
            any = any || fnmatch(pats[i], tc->name, 0) == 0;
        if (!any) {
            fprintf(stderr, "no test matches %s\n", pats[i]);
            return 2;
        }
    }

    if (list) {
        for (const struct test_case *tc = cases; tc->name != NULL; tc++)
            if (selected(tc->name, pats, npats))
                printf("%s\n", tc->name);
        return 0;
    }

    setup_supervisor();
    for (const struct test_case *tc = cases; tc->name != NULL; tc++) {
        if (!selected(tc->name, pats, npats))
            continue;
        if (run_one(tc))
            passed++;
        else
            failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
