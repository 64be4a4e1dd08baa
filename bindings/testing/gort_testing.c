/*
 * gort_testing.c: the C half of gort._testing, the test-only module the
 * hypothesis state machines drive.
 *
 * A state machine runs in one Python thread, which is a foreign thread
 * to the runtime: it may call anything that does not block. Whatever
 * may park (gpoll_wait, an fdMutex lock, a read) runs in a goroutine
 * started here, which records its outcome in a gt_op that Python
 * reads. With one P and the virtual clock, gt_settle() returns only
 * once every G is blocked, so after each step the machine sees the
 * complete effect of that step and nothing else: time moves only inside
 * gt_advance().
 *
 * This module carries its own copy of the three libraries (see
 * bindings/build_gort.py), so its deterministic runtime never meets
 * the one the public API starts.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "gt_testing.h"

/* ------------------------------------------------------------------ */
/* Timer heaps. */

void gt_timer_fire(void *arg, uintptr_t seq, int64_t delay)
{
    gt_timer_log *log = arg;

    if (log->n < GT_LOG_MAX) {
        log->seq[log->n] = seq;
        log->delay[log->n] = delay;
        log->n++;
    }
}

gort_timer_fn gt_timer_fire_ptr = gt_timer_fire;

/* ------------------------------------------------------------------ */
/* Operations in goroutines. */

gt_op *gt_op_new(void)
{
    return calloc(1, sizeof(gt_op));
}

void gt_op_free(gt_op *op)
{
    free(op);
}

int gt_op_state(gt_op *op)
{
    return atomic_load_explicit((_Atomic int *)&op->state,
                                memory_order_acquire);
}

/* Numbers completions, so that a model can replay them in the order
 * they happened. With one P only one G runs at a time, so the order is
 * a true serialisation: a G's effects all come before its finish. */
static _Atomic uint64_t ndone;

static void finish(gt_op *op, int64_t result, const gnet_error *err)
{
    op->result = result;
    op->done = atomic_fetch_add(&ndone, 1) + 1;
    if (err) {
        op->cause = err->cause;
        op->errnum = err->errnum;
        op->n = err->n;
    }
    atomic_store_explicit((_Atomic int *)&op->state, GT_DONE,
                          memory_order_release);
}

static int go(gt_op *op, gort_fn fn, int kind)
{
    op->kind = kind;
    op->state = GT_PENDING;
    op->g = NULL;
    op->result = 0;
    op->cause = 0;
    op->errnum = 0;
    op->n = 0;
    op->done = 0;
    return gort_go(fn, op);
}

static void run_pd_wait(void *arg)
{
    gt_op *op = arg;

    op->g = gort_self();
    finish(op, gpoll_wait(op->pd, op->mode), NULL);
}

int gt_go_pd_wait(gt_op *op, gpoll_desc *pd, int mode)
{
    op->pd = pd;
    op->mode = mode;
    return go(op, run_pd_wait, 'p');
}

static void run_fdmu_lock(void *arg)
{
    gt_op *op = arg;

    op->g = gort_self();
    finish(op, gnet__fdmu_rwlock(op->mu, op->mode == 'r'), NULL);
}

int gt_go_fdmu_lock(gt_op *op, gnet__fdmu *mu, bool read)
{
    op->mu = mu;
    op->mode = read ? 'r' : 'w';
    return go(op, run_fdmu_lock, 'l');
}

static void run_io(void *arg)
{
    gt_op *op = arg;
    gnet_error err;
    ssize_t n;

    op->g = gort_self();
    if (op->kind == 'r')
        n = gnet_read(op->conn, op->buf, op->len, &err);
    else if (op->kind == 'w')
        n = gnet_write(op->conn, op->buf, op->len, &err);
    else
        n = gnet_conn_close(op->conn, &err);
    finish(op, n, &err);
}

int gt_go_read(gt_op *op, gnet_conn *c, void *buf, size_t len)
{
    op->conn = c;
    op->buf = buf;
    op->len = len;
    return go(op, run_io, 'r');
}

int gt_go_write(gt_op *op, gnet_conn *c, const void *buf, size_t len)
{
    op->conn = c;
    op->buf = (void *)buf;
    op->len = len;
    return go(op, run_io, 'w');
}

int gt_go_close(gt_op *op, gnet_conn *c)
{
    op->conn = c;
    return go(op, run_io, 'c');
}

/* ------------------------------------------------------------------ */
/* Forged epoll events. */

int gt_pd_event(gpoll_desc *pd, uintptr_t seq, uint32_t events)
{
    gort_glist l = {0};
    int n;

    gpoll__netpoll_event(gpoll__tag_pack(pd, seq & GPOLL__TAG_MASK), events,
                         0, &l);
    n = l.n;
    gort_ready_list(&l);
    return n;
}

uintptr_t gt_pd_fdseq(gpoll_desc *pd)
{
    return atomic_load(&pd->fdseq);
}

/* ------------------------------------------------------------------ */
/* The deterministic runtime. */

int gt_start_virtual(void)
{
    gort_config cfg = {0};
    int rc;

    cfg.procs = 1;
    cfg.virtual_clock = true;
    rc = gnet_start(&cfg);
    if (rc < 0)
        return rc;

    /* A thread counts as a running foreign thread, which holds virtual
     * time still, only from its first park on; until then a goroutine
     * it starts could block and let the clock run to the next timer
     * while the thread is still setting up. Settling once registers
     * it. */
    return gort__test_settle();
}

int gt_settle(void)
{
    return gort__test_settle();
}

int gt_advance(int64_t ns)
{
    if (ns > 0)
        gort_sleep(ns);
    return gort__test_settle();
}
