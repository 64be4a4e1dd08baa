/*
 * http_hello: a minimal HTTP/1.1 server that answers "Hello, World!".
 *
 *     http_hello [-l 127.0.0.1:8080] [-p PROCS] [-r READ_TIMEOUT_S] [-R]
 *
 * Connections are kept alive (HTTP/1.1 by default, HTTP/1.0 when the
 * client asks with "Connection: keep-alive"). Pipelined requests are
 * answered in order: every complete request in the input buffer gets
 * its response appended to one output buffer, which goes out in one
 * write. A request body announced by Content-Length is skipped;
 * chunked bodies are refused (501). A request whose head does not fit
 * in the input buffer gets 431; a malformed one gets 400. Either way
 * the connection is then closed.
 */
#include "serve.h"

#define IN_SIZE (8 * 1024)
#define OUT_SIZE (32 * 1024)

#include "http_parse.h"

#define BODY "Hello, World!"
#define HEAD                                                                   \
    "HTTP/1.1 200 OK\r\n"                                                      \
    "Server: gort\r\n"                                                         \
    "Content-Type: text/plain; charset=utf-8\r\n"                              \
    "Content-Length: 13\r\n"

static const char resp_keep[] = HEAD "\r\n" BODY;
static const char resp_keep10[] = HEAD "Connection: keep-alive\r\n\r\n" BODY;
static const char resp_close[] = HEAD "Connection: close\r\n\r\n" BODY;

static void send_status(gnet_conn *c, int status)
{
    char buf[160];
    const char *text = status == 400   ? "Bad Request"
                       : status == 413 ? "Content Too Large"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Not Implemented";
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     status, text);
    gnet_write(c, buf, (size_t)n, NULL);
}

typedef struct bufs {
    char in[IN_SIZE];
    char out[OUT_SIZE];
} bufs;

/* Answers every complete request in b->in[0:*have]; returns -1 to
 * close the conn, else 0, leaving the unparsed rest at the front. */
static int answer(gnet_conn *c, bufs *b, size_t *have)
{
    size_t off = 0, outlen = 0;
    int rc = 0;
    request rq;

    while (rc == 0 && parse(b->in + off, *have - off, &rq)) {
        if (rq.status != 0) {
            rc = -rq.status;
            break;
        }
        const char *r = !rq.keep ? resp_close
                        : memmem(b->in + off, rq.size, " HTTP/1.0\r\n", 11)
                            ? resp_keep10
                            : resp_keep;
        size_t rl = strlen(r);
        if (outlen + rl > sizeof(b->out)) {
            if (gnet_write(c, b->out, outlen, NULL) < 0)
                return -1;
            outlen = 0;
        }
        memcpy(b->out + outlen, r, rl);
        outlen += rl;
        off += rq.size;
        if (!rq.keep)
            rc = -1;
    }

    if (outlen > 0 && gnet_write(c, b->out, outlen, NULL) < 0)
        return -1;
    if (rc < -1)
        send_status(c, -rc);
    if (rc < 0)
        return -1;
    memmove(b->in, b->in + off, *have - off);
    *have -= off;
    if (*have == sizeof(b->in)) {
        send_status(c, 431);
        return -1;
    }
    return 0;
}

static void serve_http(gnet_conn *c, int64_t read_timeout)
{
    bufs *b = malloc(sizeof(*b));
    size_t have = 0;
    int64_t armed = 0;

    if (b == NULL)
        return;
    for (;;) {
        if (!serve_arm_read(c, read_timeout, &armed))
            break;
        ssize_t n = gnet_read(c, b->in + have, sizeof(b->in) - have, NULL);
        if (n <= 0)
            break;
        have += (size_t)n;
        if (answer(c, b, &have) < 0)
            break;
    }
    free(b);
}

int main(int argc, char **argv)
{
    serve_opts o = {0};

    o.prog = "http_hello";
    o.addr = "127.0.0.1:8080";
    o.handler = serve_http;
    return serve_run(&o, argc, argv);
}
