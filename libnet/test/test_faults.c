/*
 * Faults and bad input: what libnet does when the system says no.
 *
 *   fd exhaustion   Accept fails at once with EMFILE and takes the
 *                   queued connection as soon as one fd is free; the
 *                   tool servers back off (logged, doubling) without
 *                   spinning and serve the queue once fds come back.
 *   peer reset      a blocked read fails with ECONNRESET, a blocked
 *                   write with ECONNRESET and then EPIPE; no SIGPIPE.
 *   dial failures   refused, unreachable (multicast destinations,
 *                   which the kernel refuses before sending anything),
 *                   and a deadline passing while the SYN goes
 *                   unanswered (a listener whose accept queue is full
 *                   drops new SYNs, whatever the SYN cookie setting).
 *   signal storm    queued real-time signals while every G is parked:
 *                   each handled once, every wake-up delivered, every
 *                   timer on time.
 *   bad arguments   NULL handles, buffers and out pointers, lengths
 *                   past SSIZE_MAX, negative sizes, closed handles,
 *                   unknown networks, malformed addresses and ports out
 *                   of range: -1 with a clear error, never a crash.
 *   fork            every fd gort opens is close-on-exec; an exec'd
 *                   child sees none of them; a child that does not
 *                   exec may use inherited fds with plain system calls
 *                   and leaves the parent's runtime alone.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net_test.h"

/* ------------------------------------------------------------------ */
/* Helpers. */

static _Atomic int sigpipes;

static void count_sigpipe(int sig)
{
    (void)sig;
    atomic_fetch_add(&sigpipes, 1);
}

/* SIGPIPE counted rather than ignored: a send without MSG_NOSIGNAL
 * would show up as a nonzero count. */
static void watch_sigpipe(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = count_sigpipe;
    CHECK_EQ(sigaction(SIGPIPE, &sa, NULL), 0);
    atomic_store(&sigpipes, 0);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;

    CHECK(d != NULL);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}

static int64_t pd_in_use(void)
{
    gpoll_cache_stats st;

    gpoll_cache_inspect(&st);
    return st.in_use;
}

/* Lowers the soft fd limit to what is open now plus spare, then uses
 * up every fd below it with dups of fd. Returns how many it took. */
static int exhaust_fds(int fd, int spare, struct rlimit *old, int *fds, int max)
{
    struct rlimit low;
    int n = 0, d;

    CHECK_EQ(getrlimit(RLIMIT_NOFILE, old), 0);
    low = *old;
    low.rlim_cur = 0;
    for (int i = 0; i < 4096; i++)
        if (fcntl(i, F_GETFD) >= 0)
            low.rlim_cur = (rlim_t)i + 1;
    low.rlim_cur += (rlim_t)spare;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (n < max && (d = dup(fd)) >= 0)
        fds[n++] = d;
    CHECK_LT(n, max);
    CHECK_EQ(errno, EMFILE);
    return n;
}

/* ------------------------------------------------------------------ */
/* Open-file exhaustion. */

NET_TEST(emfile_accept_fails_at_once_and_one_free_fd_takes_the_queue)
{
    gnet_listener *l = nt_listen_tcp();
    gnet_conn *c, *s, *d;
    gnet_error err;
    struct rlimit old;
    static int fds[4096];
    char addr[GNET_ADDRSTRLEN], buf[256], want[256];

    nt_addr(gnet_listener_addr(l), addr, sizeof(addr));
    c = nt_dial_to("tcp", gnet_listener_addr(l));
    int n = exhaust_fds(gnet_listener_sysfd(l), 8, &old, fds, 4096);

    /* Accept fails at once, again and again, with the queue intact. */
    for (int i = 0; i < 3; i++) {
        int64_t t0 = gort_now();
        CHECK_EQ(gnet_accept(l, &s, &err), -1);
        CHECK_LT(gort_now() - t0, SLOW_BOUND(200 * MS));
        CHECK(s == NULL);
        CHECK_EQ(err.errnum, EMFILE);
        snprintf(want, sizeof(want),
                 "accept tcp4 %s: accept4: too many open files", addr);
        CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
    }

    /* Dial and listen fail at socket(2) the same way. */
    CHECK_EQ(gnet_dial("tcp", addr, NULL, &d, &err), -1);
    snprintf(want, sizeof(want), "dial tcp %s: socket: too many open files",
             addr);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
    gnet_listener *l2;
    CHECK_EQ(gnet_listen("tcp4", "127.0.0.1:0", NULL, &l2, &err), -1);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)),
                "listen tcp4 127.0.0.1:0: socket: too many open files");

    /* One fd back, limit still low: the queued connection comes in. */
    close(fds[--n]);
    CHECK_OK(gnet_accept(l, &s, &err), &err);
    CHECK_OK(gnet_write(c, "q", 1, &err), &err);
    nt_read_full(s, buf, 1);
    CHECK_EQ(buf[0], 'q');

    while (n > 0)
        close(fds[--n]);
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
    gnet_conn_free(s);
    gnet_conn_free(c);
    gnet_listener_free(l);
}

/* The tool servers are built in the release variant; every test
 * runner sits in build/<variant>/. */
