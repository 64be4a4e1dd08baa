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

#define BODY "Hello, World!"
#define HEAD                                                                   \
    "HTTP/1.1 200 OK\r\n"                                                      \
    "Server: gort\r\n"                                                         \
    "Content-Type: text/plain; charset=utf-8\r\n"                              \
    "Content-Length: 13\r\n"

static const char resp_keep[] = HEAD "\r\n" BODY;
static const char resp_keep10[] = HEAD "Connection: keep-alive\r\n\r\n" BODY;
static const char resp_close[] = HEAD "Connection: close\r\n\r\n" BODY;

typedef struct request {
    size_t size; /* head plus body */
    bool keep;   /* keep the connection afterwards */
    int status;  /* 0: answer; else an error status to send and close */
} request;

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);

    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* The value after "name:", trimmed of spaces and tabs. */
static void header_value(const char *line, size_t len, const char **v,
                         size_t *vlen)
{
    const char *p = memchr(line, ':', len) + 1;
    const char *end = line + len;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *v = p;
    *vlen = (size_t)(end - p);
}

static bool token_in(const char *v, size_t vlen, const char *tok)
{
    size_t n = strlen(tok);

    for (size_t i = 0; i + n <= vlen; i++)
        if (strncasecmp(v + i, tok, n) == 0)
            return true;
    return false;
}

/* Parses the request at buf. Returns false if more input is needed. */
static bool parse(const char *buf, size_t len, request *rq)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    size_t body = 0;

    memset(rq, 0, sizeof(*rq));
    if (end == NULL)
        return false;
    size_t head = (size_t)(end - buf) + 4;

    /* Request line: METHOD SP TARGET SP HTTP/1.x */
    const char *eol = memmem(buf, head, "\r\n", 2);
    const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : 0;
    if (sp1 == NULL || sp2 == NULL || eol - sp2 != 9 ||
        strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        rq->status = 400;
        return true;
    }
    bool http11 = sp2[8] == '1';
    rq->keep = http11;

    for (const char *line = eol + 2; line < end;) {
        const char *next = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        size_t ll = (size_t)(next - line);
        const char *v;
        size_t vl;
        if (memchr(line, ':', ll) == NULL) {
            rq->status = 400;
            return true;
        }
        header_value(line, ll, &v, &vl);
        if (header_is(line, ll, "connection")) {
            if (token_in(v, vl, "close"))
                rq->keep = false;
            else if (token_in(v, vl, "keep-alive"))
                rq->keep = true;
        } else if (header_is(line, ll, "content-length")) {
            body = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9' || body > IN_SIZE) {
                    rq->status = body > IN_SIZE ? 413 : 400;
                    return true;
                }
                body = body * 10 + (size_t)(v[i] - '0');
            }
        } else if (header_is(line, ll, "transfer-encoding")) {
            rq->status = 501;
            return true;
        }
        line = next + 2;
    }
    if (head + body > IN_SIZE) {
        rq->status = 413;
        return true;
    }
    rq->size = head + body;
    return len >= rq->size;
}

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
