/*
 * The structured error at libnet's API, printed the way Go prints a
 * *net.OpError:
 *
 *     op [net] [source] [->|space addr]: cause
 *
 * where the cause is an errno text (after "syscall: " when a system
 * call failed, as Go's os.SyscallError), one of Go's fixed texts
 * ("i/o timeout", "use of closed network connection", ...), or an
 * address or lookup error ("address foo: missing port in address").
 *
 * Errno texts are glibc's descriptions with the first letter lowered,
 * which is how Go spells its own errno table ("connection refused").
 *
 * Hot paths only touch cause, errnum and n on success; the strings are
 * written only when something failed.
 */
#include <errno.h>
#include <string.h>

#include "net_private.h"

_Noreturn void gnet__fatal(const char *fn, const char *what, const char *file,
                           int line)
{
    fprintf(stderr, "%s: %s (%s:%d)\n", fn, what, file, line);
    fflush(stderr);
    abort();
}

void gnet__copy(char *dst, size_t size, const char *src)
{
    if (size == 0)
        return;
    if (src == NULL)
        src = "";
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void gnet__err_ok(gnet_error *e)
{
    if (e == NULL)
        return;
    e->cause = GNET_OK;
    e->errnum = 0;
    e->n = 0;
}

void gnet__err_frame_text(gnet_error *e, const char *op, const char *net,
                          const char *source, const char *addr)
{
    if (e == NULL)
        return;
    gnet__copy(e->op, sizeof(e->op), op);
    gnet__copy(e->net, sizeof(e->net), net);
    gnet__copy(e->source, sizeof(e->source), source);
    gnet__copy(e->addr, sizeof(e->addr), addr);
}

void gnet__err_frame(gnet_error *e, const char *op, const char *net,
                     const gnet_addr *source, const gnet_addr *addr)
{
    if (e == NULL)
        return;
    gnet__copy(e->op, sizeof(e->op), op);
    gnet__copy(e->net, sizeof(e->net), net);
    e->source[0] = '\0';
    e->addr[0] = '\0';
    if (source != NULL && source->len > 0)
        gnet_addr_format(source, e->source, sizeof(e->source));
    if (addr != NULL && addr->len > 0)
        gnet_addr_format(addr, e->addr, sizeof(e->addr));
}

void gnet__err_cause(gnet_error *e, int cause, const char *name,
                     const char *reason)
{
    if (e == NULL)
        return;
    e->cause = cause;
    e->errnum = 0;
    e->syscall[0] = '\0';
    gnet__copy(e->name, sizeof(e->name), name);
    gnet__copy(e->reason, sizeof(e->reason), reason);
}

void gnet__err_code(gnet_error *e, int code, const char *call, bool is_file)
{
    if (e == NULL)
        return;
    GNET__CHECK(code < 0, "error code is not negative");

    switch (code) {
    case GNET__ERR_CLOSING:
        gnet__err_cause(e, is_file ? GNET_FILE_CLOSED : GNET_CLOSED, "", "");
        return;
    case GNET__ERR_TIMEOUT:
        gnet__err_cause(e, GNET_TIMEOUT, "", "");
        return;
    case GNET__ERR_NOT_POLLABLE:
        gnet__err_cause(e, GNET_NOT_POLLABLE, "", "");
        return;
    case GNET__ERR_NO_DEADLINE:
        gnet__err_cause(e, GNET_NO_DEADLINE, "", "");
        return;
    case GNET__ERR_UNEXPECTED_EOF:
        gnet__err_cause(e, GNET_UNEXPECTED_EOF, "", "");
        return;
    case GNET__ERR_WAIT_UNSUPPORTED:
        gnet__err_cause(e, GNET_INVALID, "",
                        "waiting for unsupported file type");
        return;
    }
    GNET__CHECK(code >= -4095, "unknown internal error code");
    gnet__err_cause(e, GNET_ERRNO, "", "");
    e->errnum = -code;
    gnet__copy(e->syscall, sizeof(e->syscall), call);
}

/* ------------------------------------------------------------------ */
/* Printing. */

/* A bounded writer that keeps counting past the end, like snprintf. */
typedef struct out {
    char *buf;
    size_t size;
    size_t len;
} out;

static void put(out *o, const char *s)
{
    size_t n = strlen(s);

    if (o->len + 1 < o->size) {
        size_t room = o->size - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
    if (o->size > 0)
        o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
}

static void put_errno(out *o, int errnum)
{
    const char *d = strerrordesc_np(errnum);
    char tmp[128];

    if (d == NULL) {
        snprintf(tmp, sizeof(tmp), "errno %d", errnum);
        put(o, tmp);
        return;
    }

    /* Lower the first letter unless it starts an acronym ("I/O"). */
    gnet__copy(tmp, sizeof(tmp), d);
    if (tmp[0] >= 'A' && tmp[0] <= 'Z' && !(tmp[1] >= 'A' && tmp[1] <= 'Z'))
        tmp[0] = (char)(tmp[0] - 'A' + 'a');
    put(o, tmp);
}

static const char *fixed_text(int cause)
{
    switch (cause) {
    case GNET_OK:
        return "<nil>";
    case GNET_CLOSED:
        return "use of closed network connection";
    case GNET_FILE_CLOSED:
        return "use of closed file";
    case GNET_TIMEOUT:
        return "i/o timeout";
    case GNET_NOT_POLLABLE:
        return "not pollable";
    case GNET_NO_DEADLINE:
        return "file type does not support deadline";
    case GNET_MISSING_ADDRESS:
        return "missing address";
    case GNET_NO_SUITABLE:
        return "no suitable address found";
    case GNET_UNEXPECTED_EOF:
        return "unexpected EOF";
    }
    return NULL;
}

static void put_cause(out *o, const gnet_error *e)
{
    const char *fixed = fixed_text(e->cause);

    switch (e->cause) {
    case GNET_ERRNO:
        if (e->syscall[0] != '\0') {
            put(o, e->syscall);
            put(o, ": ");
        }
        put_errno(o, e->errnum);
        return;
    case GNET_UNKNOWN_NETWORK:
        put(o, "unknown network ");
        put(o, e->name);
        return;
    case GNET_BAD_ADDRESS:
    case GNET_NO_SUITABLE:
        if (e->name[0] != '\0') {
            put(o, "address ");
            put(o, e->name);
            put(o, ": ");
        }
        put(o, fixed != NULL ? fixed : e->reason);
        return;
    case GNET_LOOKUP:
        put(o, "lookup ");
        put(o, e->name);
        put(o, ": ");
        put(o, e->reason);
        return;
    case GNET_INVALID:
        put(o, e->reason);
        return;
    }
    put(o, fixed != NULL ? fixed : "unknown error");
}

size_t gnet_error_cause_format(const gnet_error *e, char *buf, size_t size)
{
    out o = {buf, buf != NULL ? size : 0, 0};

    if (o.size > 0)
        buf[0] = '\0';
    if (e == NULL) {
        put(&o, "<nil>");
        return o.len;
    }
    put_cause(&o, e);
    return o.len;
}

size_t gnet_error_format(const gnet_error *e, char *buf, size_t size)
{
    out o = {buf, buf != NULL ? size : 0, 0};

    /* A NULL buffer only measures, as snprintf(NULL, 0, ...) does. */
    if (o.size > 0)
        buf[0] = '\0';
    if (e == NULL || e->cause == GNET_OK) {
        put(&o, "<nil>");
        return o.len;
    }

    put(&o, e->op);
    if (e->net[0] != '\0') {
        put(&o, " ");
        put(&o, e->net);
    }
    if (e->source[0] != '\0') {
        put(&o, " ");
        put(&o, e->source);
    }
    if (e->addr[0] != '\0') {
        put(&o, e->source[0] != '\0' ? "->" : " ");
        put(&o, e->addr);
    }
    put(&o, ": ");
    put_cause(&o, e);
    return o.len;
}

bool gnet_error_is_timeout(const gnet_error *e)
{
    if (e == NULL)
        return false;
    if (e->cause == GNET_TIMEOUT)
        return true;
    return e->cause == GNET_ERRNO &&
           (e->errnum == ETIMEDOUT || e->errnum == EAGAIN);
}

bool gnet_error_is_closed(const gnet_error *e)
{
    return e != NULL &&
           (e->cause == GNET_CLOSED || e->cause == GNET_FILE_CLOSED);
}
