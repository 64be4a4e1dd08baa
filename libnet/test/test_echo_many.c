/*
 * 10,000 concurrent echo connections, one goroutine per connection on
 * both sides.
 *
 * Server and clients run in separate processes (fork before either
 * starts its runtime): each side then holds 10,000 fds, which fits the
 * usual hard RLIMIT_NOFILE of about 20,000 where 20,000 in one process
 * would not. Every client connects first and waits until all 10,000
 * are connected at once; only then do they exchange messages.
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_test.h"

/* ThreadSanitizer counts each G as a thread and allows 8128 in all:
 * under it the test keeps fewer connections. */
#ifdef __SANITIZE_THREAD__
#define NCONN 3000
#else
#define NCONN 10000
#endif
#define ROUNDS 3
#define MSG 64

static int nconn = NCONN;

/* ------------------------------------------------------------------ */
/* Server process. */

typedef struct server {
    gnet_listener *l;
    _Atomic int finished; /* conns served to end of stream */
    uint32_t all_done;    /* released once all conns finished */
    uint32_t accept_done; /* released when the accept loop returns */
} server;

typedef struct served {
    server *srv;
    gnet_conn *c;
} served;

static void echo_conn(void *arg)
{
    served *sv = arg;
    char buf[MSG * 4];
    gnet_error err;

    for (;;) {
        gnet_set_read_deadline(sv->c, gort_now() + 60 * SEC, &err);
        ssize_t n = gnet_read(sv->c, buf, sizeof(buf), &err);
        if (n <= 0)
            break;
        if (gnet_write(sv->c, buf, (size_t)n, &err) < 0)
            break;
    }
    gnet_conn_free(sv->c);
    if (atomic_fetch_add(&sv->srv->finished, 1) + 1 == nconn)
        gort_sem_release(&sv->srv->all_done, false);
    free(sv);
}

static void accept_loop(void *arg)
{
    server *srv = arg;
    gnet_error err;

    for (;;) {
        gnet_conn *c;
        if (gnet_accept(srv->l, &c, &err) < 0) {
            if (gnet_error_is_closed(&err)) {
                gort_sem_release(&srv->accept_done, false);
                return;
            }
            gort_sleep(5 * MS);
            continue;
        }
        served *sv = malloc(sizeof(*sv));
        CHECK(sv != NULL);
        sv->srv = srv;
        sv->c = c;
        CHECK_EQ(gort_go(echo_conn, sv), 0);
    }
}

static void server_main(void *arg)
{
    int wfd = *(int *)arg;
    server srv;
    gnet_error err;
    gnet_listen_config cfg = {0};

    memset(&srv, 0, sizeof(srv));
    cfg.backlog = 65535;
    CHECK_OK(gnet_listen("tcp4", "127.0.0.1:0", &cfg, &srv.l, &err), &err);
    int port = gnet_addr_port(gnet_listener_addr(srv.l));
    CHECK_EQ(write(wfd, &port, sizeof(port)), (ssize_t)sizeof(port));
    close(wfd);

    CHECK_EQ(gort_go(accept_loop, &srv), 0);
    gort_sem_acquire(&srv.all_done);
    /* Close wakes the accept loop; free only once it has let go (the
     * listener and srv itself). */
    gnet_listener_close(srv.l, NULL);
    gort_sem_acquire(&srv.accept_done);
    gnet_listener_free(srv.l);
}

/* ------------------------------------------------------------------ */
/* Client process. */

typedef struct clients {
    char addr[64];
    gort_waitgroup connected;
    gort_waitgroup finished;
    uint32_t gate;     /* released nconn times once all are connected */
    _Atomic int ok;    /* clients whose every round trip matched */
    _Atomic int fails; /* dial or I/O failures */
    _Atomic int first_error_set;
    gnet_error first_error;
} clients;

static void record_failure(clients *cl, const gnet_error *err)
{
    atomic_fetch_add(&cl->fails, 1);
    if (atomic_exchange(&cl->first_error_set, 1) == 0)
        cl->first_error = *err;
}

static bool round_trips(gnet_conn *c, int id, gnet_error *err)
{
    char out[MSG], in[MSG];

    for (int r = 0; r < ROUNDS; r++) {
        memset(out, 'a' + (id + r) % 26, sizeof(out));
        memcpy(out, &id, sizeof(id));
        if (gnet_write(c, out, sizeof(out), err) < 0)
            return false;
        size_t got = 0;
        while (got < sizeof(in)) {
            ssize_t n = gnet_read(c, in + got, sizeof(in) - got, err);
            if (n <= 0)
                return false;
            got += (size_t)n;
        }
        if (memcmp(in, out, sizeof(in)) != 0)
            return false;
    }
    return true;
}

typedef struct client_arg {
    clients *cl;
    int id;
} client_arg;

static void client(void *arg)
{
    client_arg *ca = arg;
    clients *cl = ca->cl;
    gnet_conn *c = NULL;
    gnet_error err;

    int rc = gnet_dial_timeout("tcp4", cl->addr, 60 * SEC, &c, &err);
    if (rc < 0)
        record_failure(cl, &err);
    gort_wg_done(&cl->connected);
    gort_sem_acquire(&cl->gate);

    if (rc == 0) {
        gnet_set_deadline(c, gort_now() + 60 * SEC, &err);
        if (round_trips(c, ca->id, &err))
            atomic_fetch_add(&cl->ok, 1);
        else
            record_failure(cl, &err);
        gnet_conn_free(c);
    }
    gort_wg_done(&cl->finished);
}

static void clients_main(void *arg)
{
    clients *cl = arg;
    client_arg *args = calloc((size_t)nconn, sizeof(*args));

    CHECK(args != NULL);
    gort_wg_add(&cl->connected, nconn);
    gort_wg_add(&cl->finished, nconn);
    for (int i = 0; i < nconn; i++) {
        args[i].cl = cl;
        args[i].id = i;
        CHECK_EQ(gort_go(client, &args[i]), 0);
    }

    /* All connected at the same time before any traffic. */
    gort_wg_wait(&cl->connected);
    for (int i = 0; i < nconn; i++)
        gort_sem_release(&cl->gate, false);
    gort_wg_wait(&cl->finished);
    free(args);
}

TEST(echo_10000_concurrent_conns_across_processes)
{
    struct rlimit rl;
    int p[2];

    /* Each process needs NCONN fds plus a few. */
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    CHECK_MSG(rl.rlim_cur >= (rlim_t)NCONN + 256,
              "hard RLIMIT_NOFILE %ju is below %d", (uintmax_t)rl.rlim_cur,
              NCONN + 256);

    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        close(p[0]);
        gort_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.procs = 2;
        cfg.stack_size = 64 * 1024;
        _exit(gnet_main(server_main, &p[1], &cfg) == 0 ? 0 : 3);
    }

    close(p[1]);
    int port = 0;
    CHECK_EQ(read(p[0], &port, sizeof(port)), (ssize_t)sizeof(port));
    close(p[0]);

    clients cl;
    memset(&cl, 0, sizeof(cl));
    snprintf(cl.addr, sizeof(cl.addr), "127.0.0.1:%d", port);
    gort_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.procs = 2;
    cfg.stack_size = 64 * 1024;
    CHECK_EQ(gnet_main(clients_main, &cl, &cfg), 0);

    if (cl.fails > 0) {
        char buf[512];
        gnet_error_format(&cl.first_error, buf, sizeof(buf));
        kill(pid, SIGKILL);
        CHECK_MSG(false, "%d clients failed; first: %s", (int)cl.fails, buf);
    }
    CHECK_EQ(cl.ok, nconn);

    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}
