/*
 * fuzz_http: libFuzzer target for http_hello's request parser
 * (tools/src/http_parse.h), with no socket.
 *
 * The input is what a client sent, as much as fits in the server's
 * input buffer. It is consumed the way the server consumes it: parse
 * at the front, and while a complete request with no error status is
 * there, step over it. For every request found:
 *
 *   - its size lies inside what is left and covers at least the blank
 *     line that ends the head;
 *   - parsing exactly those bytes again finds the same request, so a
 *     request never depends on the bytes after it;
 *   - an incomplete request (false) has no error status and no size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_SIZE (8 * 1024)
#include "http_parse.h"

#define FUZZ_CHECK(cond, what)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_http: %s (%s:%d)\n", (what), __FILE__,       \
                    __LINE__);                                                 \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = size < IN_SIZE ? size : IN_SIZE;
    size_t off = 0;
    request rq, again;

    /* An exact copy, so that a read past the input is caught. */
    char *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, len);

    for (;;) {
        if (!parse(buf + off, len - off, &rq)) {
            FUZZ_CHECK(rq.status == 0, "incomplete request with a status");
            break;
        }
        if (rq.status != 0) {
            FUZZ_CHECK(rq.status == 400 || rq.status == 413 || rq.status == 501,
                       "unknown error status");
            break;
        }
        FUZZ_CHECK(rq.size >= 4, "request shorter than its blank line");
        FUZZ_CHECK(rq.size <= len - off, "request past the input");
        FUZZ_CHECK(rq.size <= IN_SIZE, "request larger than the buffer");

        /* The same bytes alone are the same request. */
        char *one = malloc(rq.size);
        FUZZ_CHECK(one != NULL, "out of memory");
        memcpy(one, buf + off, rq.size);
        FUZZ_CHECK(parse(one, rq.size, &again), "request needs later bytes");
        FUZZ_CHECK(again.status == 0 && again.size == rq.size &&
                       again.keep == rq.keep,
                   "request changes without the bytes after it");
        free(one);
        off += rq.size;
    }
    free(buf);
    return 0;
}
