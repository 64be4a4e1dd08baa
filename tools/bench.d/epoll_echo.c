/*
 * epoll_echo.c: the floor of the echo benchmark: one thread, one
 * level-triggered epoll set, a read and a write per message and nothing
 * else. A server on one CPU cannot do the same work with fewer system
 * calls, so gort's echo is measured against it.
 *
 *   epoll_echo PORT
 *
 * A reply the socket cannot take at once is kept and finished when the
 * socket is writable again (EPOLLOUT); with one message in flight per
 * connection that does not happen, but the floor must still be right.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ 16384
#define MAXEV 256

struct conn {
    int fd;
    size_t off, len; /* unsent part of buf */
    char buf[BUFSZ];
};

static void die(const char *what)
{
    fprintf(stderr, "epoll_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void drop(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Sends what is pending; returns -1 if the connection is dead. */
static int flush(int ep, struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);
        if (n < 0 && errno == EAGAIN) {
            struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            return 0;
        }
        if (n < 0)
            return -1;
        c->off += (size_t)n;
    }
    c->off = c->len = 0;
    return 0;
}

static void on_event(int ep, struct conn *c, uint32_t events)
{
    if (c->len > 0) {
        if (flush(ep, c) != 0) {
            drop(ep, c);
        } else if (c->len == 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    ssize_t n = read(c->fd, c->buf, BUFSZ);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        drop(ep, c);
        return;
    }
    c->len = (size_t)n;
    if (flush(ep, c) != 0)
        drop(ep, c);
}

static void on_accept(int ep, int l)
{
    int one = 1;

    for (;;) {
        int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != ECONNABORTED)
                die("accept4");
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = calloc(1, sizeof(*c));
        if (c == NULL)
            die("calloc");
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("epoll_ctl");
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int one = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: epoll_echo PORT\n");
        return 2;
    }
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l < 0)
        die("socket");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(l, 4096) != 0)
        die("listen");

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, l, &lev) != 0)
        die("epoll");

    struct epoll_event ev[MAXEV];
    for (;;) {
        int n = epoll_wait(ep, ev, MAXEV, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL)
                on_accept(ep, l);
            else
                on_event(ep, ev[i].data.ptr, ev[i].events);
        }
    }
}
