/*
 * serve.h: the skeleton the tool servers share (echo_server, http_hello).
 *
 * One goroutine per connection, as a Go server would have:
 *
 *   main G      installs the signal pipe, listens, starts the accept
 *               loop, then waits for SIGINT/SIGTERM;
 *   accept G    accepts and starts a conn G for each connection; on a
 *               temporary error (EMFILE, ENFILE, ENOBUFS, ENOMEM) it
 *               backs off 5 ms, doubling up to 1 s, as net/http does,
 *               and logs one line each time;
 *   conn Gs     run the program's handler, which sets a read deadline
 *               before each read so idle connections go away;
 *   signal G    reads the self-pipe the signal handler writes to.
 *
 * Shutdown: the signal G wakes the main G, which closes the listener
 * (the accept G ends with the closed error), closes every registered
 * connection (their Gs wake with the closed error and unregister), and
 * waits for all of them before returning.
 *
 * Header-only (static functions) so that each tool is one source file
 * plus this.
 */
#ifndef GORT_TOOLS_SERVE_H
#define GORT_TOOLS_SERVE_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gort_net.h"

#define SERVE_MS 1000000LL
#define SERVE_SEC 1000000000LL

typedef struct serve_conn serve_conn;

/* Handles one connection until it ends; returns when the conn should
 * be closed. */
typedef void (*serve_handler)(gnet_conn *c, int64_t read_timeout);

typedef struct serve_opts {
    const char *prog;     /* for log lines */
    const char *addr;     /* listen address */
    int procs;            /* gort Ps */
    int64_t read_timeout; /* per read; ns */
    bool reuse_port;
    serve_handler handler;
} serve_opts;

/* A live connection, linked into the registry while its G runs. */
struct serve_conn {
    gnet_conn *c;
    serve_conn *prev, *next; /* under serve_state.mu */
};

static struct serve_state {
    serve_opts *o;
    gnet_listener *l;
    gort_mutex mu;          /* guards conns, closing */
    serve_conn *conns;      /* the registry */
    bool closing;           /* under mu: no new conns once set */
    gort_waitgroup live;    /* conn Gs and the accept G */
    int sigpipe[2];         /* the signal handler writes [1] */
    _Atomic int64_t served; /* connections handled */
} serve_st = {
    .mu = GORT_MUTEX_INIT, .live = GORT_WAITGROUP_INIT, .sigpipe = {-1, -1}};

static void serve_log(const char *what, const gnet_error *err)
{
    char buf[512] = "";

    if (err != NULL)
        gnet_error_format(err, buf, sizeof(buf));
    fprintf(stderr, "%s: %s%s%s\n", serve_st.o->prog, what,
            err != NULL ? ": " : "", buf);
}

static void serve_on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;

    /* Non-blocking: a second signal while one is pending is dropped. */
    if (write(serve_st.sigpipe[1], &b, 1) < 0) {
    }
    errno = saved;
}

static bool serve_register(serve_conn *sc)
{
    bool ok;

    gort_mutex_lock(&serve_st.mu);
    ok = !serve_st.closing;
    if (ok) {
        sc->prev = NULL;
        sc->next = serve_st.conns;
        if (serve_st.conns != NULL)
            serve_st.conns->prev = sc;
        serve_st.conns = sc;
    }
    gort_mutex_unlock(&serve_st.mu);
    return ok;
}

static void serve_unregister(serve_conn *sc)
{
    gort_mutex_lock(&serve_st.mu);
    if (sc->prev != NULL)
        sc->prev->next = sc->next;
    else
        serve_st.conns = sc->next;
    if (sc->next != NULL)
        sc->next->prev = sc->prev;
    gort_mutex_unlock(&serve_st.mu);
}

static void serve_conn_g(void *arg)
{
    serve_conn *sc = arg;

    if (serve_register(sc)) {
        serve_st.o->handler(sc->c, serve_st.o->read_timeout);
        serve_unregister(sc);
    }
    gnet_conn_free(sc->c);
    free(sc);
    atomic_fetch_add(&serve_st.served, 1);
    gort_wg_done(&serve_st.live);
}

static bool serve_temporary(const gnet_error *err)
{
    if (err->cause != GNET_ERRNO)
        return gnet_error_is_timeout(err);
    switch (err->errnum) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EAGAIN:
    case EPROTO:
    case EPERM:
        return true;
    }
    return false;
}

static void serve_accept_g(void *arg)
{
    int64_t delay = 0;
    gnet_error err;

    (void)arg;
    for (;;) {
        gnet_conn *c;
        if (gnet_accept(serve_st.l, &c, &err) < 0) {
            if (gnet_error_is_closed(&err))
                break;
            if (!serve_temporary(&err)) {
                serve_log("accept failed", &err);
                break;
            }
            /* Out of fds (or memory): give connections time to end. */
            delay = delay == 0 ? 5 * SERVE_MS : delay * 2;
            if (delay > SERVE_SEC)
                delay = SERVE_SEC;
            char what[64];
            snprintf(what, sizeof(what), "retrying accept in %lld ms",
                     (long long)(delay / SERVE_MS));
            serve_log(what, &err);
            gort_sleep(delay);
            continue;
        }
        delay = 0;

        serve_conn *sc = calloc(1, sizeof(*sc));
        if (sc == NULL) {
            gnet_conn_free(c);
            continue;
        }
        sc->c = c;
        gort_wg_add(&serve_st.live, 1);
        if (gort_go(serve_conn_g, sc) < 0) {
            gnet_conn_free(c);
            free(sc);
            gort_wg_done(&serve_st.live);
        }
    }
    gort_wg_done(&serve_st.live);
}

