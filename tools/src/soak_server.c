/*
 * soak_server: the server half of tools/soak.
 *
 *     soak_server [-l 127.0.0.1:0] [-p PROCS] [-r READ_TIMEOUT_MS]
 *
 * An echo server, one G per conn, with a short read deadline so that
 * idle conns are closed by the deadline. It logs "listening on ADDR"
 * on stderr. SIGUSR1 prints a figures line (soak.h) on stdout;
 * SIGTERM or SIGINT closes everything, prints a last line labelled
 * "exit" and ends the program.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"

#define MS 1000000LL

static struct {
    gnet_listener *l;
    int64_t read_timeout;
    int sigpipe[2];
    _Atomic long conns;  /* conn Gs alive */
    _Atomic long served; /* conns ended */
    gort_waitgroup live; /* the accept G and conn Gs */
} srv = {.sigpipe = {-1, -1}, .live = GORT_WAITGROUP_INIT};

static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    int saved = errno;

    if (write(srv.sigpipe[1], &b, 1) < 0) {
    }
    errno = saved;
}

static void conn_g(void *arg)
{
    gnet_conn *c = arg;
    char buf[16 * 1024];

    for (;;) {
        if (gnet_set_read_deadline(c, gort_now() + srv.read_timeout, NULL) < 0)
            break;
        ssize_t n = gnet_read(c, buf, sizeof(buf), NULL);
        if (n <= 0 || gnet_write(c, buf, (size_t)n, NULL) < 0)
            break; /* end of stream, deadline, reset or shutdown */
    }
    gnet_conn_free(c);
    atomic_fetch_sub(&srv.conns, 1);
    atomic_fetch_add(&srv.served, 1);
    gort_wg_done(&srv.live);
}

static void accept_g(void *arg)
{
    gnet_error err;
    int64_t delay = 0;

    (void)arg;
    for (;;) {
        gnet_conn *c;
        if (gnet_accept(srv.l, &c, &err) < 0) {
            if (gnet_error_is_closed(&err))
                break;
            /* Out of fds: back off as the tool servers do. */
            delay = delay == 0
                        ? 5 * MS
                        : (delay * 2 > 1000 * MS ? 1000 * MS : delay * 2);
            gort_sleep(delay);
            continue;
        }
        delay = 0;
        atomic_fetch_add(&srv.conns, 1);
        gort_wg_add(&srv.live, 1);
        if (gort_go(conn_g, c) < 0) {
            gnet_conn_free(c);
            atomic_fetch_sub(&srv.conns, 1);
            gort_wg_done(&srv.live);
        }
    }
    gort_wg_done(&srv.live);
}

static void main_g(void *arg)
{
    const char *addr = arg;
    gnet_error err;
    gnet_conn *sig;
    soak_figures f;
    char text[GNET_ADDRSTRLEN];

    if (gnet_listen("tcp", addr, NULL, &srv.l, &err) < 0 ||
        gnet_file_new(srv.sigpipe[0], "signal pipe", &sig, &err) < 0) {
        gnet_error_format(&err, text, sizeof(text));
        fprintf(stderr, "soak_server: %s\n", text);
        exit(1);
    }
    gnet_addr_format(gnet_listener_addr(srv.l), text, sizeof(text));
    fprintf(stderr, "soak_server: listening on %s\n", text);
    gort_wg_add(&srv.live, 1);
    if (gort_go(accept_g, NULL) < 0)
        exit(1);

    unsigned char signo = 0;
    for (;;) {
        if (gnet_read(sig, &signo, 1, &err) != 1)
            continue;
        if (signo != SIGUSR1)
            break;
        soak_measure(&f, atomic_load(&srv.conns));
        soak_print("now", &f);
    }
    gnet_listener_close(srv.l, NULL);
    gort_wg_wait(&srv.live); /* conns end by their deadlines */
    gnet_listener_free(srv.l);
    gnet_conn_free(sig);
    soak_measure(&f, atomic_load(&srv.conns));
    soak_print("exit", &f);
    fprintf(stderr, "soak_server: stopped after %ld connections\n",
            atomic_load(&srv.served));
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:0";
    gort_config cfg;
    int opt;

    memset(&cfg, 0, sizeof(cfg));
    cfg.stack_size = 64 * 1024;
    srv.read_timeout = 500 * MS;
    while ((opt = getopt(argc, argv, "l:p:r:")) != -1) {
        switch (opt) {
        case 'l':
            addr = optarg;
            break;
        case 'p':
            cfg.procs = atoi(optarg);
            break;
        case 'r':
            srv.read_timeout = atoll(optarg) * MS;
            break;
        default:
            fprintf(stderr, "usage: soak_server [-l ADDR] [-p PROCS] "
                            "[-r READ_TIMEOUT_MS]\n");
            return 2;
        }
    }
    if (srv.read_timeout <= 0 || cfg.procs < 0)
        return 2;

    if (pipe2(srv.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return gnet_main(main_g, (void *)addr, &cfg) < 0 ? 1 : 0;
}
