/*
 * http_parse.h: the request parser of http_hello, on its own.
 *
 * It works on bytes only, with no socket and no runtime, so that a fuzz
 * target (tools/fuzz/fuzz_http.c) can drive it. parse() looks at the
 * start of a buffer and says whether a whole request is there, how many
 * bytes it takes (head plus body), whether the connection stays open
 * after it, or which error status to answer with.
 *
 * What it accepts: a request line "METHOD SP TARGET SP HTTP/1.x", then
 * header lines "name: value" up to an empty line. Connection, Content-
 * Length and Transfer-Encoding are read; everything else is skipped.
 * IN_SIZE, the largest request (head plus body), is defined by the
 * includer before this header.
 *
 * Header-only (static functions), like serve.h.
 */
#ifndef GORT_TOOLS_HTTP_PARSE_H
#define GORT_TOOLS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#ifndef IN_SIZE
#error "define IN_SIZE (the largest request) before including http_parse.h"
#endif

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

#endif
