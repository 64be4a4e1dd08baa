/*
 * block_server.c: the blocking C peer: a thread per connection doing
 * plain blocking read and write, what a program without any runtime
 * does.
 *
 *   block_server echo PORT      echo
 *   block_server stream PORT    writes 64 KiB chunks to every conn
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "block_server: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *echo_conn(void *p)
{
    int fd = (int)(intptr_t)p;
    char buf[16384];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(fd, buf, (size_t)n) != 0)
            break;
    }
    close(fd);
    return NULL;
}

static void *stream_conn(void *p)
{
    int fd = (int)(intptr_t)p;
    static char chunk[65536];

    while (write_all(fd, chunk, sizeof(chunk)) == 0)
        ;
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    void *(*handler)(void *) = echo_conn;
    int one = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: block_server echo|stream PORT\n");
        return 2;
    }
    if (strcmp(argv[1], "stream") == 0)
        handler = stream_conn;
    signal(SIGPIPE, SIG_IGN);
    sa.sin_port = htons((uint16_t)atoi(argv[2]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0)
        die("socket");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(l, 4096) != 0)
        die("listen");

    for (;;) {
        int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept4");
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_t th;
        if (pthread_create(&th, NULL, handler, (void *)(intptr_t)fd) != 0)
            die("pthread_create");
        pthread_detach(th);
    }
}
