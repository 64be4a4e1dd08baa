/*
 * uv_echo.c: the libuv peer of the echo benchmark, written the way
 * libuv's own examples write an echo server: uv_read_start, then a
 * uv_write of what was read, the buffer freed when the write completes.
 *
 *   uv_echo PORT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

struct write_req {
    uv_write_t req;
    uv_buf_t buf;
};

static uv_loop_t *loop;

/* 16 KiB, the read size of every other server here (libuv's hint is
 * 64 KiB, which costs more in malloc than the read itself). */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(16384);
    buf->len = buf->base == NULL ? 0 : 16384;
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;

    (void)status;
    free(w->buf.base);
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        free(buf->base);
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0) {
        free(buf->base);
        return;
    }
    struct write_req *w = malloc(sizeof(*w));
    if (w == NULL) {
        fprintf(stderr, "uv_echo: out of memory\n");
        exit(1);
    }
    w->buf = uv_buf_init(buf->base, (unsigned)n);
    uv_write(&w->req, s, &w->buf, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        fprintf(stderr, "uv_echo: out of memory\n");
        exit(1);
    }
    uv_tcp_init(loop, c);
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    uv_tcp_t server;

    if (argc != 2) {
        fprintf(stderr, "usage: uv_echo PORT\n");
        return 2;
    }
    loop = uv_default_loop();
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
    if (rc != 0) {
        fprintf(stderr, "uv_echo: listen: %s\n", uv_strerror(rc));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