static void tool_path(const char *name, char *out, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    CHECK_GT(n, 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    CHECK(slash != NULL);
    *slash = '\0';
    int k = snprintf(out, size, "%s/../release/%s", self, name);
    CHECK_LT(k, (int)size);
    CHECK_MSG(access(out, X_OK) == 0, "%s missing: build the tools (ninja)",
              out);
}

static double cpu_seconds(pid_t pid)
{
    char path[64], text[1024];
    unsigned long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    CHECK(fgets(text, sizeof(text), f) != NULL);
    fclose(f);
    /* Fields 14 and 15, counted after the ")" that ends the name. */
    char *p = strrchr(text, ')');
    CHECK(p != NULL);
    CHECK_EQ(sscanf(p + 2,
                    "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                    &st),
             2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The server's stderr, read through a non-blocking pipe. */
typedef struct server_log {
    int fd;
    size_t len;
    char text[1 << 16];
} server_log;

static const char *read_log(server_log *lg)
{
    ssize_t r;

    while (lg->len < sizeof(lg->text) - 1 &&
           (r = read(lg->fd, lg->text + lg->len,
                     sizeof(lg->text) - 1 - lg->len)) > 0)
        lg->len += (size_t)r;
    lg->text[lg->len] = '\0';
    return lg->text;
}

static int count_lines(const char *log, const char *needle)
{
    int n = 0;

    for (const char *p = log; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int connect_to(int port)
{
    struct sockaddr_in sin;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK_GE(s, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return s;
}

#define SERVER_FDS 24 /* the server's hard fd limit */
#define CLIENTS 40    /* more than it can take */

/* Runs a tool server with a small hard fd limit, connects more clients
 * than it has fds for, and checks that it backs off (5 ms doubling to
 * 1 s, one log line each) using little CPU, then serves the queued
 * client once the others leave. */
static void server_backs_off(const char *tool, const char *request,
                             const char *reply_prefix)
{
    char path[PATH_MAX];
    static server_log lg;
    int clients[CLIENTS], port = 0, pipefd[2];
    const char *log;

    tool_path(tool, path, sizeof(path));
    CHECK_EQ(pipe2(pipefd, O_CLOEXEC), 0);
    memset(&lg, 0, sizeof(lg));
    lg.fd = pipefd[0];
    CHECK_EQ(fcntl(lg.fd, F_SETFL, O_NONBLOCK), 0);

    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {SERVER_FDS, SERVER_FDS};
        dup2(pipefd[1], 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        setrlimit(RLIMIT_NOFILE, &rl);
        execl(path, tool, "-l", "127.0.0.1:0", "-p", "1", "-r", "60", NULL);
        _exit(127);
    }
    close(pipefd[1]);

    /* "listening on 127.0.0.1:PORT with 1 procs" */
    const char *at = "listening on 127.0.0.1:";
    for (int i = 0; i < 500 && port == 0; i++) {
        const char *p = strstr(read_log(&lg), at);
        if (p != NULL)
            port = atoi(p + strlen(at));
        else
            sleep_ms(10);
    }
    CHECK_MSG(port > 0, "%s did not start: %s", tool, lg.text);

    for (int i = 0; i < CLIENTS; i++)
        clients[i] = connect_to(port);
    for (int i = 0; i < 300 && !strstr(read_log(&lg), "retrying"); i++)
        sleep_ms(10);
    log = read_log(&lg);
    CHECK_MSG(strstr(log, "retrying accept in 5 ms: accept tcp ") != NULL,
              "%s: no back-off: %s", tool, log);
    CHECK(strstr(log, "accept4: too many open files") != NULL);

    /* Exhausted for 2 s: a spinning accept loop would burn 2 s of CPU;
     * backing off costs a few retries. */
    double cpu0 = cpu_seconds(pid);
    sleep_ms(2000);
    double used = cpu_seconds(pid) - cpu0;
    CHECK_MSG(used < 0.2 * gtest_scale(), "%s used %.3f s of CPU in 2 s", tool,
              used);
    log = read_log(&lg);
    int retries = count_lines(log, "retrying accept");
    CHECK_GE(retries, 5);
    CHECK_LE(retries, 20);
    CHECK(strstr(log, "retrying accept in 640 ms") != NULL);

    /* The first clients leave; the last one, still queued, is served
     * after the next retry (at most 1 s away). */
    for (int i = 0; i < CLIENTS - 1; i++)
        close(clients[i]);
    int last = clients[CLIENTS - 1];
    size_t rl = strlen(request);
    CHECK_EQ(write(last, request, rl), (ssize_t)rl);
    char reply[512];
    size_t want = strlen(reply_prefix), got = 0;
    while (got < want) {
        ssize_t r = read(last, reply + got, sizeof(reply) - 1 - got);
        CHECK_MSG(r > 0, "%s: queued client not served (%zd, errno %d)", tool,
                  r, errno);
        got += (size_t)r;
    }
    CHECK_EQ(memcmp(reply, reply_prefix, want), 0);
    close(last);

    int status;
    CHECK_EQ(kill(pid, SIGTERM), 0);
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK(strstr(read_log(&lg), "stopped after") != NULL);
    close(lg.fd);
}

TEST(echo_server_backs_off_on_emfile_without_spinning)
{
    server_backs_off("echo_server", "ping", "ping");
}

TEST(http_hello_backs_off_on_emfile_without_spinning)
{
    server_backs_off("http_hello", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     "HTTP/1.1 200 OK\r\n");
}

/* ------------------------------------------------------------------ */
/* Peer reset. */

typedef struct blocked_io {
    gnet_conn *c;
    bool write;
    ssize_t rc;
    gnet_error err;
    _Atomic int started;
    gort_waitgroup wg;
} blocked_io;

static void blocked_io_g(void *arg)
{
    blocked_io *b = arg;
    static char big[1 << 22];
    char small[64];

    atomic_store(&b->started, 1);
    if (b->write)
        b->rc = gnet_write(b->c, big, sizeof(big), &b->err);
    else
        b->rc = gnet_read(b->c, small, sizeof(small), &b->err);
    gort_wg_done(&b->wg);
}

static void start_blocked(blocked_io *b, gnet_conn *c, bool write)
{
    memset(b, 0, sizeof(*b));
    b->c = c;
    b->write = write;
    gort_wg_add(&b->wg, 1);
    CHECK_EQ(gort_go(blocked_io_g, b), 0);
    while (!atomic_load(&b->started))
        gort_sleep(MS);
    gort_sleep(50 * MS);
}

static void reset_by_peer(gnet_conn *peer)
{
    gnet_error err;

    CHECK_OK(gnet_set_linger(peer, 0, &err), &err);
    gnet_conn_free(peer); /* RST instead of FIN */
}

NET_TEST(peer_reset_during_blocked_read_is_econnreset_then_eof)
{
    gnet_conn *c, *s;
    gnet_error err;
    blocked_io b;
    char buf[256], want[256];

    watch_sigpipe();
    nt_pair(NULL, &c, &s);
    start_blocked(&b, c, false);
    reset_by_peer(s);
    gort_wg_wait(&b.wg);

    CHECK_EQ(b.rc, -1);
    CHECK_EQ(b.err.cause, GNET_ERRNO);
    CHECK_EQ(b.err.errnum, ECONNRESET);
    CHECK_STREQ(nt_msg(&b.err, buf, sizeof(buf)),
                nt_conn_frame(c, "read", "read: connection reset by peer", want,
                              sizeof(want)));

    /* The reset is reported once; after it the stream has ended. */
    CHECK_EQ(gnet_read(c, buf, sizeof(buf), &err), 0);
    CHECK_EQ(err.cause, GNET_OK);
    CHECK_EQ(atomic_load(&sigpipes), 0);
    gnet_conn_free(c);
}

NET_TEST(peer_reset_during_blocked_write_is_econnreset_then_epipe)
{
    gnet_conn *c, *s;
    gnet_error err;
    blocked_io b;
    char buf[256], want[256];

    watch_sigpipe();
    nt_pair(NULL, &c, &s);
    CHECK_OK(gnet_set_write_buffer(c, 4096, &err), &err);
    CHECK_OK(gnet_set_read_buffer(s, 4096, &err), &err);
    start_blocked(&b, c, true);
    reset_by_peer(s);
    gort_wg_wait(&b.wg);

    CHECK_EQ(b.rc, -1);
    CHECK_EQ(b.err.cause, GNET_ERRNO);
    CHECK_EQ(b.err.errnum, ECONNRESET);
    CHECK_GT(b.err.n, 0); /* some of it went before the reset */
    CHECK_LT(b.err.n, 1 << 22);
    CHECK_STREQ(nt_msg(&b.err, buf, sizeof(buf)),
                nt_conn_frame(c, "write", "write: connection reset by peer",
                              want, sizeof(want)));

    CHECK_EQ(gnet_write(c, "x", 1, &err), -1);
    CHECK_EQ(err.errnum, EPIPE);
    CHECK_EQ(err.n, 0);
    CHECK_STREQ(
        nt_msg(&err, buf, sizeof(buf)),
        nt_conn_frame(c, "write", "write: broken pipe", want, sizeof(want)));
    CHECK_EQ(atomic_load(&sigpipes), 0);
    gnet_conn_free(c);
}

/* ------------------------------------------------------------------ */
/* Dial failures. */

static bool have_ipv6_loopback(void)
{
    struct sockaddr_in6 sin6;
    int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (s < 0)
        return false;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    bool ok = bind(s, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
    close(s);
    return ok;
}

static void check_dial_fails(const char *net, const char *addr, int errnum,
                             const char *text)
{
    gnet_conn *c = (gnet_conn *)1;
    gnet_error err;
    char buf[256], want[256];
    int fds = open_fds();
    int64_t pds = pd_in_use();

    int64_t t0 = gort_now();
    CHECK_EQ(gnet_dial_timeout(net, addr, 10 * SEC, &c, &err), -1);
    CHECK_LT(gort_now() - t0, SLOW_BOUND(SEC));
    CHECK(c == NULL);
    CHECK_EQ(err.cause, GNET_ERRNO);
    CHECK_EQ(err.errnum, errnum);
    CHECK(!gnet_error_is_timeout(&err));
    snprintf(want, sizeof(want), "dial %s %s: connect: %s", net, addr, text);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);

    /* The failed socket is closed and out of the poller. */
    CHECK_EQ(open_fds(), fds);
    CHECK_EQ(pd_in_use(), pds);
}

NET_TEST(dial_refused_on_ipv4_and_ipv6_loopback)
{
    char addr[GNET_ADDRSTRLEN];
    gnet_listener *l = nt_listen_tcp();
    int port = gnet_addr_port(gnet_listener_addr(l));

    gnet_listener_free(l);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    check_dial_fails("tcp", addr, ECONNREFUSED, "connection refused");
    if (have_ipv6_loopback()) {
        snprintf(addr, sizeof(addr), "[::1]:%d", port);
        check_dial_fails("tcp6", addr, ECONNREFUSED, "connection refused");
    }
}

/* TCP to a multicast address: the kernel refuses the connect before
 * any packet leaves, with or without a route. */
NET_TEST(dial_unreachable_fails_at_once_without_traffic)
{
    check_dial_fails("tcp", "224.0.0.1:80", ENETUNREACH,
                     "network is unreachable");
    check_dial_fails("tcp4", "239.255.0.1:9", ENETUNREACH,
                     "network is unreachable");
    if (have_ipv6_loopback())
        check_dial_fails("tcp6", "[ff02::1]:80", ENETUNREACH,
                         "network is unreachable");
}

/* A listener with backlog 1 and nobody accepting: once its accept
 * queue is full it drops SYNs, so the next dial stays in SYN-SENT
 * until its deadline passes. */
NET_TEST(dial_deadline_passes_mid_connect)
{
    gnet_listen_config lc = {0};
    gnet_listener *l;
    gnet_conn *queued[8], *c = NULL, *s;
    gnet_error err;
    char addr[GNET_ADDRSTRLEN], buf[256], want[256];
    int nq = 0;

    lc.backlog = 1;
    CHECK_OK(gnet_listen("tcp4", "127.0.0.1:0", &lc, &l, &err), &err);
    nt_addr(gnet_listener_addr(l), addr, sizeof(addr));
    int fds = open_fds();
    int64_t pds = pd_in_use();

    for (;;) {
        CHECK_LT(nq, 8);
        int64_t t0 = gort_now();
        if (gnet_dial_timeout("tcp", addr, 300 * MS, &c, &err) == 0) {
            queued[nq++] = c;
            fds++;
            pds++;
            continue;
        }
        int64_t took = gort_now() - t0;
        CHECK_GE(took, 300 * MS);
        CHECK_LT(took, 300 * MS + SLOW_BOUND(500 * MS));
        break;
    }
    CHECK_GE(nq, 1);
    CHECK_LE(nq, 3);
    CHECK(c == NULL);
    CHECK_EQ(err.cause, GNET_TIMEOUT);
    CHECK(gnet_error_is_timeout(&err));
    snprintf(want, sizeof(want), "dial tcp %s: i/o timeout", addr);
    CHECK_STREQ(nt_msg(&err, buf, sizeof(buf)), want);
    CHECK_EQ(open_fds(), fds);
    CHECK_EQ(pd_in_use(), pds);

    /* The listener is unharmed: drain the queue and dial again. */
    for (int i = 0; i < nq; i++) {
        CHECK_OK(gnet_accept(l, &s, &err), &err);
        gnet_conn_free(s);
        gnet_conn_free(queued[i]);
    }
    CHECK_OK(gnet_dial_timeout("tcp", addr, 5 * SEC, &c, &err), &err);
    CHECK_OK(gnet_accept(l, &s, &err), &err);
    gnet_conn_free(s);
    gnet_conn_free(c);
    gnet_listener_free(l);
}

/* ------------------------------------------------------------------ */
/* A signal storm while every G is parked. */

#define STORM_READERS 8
#define STORM_SLEEPERS 8
#define STORM_NS (600 * MS)

/* How late a timer may fire. A timer lost to an interrupted wait would
 * fire only at the next unrelated event (here: the end of the storm,
 * or never); a loaded 2-core machine delays one by tens of ms. */
#define LATE_BOUND (400 * MS)

static _Atomic int64_t storm_handled;

static void storm_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    atomic_fetch_add(&storm_handled, si->si_value.sival_int);
}

typedef struct storm {
    int wfd[STORM_READERS]; /* write ends, for the storm thread */
    gnet_conn *r[STORM_READERS];
    char got[STORM_READERS];
    int64_t t0;
    int64_t when[STORM_SLEEPERS], woke[STORM_SLEEPERS];
    int64_t sent, sum; /* signals queued, sum of their values */
    int sem_rc;
    int64_t sem_when, sem_woke;
    gort_waitgroup wg;
} storm;

static storm st;

static void storm_reader_g(void *arg)
{
    int i = (int)(intptr_t)arg;
    gnet_error err;

    if (gnet_read(st.r[i], &st.got[i], 1, &err) != 1)
        st.got[i] = '?';
    gort_wg_done(&st.wg);
}

static void storm_sleeper_g(void *arg)
{
    int i = (int)(intptr_t)arg;

    gort_sleep_until(st.when[i]);
    st.woke[i] = gort_nanotime_real();
    gort_wg_done(&st.wg);
}

static void storm_sem_g(void *arg)
{
    static uint32_t never;

    (void)arg;
    st.sem_rc = gort_sem_acquire_until(&never, st.sem_when);
    st.sem_woke = gort_nanotime_real();
    gort_wg_done(&st.wg);
}

/* A plain thread, outside the runtime: queues real-time signals at the
 * process (the kernel picks a thread that does not block them, which is
 * one of the Ms, parked in epoll or on a futex), then wakes each reader
 * with one byte. */
static void *storm_thread(void *arg)
{
    sigset_t set;
    union sigval v;

    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    for (int i = 1; gort_nanotime_real() - st.t0 < STORM_NS; i++) {
        /* The whole union goes to the kernel: clear the pointer-sized
         * part the int does not cover. */
        memset(&v, 0, sizeof v);
        v.sival_int = i % 7 + 1;
        if (sigqueue(getpid(), SIGRTMIN, v) == 0) {
            st.sent++;
            st.sum += v.sival_int;
        } else {
            CHECK_EQ(errno, EAGAIN); /* queue full: let it drain */
            sched_yield();
        }
    }
    for (int i = 0; i < STORM_READERS; i++) {
        char b = (char)('a' + i);
        CHECK_EQ(write(st.wfd[i], &b, 1), 1);
    }
    return NULL;
}

NET_TEST(signal_storm_while_all_gs_park_loses_nothing)
{
    struct sigaction sa;
    gnet_error err;
    pthread_t th;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = storm_handler;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: every wait sees EINTR */
    CHECK_EQ(sigaction(SIGRTMIN, &sa, NULL), 0);
    memset(&st, 0, sizeof(st));
    atomic_store(&storm_handled, 0);

    for (int i = 0; i < STORM_READERS; i++) {
        int p[2];
        CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
        CHECK_OK(gnet_file_new(p[0], "storm pipe", &st.r[i], &err), &err);
        st.wfd[i] = p[1];
    }
    st.t0 = gort_nanotime_real();
    int64_t now = gort_now();
    for (int i = 0; i < STORM_SLEEPERS; i++)
        st.when[i] = now + (50 + 60 * i) * MS;
    st.sem_when = now + 300 * MS;

    gort_wg_add(&st.wg, STORM_READERS + STORM_SLEEPERS + 1);
    for (int i = 0; i < STORM_READERS; i++)
        CHECK_EQ(gort_go(storm_reader_g, (void *)(intptr_t)i), 0);
    for (int i = 0; i < STORM_SLEEPERS; i++)
        CHECK_EQ(gort_go(storm_sleeper_g, (void *)(intptr_t)i), 0);
    CHECK_EQ(gort_go(storm_sem_g, NULL), 0);
    CHECK_EQ(pthread_create(&th, NULL, storm_thread, NULL), 0);
    gort_wg_wait(&st.wg);
    CHECK_EQ(pthread_join(th, NULL), 0);

    /* Queued signals are never merged: each was handled exactly once
     * (the last may still be on its way to a handler). */
    for (int i = 0; i < 1000 && atomic_load(&storm_handled) < st.sum; i++)
        gort_sleep(MS);
    CHECK_GT(st.sent, 100);
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer defers a signal to its own safe points and keeps
     * one pending instance per signal number, so queued real-time
     * signals merge under it: only some of them reach the handler. */
    CHECK_GT(atomic_load(&storm_handled), 0);
    CHECK_LE(atomic_load(&storm_handled), st.sum);
#else
    CHECK_EQ(atomic_load(&storm_handled), st.sum);
#endif

    /* Every wake-up arrived, and every timer fired on time (the clocks
     * are the same: gort_now is CLOCK_MONOTONIC without a virtual
     * clock). */
    for (int i = 0; i < STORM_READERS; i++)
        CHECK_EQ(st.got[i], 'a' + i);
    for (int i = 0; i < STORM_SLEEPERS; i++) {
        CHECK_GE(st.woke[i], st.when[i]);
        CHECK_LT(st.woke[i] - st.when[i], SLOW_BOUND(LATE_BOUND));
    }
    CHECK_EQ(st.sem_rc, -ETIMEDOUT);
    CHECK_GE(st.sem_woke, st.sem_when);
    CHECK_LT(st.sem_woke - st.sem_when, SLOW_BOUND(LATE_BOUND));

    for (int i = 0; i < STORM_READERS; i++) {
        gnet_conn_free(st.r[i]);
        close(st.wfd[i]);
    }
    signal(SIGRTMIN, SIG_IGN);
}

/* ------------------------------------------------------------------ */
/* Fork and exec. */

/* gort's own fds, opened by the test below: the poller's two and one
 * of each kind of socket. */
typedef struct gort_fds {
    int fd[16];
    int n;
} gort_fds;

static void open_one_of_each(gnet_listener **l, gnet_conn *c[5])
{
    gnet_error err;

    *l = nt_listen_tcp();
    c[0] = nt_dial_to("tcp", gnet_listener_addr(*l));
    CHECK_OK(gnet_accept(*l, &c[1], &err), &err);
    CHECK_OK(gnet_listen_packet("udp4", "127.0.0.1:0", NULL, &c[2], &err),
             &err);
    CHECK_OK(gnet_listen_packet("unixgram", "", NULL, &c[3], &err), &err);
    c[4] = nt_dial_to("udp", gnet_local_addr(c[2]));
}

static void close_all(gnet_listener *l, gnet_conn *c[5])
{
    for (int i = 0; i < 5; i++)
        gnet_conn_free(c[i]);
    gnet_listener_free(l);
}

/* Every fd that appeared since before was opened by gort. */
static void new_fds(const bool before[1024], gort_fds *out)
{
    out->n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        if (before[fd] || fcntl(fd, F_GETFD) < 0)
            continue;
        CHECK_LT(out->n, 16);
        out->fd[out->n++] = fd;
    }
}

static bool fds_before[1024];

static void cloexec_body(void *arg)
{
    gnet_listener *l;
    gnet_conn *c[5];
    gort_fds g;
    int poll_fds = 0;

    (void)arg;
    open_one_of_each(&l, c);
    new_fds(fds_before, &g);

    /* The poller's epoll fd and eventfd, 6 sockets, and whatever else
     * the runtime opened: all close-on-exec. */
    CHECK_GE(g.n, 8);
    for (int i = 0; i < g.n; i++) {
        int fl = fcntl(g.fd[i], F_GETFD);
        CHECK_MSG(fl >= 0 && (fl & FD_CLOEXEC) != 0, "fd %d lacks FD_CLOEXEC",
                  g.fd[i]);
        poll_fds += gpoll_is_poll_descriptor(g.fd[i]);
    }
    CHECK_EQ(poll_fds, 2);
    close_all(l, c);
}

TEST(every_fd_gort_opens_is_close_on_exec)
{
    for (int fd = 0; fd < 1024; fd++)
        fds_before[fd] = fcntl(fd, F_GETFD) >= 0;
    nt_run(cloexec_body, NULL, 2);
}

static void exec_body(void *arg)
{
    gnet_listener *l;
    gnet_conn *c[5];
    gort_fds g;
    char script[1024], seen[256];
    int out[2];

    (void)arg;
    open_one_of_each(&l, c);
    new_fds(fds_before, &g);
    CHECK_GE(g.n, 8);

    /* The child's shell prints each of gort's fds it can see. */
    int n = snprintf(script, sizeof(script), "for fd in");
    for (int i = 0; i < g.n; i++)
        n += snprintf(script + n, sizeof(script) - (size_t)n, " %d", g.fd[i]);
    snprintf(script + n, sizeof(script) - (size_t)n,
             "; do [ -e /proc/self/fd/$fd ] && echo $fd; done; echo done");
    CHECK_EQ(pipe2(out, O_CLOEXEC), 0);

    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        dup2(out[1], 1);
        execl("/bin/sh", "sh", "-c", script, NULL);
        _exit(127);
    }
    close(out[1]);
    size_t got = 0;
    ssize_t r;
    gort_entersyscall();
    while ((r = read(out[0], seen + got, sizeof(seen) - 1 - got)) > 0)
        got += (size_t)r;
    int status;
    pid_t w = waitpid(pid, &status, 0);
    gort_exitsyscall();
    seen[got] = '\0';
    close(out[0]);

    CHECK_EQ(w, pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK_STREQ(seen, "done\n");

    /* The parent goes on as before. */
    gnet_error err;
    char b = 0;
    CHECK_OK(gnet_write(c[0], "e", 1, &err), &err);
    nt_read_full(c[1], &b, 1);
    CHECK_EQ(b, 'e');
    close_all(l, c);
}

TEST(child_that_execs_sees_no_gort_fd)
{
    for (int fd = 0; fd < 1024; fd++)
        fds_before[fd] = fcntl(fd, F_GETFD) >= 0;
    nt_run(exec_body, NULL, 2);
}

/* Without exec the child has one thread and a copy of the runtime's
 * memory, locks and all: it must not call gort. It may use inherited
 * fds with plain system calls; the parent's runtime is unaffected,
 * including by the child's exit closing its copies. */
NET_TEST(fork_without_exec_child_uses_plain_syscalls_only)
{
    gnet_listener *l;
    gnet_conn *c, *s, *s2, *c2;
    gnet_error err;
    char buf[16];

    nt_pair(&l, &c, &s);
    int cfd = gnet_conn_sysfd(c);
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        ssize_t r = send(cfd, "child", 5, MSG_NOSIGNAL);
        _exit(r == 5 ? 0 : 1);
    }
    nt_read_full(s, buf, 5);
    CHECK_EQ(memcmp(buf, "child", 5), 0);

    int status;
    gort_entersyscall();
    pid_t w = waitpid(pid, &status, 0);
    gort_exitsyscall();
    CHECK_EQ(w, pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);

    /* Registration in the shared epoll set survives the child's exit. */
    CHECK_OK(gnet_set_read_deadline(s, gort_now() + 5 * SEC, &err), &err);
    CHECK_OK(gnet_write(c, "parent", 6, &err), &err);
    nt_read_full(s, buf, 6);
    CHECK_EQ(memcmp(buf, "parent", 6), 0);

    /* A child that keeps copies of the fds: the parent closes its
     * conns (gort takes each out of epoll before closing it), opens
     * new ones, likely on the same fd numbers, and they work. */
    int go[2];
    CHECK_EQ(pipe2(go, O_CLOEXEC), 0);
    pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        char b;
        close(go[1]);
        _exit(read(go[0], &b, 1) == 0 ? 0 : 1);
    }
    close(go[0]);
    gnet_conn_free(c);
    gnet_conn_free(s);
    c2 = nt_dial_to("tcp", gnet_listener_addr(l));
    CHECK_OK(gnet_accept(l, &s2, &err), &err);
    CHECK_OK(gnet_write(s2, "again", 5, &err), &err);
    nt_read_full(c2, buf, 5);
    CHECK_EQ(memcmp(buf, "again", 5), 0);
    close(go[1]); /* the child reads end of file and exits */
    gort_entersyscall();
    w = waitpid(pid, &status, 0);
    gort_exitsyscall();
    CHECK_EQ(w, pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);

    gnet_conn_free(c2);
    gnet_conn_free(s2);
    gnet_listener_free(l);
}

/* ------------------------------------------------------------------ */
/* Bad arguments. */

/* The call failed with cause and printed exactly text. */
#define CHECK_FAILS(call, err, cause_, text)                                   \
    do {                                                                       \
        char cf_b_[512];                                                       \
        memset(&(err), 0x5a, sizeof(err));                                     \
        CHECK_EQ((call), -1);                                                  \
        CHECK_EQ((err).cause, (cause_));                                       \
        CHECK_STREQ(nt_msg(&(err), cf_b_, sizeof(cf_b_)), (text));             \
    } while (0)

NET_TEST(null_handles_and_out_pointers_are_clear_errors)
{
    gnet_error err;
    gnet_conn *c;
    gnet_listener *l;
    char buf[8];
    size_t oobn = 0;

    /* NULL handles. */
    CHECK_FAILS(gnet_read(NULL, buf, 1, &err), err, GNET_INVALID,
                "read: NULL conn");
    CHECK_FAILS(gnet_write(NULL, buf, 1, &err), err, GNET_INVALID,
                "write: NULL conn");
    CHECK_EQ(err.n, 0);
    CHECK_FAILS(gnet_read_from(NULL, buf, 1, NULL, &err), err, GNET_INVALID,
                "read: NULL conn");
    CHECK_FAILS(gnet_write_to(NULL, buf, 1, NULL, &err), err, GNET_INVALID,
                "write: NULL conn");
    CHECK_FAILS(gnet_read_msg(NULL, buf, 1, NULL, &oobn, NULL, NULL, &err), err,
                GNET_INVALID, "read: NULL conn");
    CHECK_FAILS(gnet_write_msg(NULL, buf, 1, NULL, 0, NULL, &err), err,
                GNET_INVALID, "write: NULL conn");
    CHECK_FAILS(gnet_set_deadline(NULL, 0, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_set_read_deadline(NULL, 0, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_set_write_deadline(NULL, 0, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_close_read(NULL, &err), err, GNET_INVALID,
                "close: NULL conn");
    CHECK_FAILS(gnet_close_write(NULL, &err), err, GNET_INVALID,
                "close: NULL conn");
    CHECK_FAILS(gnet_conn_close(NULL, &err), err, GNET_INVALID,
                "close: NULL conn");
    CHECK_FAILS(gnet_set_nodelay(NULL, true, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_set_keepalive(NULL, true, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_set_keepalive_period(NULL, SEC, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_set_read_buffer(NULL, 1, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_set_write_buffer(NULL, 1, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_set_linger(NULL, 0, &err), err, GNET_INVALID,
                "set: NULL conn");
    CHECK_FAILS(gnet_accept(NULL, &c, &err), err, GNET_INVALID,
                "accept: NULL listener");
    CHECK_FAILS(gnet_listener_close(NULL, &err), err, GNET_INVALID,
                "close: NULL listener");
    CHECK_FAILS(gnet_listener_set_deadline(NULL, 0, &err), err, GNET_INVALID,
                "set: NULL listener");

    /* Accessors answer "nothing"; frees accept NULL. */
    CHECK(gnet_local_addr(NULL) == NULL);
    CHECK(gnet_remote_addr(NULL) == NULL);
    CHECK_STREQ(gnet_conn_network(NULL), "");
    CHECK_EQ(gnet_conn_sysfd(NULL), -1);
    CHECK(!gnet_conn_pollable(NULL));
    CHECK(gnet_listener_addr(NULL) == NULL);
    CHECK_EQ(gnet_listener_sysfd(NULL), -1);
    gnet_conn_free(NULL);
    gnet_listener_free(NULL);

    /* NULL out pointers: nothing is created. */
    int fds = open_fds();
    CHECK_FAILS(gnet_listen("tcp", "127.0.0.1:0", NULL, NULL, &err), err,
                GNET_INVALID, "listen tcp 127.0.0.1:0: NULL out");
    CHECK_FAILS(gnet_listen_packet("udp", "127.0.0.1:0", NULL, NULL, &err), err,
                GNET_INVALID, "listen udp 127.0.0.1:0: NULL out");
    CHECK_FAILS(gnet_dial("tcp", "127.0.0.1:1", NULL, NULL, &err), err,
                GNET_INVALID, "dial tcp 127.0.0.1:1: NULL out");
    CHECK_FAILS(gnet_file_new(0, "stdin", NULL, &err), err, GNET_INVALID,
                "open stdin: NULL out");
    gnet_addr a;
    CHECK_FAILS(gnet_resolve("tcp", "127.0.0.1:1", NULL, &err), err,
                GNET_INVALID, "resolve tcp 127.0.0.1:1: NULL out");
    l = nt_listen_tcp();
    char want[256], addr[GNET_ADDRSTRLEN];
    snprintf(want, sizeof(want), "accept tcp4 %s: NULL out",
             nt_addr(gnet_listener_addr(l), addr, sizeof(addr)));
    CHECK_FAILS(gnet_accept(l, NULL, &err), err, GNET_INVALID, want);
    gnet_listener_free(l);
    CHECK_EQ(open_fds(), fds);

    /* A NULL address means "", as in Go's zero string. */
    CHECK_FAILS(gnet_resolve("tcp", NULL, &a, &err), err, GNET_BAD_ADDRESS,
                "resolve tcp: missing port in address");
    CHECK_FAILS(gnet_dial("tcp", NULL, NULL, &c, &err), err, GNET_BAD_ADDRESS,
                "dial tcp: missing port in address");
    CHECK(c == NULL);
    CHECK_FAILS(gnet_dial("unix", NULL, NULL, &c, &err), err,
                GNET_MISSING_ADDRESS, "dial unix: missing address");

    /* The error helpers take NULL and measure without a buffer. */
    CHECK_EQ(gnet_error_format(NULL, buf, sizeof(buf)), 5);
    CHECK_STREQ(buf, "<nil>");
    CHECK_EQ(gnet_error_cause_format(NULL, NULL, 100), 5);
    CHECK(!gnet_error_is_timeout(NULL));
    CHECK(!gnet_error_is_closed(NULL));
    err.cause = GNET_TIMEOUT;
    snprintf(err.op, sizeof(err.op), "read");
    err.net[0] = err.source[0] = err.addr[0] = '\0';
    CHECK_EQ(gnet_error_format(&err, NULL, 64), strlen("read: i/o timeout"));
    CHECK_EQ(gnet_addr_format(NULL, NULL, 0), 5);
    CHECK_EQ(gnet_addr_port(NULL), -1);

    /* Calls without an error struct fail the same way. */
    CHECK_EQ(gnet_read(NULL, buf, 1, NULL), -1);
    CHECK_EQ(gnet_dial("tcp", "x", NULL, NULL, NULL), -1);
}

NET_TEST(bad_buffers_and_sizes_are_clear_errors)
{
    gnet_conn *c, *s, *u;
    gnet_error err;
    char buf[64], want[256];
    size_t oobn = 16;

    nt_pair(NULL, &c, &s);
    /* NULL with a length; a negative length cast to size_t. */
    CHECK_FAILS(gnet_read(c, NULL, 10, &err), err, GNET_INVALID,
                nt_conn_frame(c, "read", "NULL buffer with a nonzero length",
                              want, sizeof(want)));
    CHECK_FAILS(gnet_write(c, NULL, 10, &err), err, GNET_INVALID,
                nt_conn_frame(c, "write", "NULL buffer with a nonzero length",
                              want, sizeof(want)));
    CHECK_EQ(err.n, 0);
    CHECK_FAILS(
        gnet_read(c, buf, (size_t)-1, &err), err, GNET_INVALID,
        nt_conn_frame(c, "read", "length out of range", want, sizeof(want)));
    CHECK_FAILS(
        gnet_write(c, buf, (size_t)-5, &err), err, GNET_INVALID,
        nt_conn_frame(c, "write", "length out of range", want, sizeof(want)));
    CHECK_FAILS(gnet_write_msg(c, buf, 1, NULL, 8, NULL, &err), err,
                GNET_INVALID,
                nt_conn_frame(c, "write", "NULL buffer with a nonzero length",
                              want, sizeof(want)));
    CHECK_FAILS(
        gnet_set_read_buffer(c, -1, &err), err, GNET_INVALID,
        nt_conn_frame(c, "set", "negative buffer size", want, sizeof(want)));
    CHECK_FAILS(
        gnet_set_write_buffer(c, INT_MIN, &err), err, GNET_INVALID,
        nt_conn_frame(c, "set", "negative buffer size", want, sizeof(want)));
    CHECK_FAILS(gnet_set_keepalive_period(c, -SEC, &err), err, GNET_INVALID,
                nt_conn_frame(c, "set", "negative keep-alive period", want,
                              sizeof(want)));

    /* Zero-length and NULL-with-zero are fine; a NULL oob with a
     * capacity reads no ancillary data. */
    CHECK_EQ(gnet_read(c, NULL, 0, &err), 0);
    CHECK_EQ(gnet_write(c, NULL, 0, &err), 0);
    CHECK_OK(gnet_write(s, "m", 1, &err), &err);
    CHECK_EQ(gnet_read_msg(c, buf, sizeof(buf), NULL, &oobn, NULL, NULL, &err),
             1);
    CHECK_EQ(oobn, 0);

    /* Keep-alive periods saturate: huge is the kernel's maximum, 0 is
     * the default 15 s. */
    int v;
    socklen_t len = sizeof(v);
    CHECK_OK(gnet_set_keepalive_period(c, INT64_MAX, &err), &err);
    CHECK_EQ(
        getsockopt(gnet_conn_sysfd(c), IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
    CHECK_EQ(v, 32767);
    CHECK_OK(gnet_set_keepalive_period(c, 0, &err), &err);
    CHECK_EQ(
        getsockopt(gnet_conn_sysfd(c), IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
    CHECK_EQ(v, 15);
    CHECK_OK(gnet_set_keepalive_period(c, 1, &err), &err);
    CHECK_EQ(
        getsockopt(gnet_conn_sysfd(c), IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
    CHECK_EQ(v, 1);

    /* Deadlines take any int64: INT64_MIN has passed, INT64_MAX never
     * comes. */
    CHECK_OK(gnet_set_read_deadline(c, INT64_MIN, &err), &err);
    CHECK_EQ(gnet_read(c, buf, 1, &err), -1);
    CHECK_EQ(err.cause, GNET_TIMEOUT);
    CHECK_OK(gnet_set_read_deadline(c, INT64_MAX, &err), &err);
    CHECK_OK(gnet_write(s, "n", 1, &err), &err);
    CHECK_EQ(gnet_read(c, buf, 1, &err), 1);

    /* Negative timeouts have already expired. */
    gnet_conn *d;
    char addr[GNET_ADDRSTRLEN];
    nt_addr(gnet_remote_addr(c), addr, sizeof(addr));
    snprintf(want, sizeof(want), "dial tcp %s: i/o timeout", addr);
    CHECK_FAILS(gnet_dial_timeout("tcp", addr, -1, &d, &err), err, GNET_TIMEOUT,
                want);
    CHECK_FAILS(gnet_dial_timeout("tcp", addr, INT64_MIN, &d, &err), err,
                GNET_TIMEOUT, want);

    /* A negative backlog is refused; datagram destinations are checked. */
    gnet_listen_config lc = {.backlog = -1};
    gnet_listener *l;
    CHECK_FAILS(gnet_listen("tcp", "127.0.0.1:0", &lc, &l, &err), err,
                GNET_INVALID, "listen tcp 127.0.0.1:0: negative backlog");
    CHECK_OK(gnet_listen_packet("udp4", "127.0.0.1:0", NULL, &u, &err), &err);
    gnet_addr bogus;
    memset(&bogus, 0, sizeof(bogus));
    bogus.ss.ss_family = AF_INET6;
    bogus.len = sizeof(struct sockaddr_in6);
    CHECK_EQ(gnet_write_to(u, "x", 1, &bogus, &err), -1);
    CHECK_EQ(err.cause, GNET_ERRNO);
    CHECK_EQ(err.errnum, EAFNOSUPPORT);
    bogus.len = 3;
    CHECK_EQ(gnet_write_to(u, "x", 1, &bogus, &err), -1);
    CHECK_EQ(err.errnum, EINVAL);
    char uaddr[GNET_ADDRSTRLEN];
    snprintf(want, sizeof(want), "write udp4 %s: missing address",
             nt_addr(gnet_local_addr(u), uaddr, sizeof(uaddr)));
    CHECK_FAILS(gnet_write_to(u, "x", 1, NULL, &err), err, GNET_MISSING_ADDRESS,
                want);
    gnet_conn_free(u);
    gnet_conn_free(c);
    gnet_conn_free(s);
}

NET_TEST(closed_handles_fail_with_the_closed_error)
{
    gnet_listener *l;
    gnet_conn *c, *s;
    gnet_error err;
    char buf[8], want[256], addr[GNET_ADDRSTRLEN];
    const char *closed = "use of closed network connection";

    nt_pair(&l, &c, &s);
    nt_addr(gnet_listener_addr(l), addr, sizeof(addr));
    CHECK_OK(gnet_conn_close(c, &err), &err);
    CHECK_OK(gnet_listener_close(l, &err), &err);

    CHECK_FAILS(gnet_read(c, buf, 1, &err), err, GNET_CLOSED,
                nt_conn_frame(c, "read", closed, want, sizeof(want)));
    CHECK_FAILS(gnet_write(c, buf, 1, &err), err, GNET_CLOSED,
                nt_conn_frame(c, "write", closed, want, sizeof(want)));
    CHECK_FAILS(gnet_conn_close(c, &err), err, GNET_CLOSED,
                nt_conn_frame(c, "close", closed, want, sizeof(want)));
    CHECK_FAILS(gnet_close_write(c, &err), err, GNET_CLOSED,
                nt_conn_frame(c, "close", closed, want, sizeof(want)));
    CHECK_FAILS(gnet_set_nodelay(c, true, &err), err, GNET_CLOSED,
                nt_conn_frame(c, "set", closed, want, sizeof(want)));
    CHECK_FAILS(gnet_set_linger(c, 1, &err), err, GNET_CLOSED,
                nt_conn_frame(c, "set", closed, want, sizeof(want)));
    CHECK_FAILS(gnet_set_keepalive_period(c, SEC, &err), err, GNET_CLOSED,
                nt_conn_frame(c, "set", closed, want, sizeof(want)));
    CHECK_EQ(gnet_set_deadline(c, 0, &err), -1);
    CHECK_EQ(err.cause, GNET_CLOSED);
    CHECK_EQ(gnet_read_msg(c, buf, 1, NULL, NULL, NULL, NULL, &err), -1);
    CHECK_EQ(err.cause, GNET_CLOSED);

    snprintf(want, sizeof(want), "accept tcp4 %s: %s", addr, closed);
    gnet_conn *none;
    CHECK_FAILS(gnet_accept(l, &none, &err), err, GNET_CLOSED, want);
    CHECK(none == NULL);
    snprintf(want, sizeof(want), "close tcp4 %s: %s", addr, closed);
    CHECK_FAILS(gnet_listener_close(l, &err), err, GNET_CLOSED, want);
    CHECK_EQ(gnet_listener_set_deadline(l, 0, &err), -1);
    CHECK_EQ(err.cause, GNET_CLOSED);

    gnet_conn_free(c);
    gnet_conn_free(s);
    gnet_listener_free(l);
}

NET_TEST(unknown_networks_malformed_addresses_and_bad_ports)
{
    gnet_error err;
    gnet_conn *c;
    gnet_listener *l;
    gnet_addr a;
    char host[8], port[8];
    static const struct {
        const char *net, *addr, *text;
    } dials[] = {
        {"tcp9", "127.0.0.1:80", "dial tcp9: unknown network tcp9"},
        {"", "127.0.0.1:80", "dial: unknown network "},
        {"TCP", "127.0.0.1:80", "dial TCP: unknown network TCP"},
        {"tcp", "127.0.0.1",
         "dial tcp: address 127.0.0.1: missing port in "
         "address"},
        {"tcp", "127.0.0.1:65536", "dial tcp: address 65536: invalid port"},
        {"tcp", "127.0.0.1:99999999999999999999",
         "dial tcp: address 99999999999999999999: invalid port"},
        {"tcp", "127.0.0.1:-1", "dial tcp: address -1: invalid port"},
        {"udp", "[::1]:-80", "dial udp: address -80: invalid port"},
        {"tcp", "127.0.0.1:nosuchservice",
         "dial tcp: lookup tcp/nosuchservice: unknown port"},
        {"tcp", "::1:80",
         "dial tcp: address ::1:80: too many colons in "
         "address"},
        {"tcp", "[::1:80",
         "dial tcp: address [::1:80: missing ']' in "
         "address"},
        {"tcp", "[::1]x:80",
         "dial tcp: address [::1]x:80: missing port in "
         "address"},
        {"tcp", "a]b:80",
         "dial tcp: address a]b:80: unexpected ']' in "
         "address"},
        {"tcp4", "[::1]:80",
         "dial tcp4: address ::1: no suitable address "
         "found"},
        {"udp6", "127.0.0.1:80",
         "dial udp6: address 127.0.0.1: no suitable "
         "address found"},
    };

    for (size_t i = 0; i < sizeof(dials) / sizeof(dials[0]); i++) {
        char b[512];
        CHECK_EQ(gnet_dial(dials[i].net, dials[i].addr, NULL, &c, &err), -1);
        CHECK(c == NULL);
        CHECK_MSG(strcmp(nt_msg(&err, b, sizeof(b)), dials[i].text) == 0,
                  "dial(%s, %s): \"%s\", want \"%s\"", dials[i].net,
                  dials[i].addr, b, dials[i].text);
    }

    /* Port 0 written with a sign is still port 0; "+80" is 80. */
    CHECK_OK(gnet_resolve("tcp", "127.0.0.1:+80", &a, &err), &err);
    CHECK_EQ(gnet_addr_port(&a), 80);
    CHECK_OK(gnet_resolve("tcp", "127.0.0.1:-0", &a, &err), &err);
    CHECK_EQ(gnet_addr_port(&a), 0);
    CHECK_FAILS(gnet_resolve("tcp", "1.2.3.4:+", &a, &err), err, GNET_LOOKUP,
                "resolve tcp: lookup tcp/+: unknown port");

    /* Wildcards stay in the network's family. */
    char b[64];
    CHECK_OK(gnet_resolve("tcp6", ":80", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, b, sizeof(b)), "[::]:80");
    CHECK_OK(gnet_resolve("udp4", ":80", &a, &err), &err);
    CHECK_STREQ(nt_addr(&a, b, sizeof(b)), "0.0.0.0:80");

    /* Listening: the packet/stream mismatch is an unknown network too,
     * and a unix path longer than sun_path fails. */
    CHECK_FAILS(gnet_listen("udp", "127.0.0.1:0", NULL, &l, &err), err,
                GNET_UNKNOWN_NETWORK, "listen udp: unknown network udp");
    CHECK_FAILS(gnet_listen_packet("tcp", "127.0.0.1:0", NULL, &c, &err), err,
                GNET_UNKNOWN_NETWORK, "listen tcp: unknown network tcp");
    char longpath[200];
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    CHECK_EQ(gnet_listen("unix", longpath, NULL, &l, &err), -1);
    CHECK_EQ(err.cause, GNET_ERRNO);
    CHECK_EQ(err.errnum, EINVAL);
    CHECK_EQ(gnet_dial("unix", longpath, NULL, &c, &err), -1);
    CHECK_EQ(err.errnum, EINVAL);

    /* A local address that does not parse. */
    gnet_dial_config dc = {.local_address = "127.0.0.1"};
    CHECK_FAILS(gnet_dial("tcp", "127.0.0.1:1", &dc, &c, &err), err,
                GNET_BAD_ADDRESS,
                "dial tcp: address 127.0.0.1: missing port in address");

    /* SplitHostPort fills only the cause: buffers too small, NULL
     * buffers, a NULL string (""). */
    char cause[128];
    CHECK_EQ(gnet_split_host_port("localhost:80", host, sizeof(host), port,
                                  sizeof(port), &err),
             -1);
    CHECK_EQ(err.cause, GNET_BAD_ADDRESS);
    gnet_error_cause_format(&err, cause, sizeof(cause));
    CHECK_STREQ(cause, "address localhost:80: address too long");
    CHECK_EQ(gnet_split_host_port("h:80", NULL, 8, port, sizeof(port), &err),
             -1);
    CHECK_EQ(err.cause, GNET_INVALID);
    gnet_error_cause_format(&err, cause, sizeof(cause));
    CHECK_STREQ(cause, "NULL host or port buffer");
    CHECK_EQ(gnet_split_host_port(NULL, host, sizeof(host), port, sizeof(port),
                                  &err),
             -1);
    CHECK_EQ(err.cause, GNET_BAD_ADDRESS);
    gnet_error_cause_format(&err, cause, sizeof(cause));
    CHECK_STREQ(cause, "missing port in address");

    /* A file: a bad fd and a NULL name. */
    CHECK_FAILS(gnet_file_new(-1, "nothing", &c, &err), err, GNET_ERRNO,
                "open nothing: bad file descriptor");
    CHECK_FAILS(gnet_file_new(1000000, NULL, &c, &err), err, GNET_ERRNO,
                "open: bad file descriptor");
}