/* Closes the listener and every live conn, then waits for their Gs. */
static void serve_shutdown(void)
{
    gnet_listener_close(serve_st.l, NULL);

    gort_mutex_lock(&serve_st.mu);
    serve_st.closing = true;
    for (serve_conn *sc = serve_st.conns; sc != NULL; sc = sc->next)
        gnet_conn_close(sc->c, NULL);
    gort_mutex_unlock(&serve_st.mu);

    gort_wg_wait(&serve_st.live);
    gnet_listener_free(serve_st.l);
}

static void serve_main_g(void *arg)
{
    serve_opts *o = arg;
    gnet_listen_config cfg = {0};
    gnet_conn *sig;
    gnet_error err;
    char addr[GNET_ADDRSTRLEN], line[GNET_ADDRSTRLEN + 64];

    cfg.reuse_port = o->reuse_port;
    if (gnet_listen("tcp", o->addr, &cfg, &serve_st.l, &err) < 0) {
        serve_log("listen failed", &err);
        exit(1);
    }
    if (gnet_file_new(serve_st.sigpipe[0], "signal pipe", &sig, &err) < 0) {
        serve_log("signal pipe", &err);
        exit(1);
    }
    gnet_addr_format(gnet_listener_addr(serve_st.l), addr, sizeof(addr));
    snprintf(line, sizeof(line), "listening on %s with %d procs", addr,
             gort_procs());
    serve_log(line, NULL);

    gort_wg_add(&serve_st.live, 1);
    if (gort_go(serve_accept_g, NULL) < 0) {
        serve_log("cannot start the accept goroutine", NULL);
        exit(1);
    }

    /* Parks until a signal arrives. */
    unsigned char signo = 0;
    while (gnet_read(sig, &signo, 1, &err) != 1) {
    }
    snprintf(line, sizeof(line), "signal %d: shutting down", signo);
    serve_log(line, NULL);
    serve_shutdown();
    gnet_conn_free(sig);
    snprintf(line, sizeof(line), "stopped after %lld connections",
             (long long)atomic_load(&serve_st.served));
    serve_log(line, NULL);
}

/* Pushes the conn's read deadline to now + timeout, but only when it
 * has moved by an eighth of the timeout: re-arming the timer on every
 * read costs more than the rule is worth. Idle conns still end within
 * 7/8 to 8/8 of the timeout. Returns false if the conn is closed. */
static bool serve_arm_read(gnet_conn *c, int64_t timeout, int64_t *armed)
{
    int64_t now = gort_now();

    if (*armed != 0 && now - *armed < timeout / 8)
        return true;
    *armed = now;
    return gnet_set_read_deadline(c, now + timeout, NULL) == 0;
}

/* Raises the soft fd limit to the hard one: a server wants every fd. */
static void serve_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void serve_usage(const char *prog, const char *def_addr)
{
    fprintf(stderr,
            "usage: %s [-l ADDR] [-p PROCS] [-r READ_TIMEOUT_S] [-R]\n"
            "  -l ADDR  listen address (default %s)\n"
            "  -p N     gort procs (default: GORT_PROCS or CPUs)\n"
            "  -r S     read deadline per read, seconds (default 30)\n"
            "  -R       SO_REUSEPORT, to share the port between processes\n",
            prog, def_addr);
    exit(2);
}

/* Parses the common options and runs the server; returns the exit
 * status. */
static int serve_run(serve_opts *o, int argc, char **argv)
{
    int opt;

    o->read_timeout = 30 * SERVE_SEC;
    while ((opt = getopt(argc, argv, "l:p:r:Rh")) != -1) {
        switch (opt) {
        case 'l':
            o->addr = optarg;
            break;
        case 'p':
            o->procs = atoi(optarg);
            break;
        case 'r':
            o->read_timeout = (int64_t)(atof(optarg) * 1e9);
            break;
        case 'R':
            o->reuse_port = true;
            break;
        default:
            serve_usage(o->prog, o->addr);
        }
    }
    if (optind != argc || o->procs < 0 || o->read_timeout <= 0)
        serve_usage(o->prog, o->addr);

    serve_st.o = o;
    serve_raise_nofile();
    if (pipe2(serve_st.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        perror("pipe2");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = serve_on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    gort_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = o->procs;
    cfg.stack_size = 64 * 1024;
    int rc = gnet_main(serve_main_g, o, &cfg);
    if (rc < 0) {
        fprintf(stderr, "%s: runtime: %s\n", o->prog, strerror(-rc));
        return 1;
    }
    return 0;
}

#endif
