/*
 * gt_testing.h: declarations of gort_testing.c, shared with the source
 * the CFFI builder generates for gort._testing.
 */
#ifndef GT_TESTING_H
#define GT_TESTING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "gort_net.h"
#include "gort_poll.h"
#include "gort_sched.h"
#include "net_private.h"
#include "netpoll.h"
#include "testing.h"

#define GT_LOG_MAX 4096

typedef struct gt_timer_log {
    uintptr_t seq[GT_LOG_MAX];
    int64_t delay[GT_LOG_MAX]; /* how late each fired */
    int n;
} gt_timer_log;

void gt_timer_fire(void *arg, uintptr_t seq, int64_t delay);
extern gort_timer_fn gt_timer_fire_ptr;

enum { GT_PENDING = 1, GT_DONE = 2 };

typedef struct gt_op {
    int state;      /* GT_PENDING, then GT_DONE; atomic */
    int kind;       /* which call: 'p', 'l', 'r', 'w', 'c' */
    gort_g *g;      /* the goroutine; set by it when it starts */
    int64_t result; /* what the call returned */
    int cause;      /* gnet_error cause, for I/O calls */
    int errnum;
    int64_t n;      /* bytes written before a failed write */
    uint64_t done;  /* 0 until finished, then a process-wide count
                     * of completions: sorting by it replays them in
                     * the order they happened */

    /* Arguments, set before the goroutine starts. */
    gpoll_desc *pd;
    int mode;
    gnet__fdmu *mu;
    gnet_conn *conn;
    void *buf;
    size_t len;
} gt_op;

gt_op *gt_op_new(void);
void gt_op_free(gt_op *op);
int gt_op_state(gt_op *op);
int gt_go_pd_wait(gt_op *op, gpoll_desc *pd, int mode);
int gt_go_fdmu_lock(gt_op *op, gnet__fdmu *mu, bool read);
int gt_go_read(gt_op *op, gnet_conn *c, void *buf, size_t len);
int gt_go_write(gt_op *op, gnet_conn *c, const void *buf, size_t len);
int gt_go_close(gt_op *op, gnet_conn *c);
int gt_pd_event(gpoll_desc *pd, uintptr_t seq, uint32_t events);
uintptr_t gt_pd_fdseq(gpoll_desc *pd);
int gt_start_virtual(void);
int gt_settle(void);
int gt_advance(int64_t ns);

#endif
