/*
 * gpy.c: goroutines that run Python code.
 *
 * Design
 * ------
 * A Python thread that calls into gort is a foreign thread: when it
 * must wait it sleeps on a futex, and waking it costs the kernel a
 * thread switch, and often a second one for the GIL. gort.go() runs a
 * Python callable as a real goroutine instead. Its blocking calls park
 * the goroutine, the M runs the next runnable one, and a thousand
 * connections share one thread per P with no kernel wake-up between
 * them.
 *
 * What makes that work is that every goroutine has a Python thread
 * state of its own, created on its own stack when it starts. CFFI's
 * wrapper around each C call saves the caller's thread state and drops
 * the GIL before the call (PyEval_SaveThread) and restores that same
 * state afterwards (PyEval_RestoreThread). A goroutine that parks
 * inside the call therefore holds no GIL and leaves the thread with no
 * current state; the goroutine the M switches to resumes inside its own
 * call and takes the GIL back with its own state. Each state keeps its
 * own frames, exception and context, so goroutines interleave on one
 * thread, or move between threads, without disturbing one another.
 *
 * The thread-state bookkeeping of the GIL API (PyGILState_*) maps an
 * OS thread to the first state created on it. So that this mapping
 * never points at a goroutine's state (which may end on another M and
 * be freed), each M creates an anchor state of its own before its
 * first goroutine's, and keeps it.
 *
 * XXX: a C extension that calls back into Python through
 * PyGILState_Ensure (a ctypes or sqlite3 callback, say) runs the
 * callback on the M's anchor state. That is sound while the callback
 * does not park; one that waits in gort inside the callback may resume
 * on another M, still on the first M's anchor, which that M may be
 * using meanwhile.
 *
 * Python's recursion limit counts frames, not bytes; the goroutine
 * stacks of the Python runtime are sized by the package (see
 * gort/_net.py) so that the limit is reached first.
 *
 * Rejected: one state per M swapped field by field at each switch, as
 * greenlet does (ties the binding to the layout of PyThreadState of
 * each Python version); callbacks through CFFI's extern "Python"
 * (they find the thread's state through PyGILState_Ensure, which is
 * the M's, shared by every goroutine on it).
 */
#include <Python.h>

#include <errno.h>
#include <stdint.h>

#include "gpy.h"

#if PY_VERSION_HEX >= 0x030E0000
/* Python 3.14 checks the C stack against the OS thread's bounds, which
 * a goroutine's stack is outside of. */
#define GPY_SUPPORTED 0
#else
#define GPY_SUPPORTED 1
#endif

/* The function that runs a goroutine's callable, gort._go._run, looked
 * up by the first goroutine; under the GIL. */
static PyObject *run_fn;

/* This M's anchor thread state; see the design note. */
static _Thread_local PyThreadState *anchor;

static PyObject *lookup_run(void)
{
    if (run_fn == NULL) {
        PyObject *mod = PyImport_ImportModule("gort._go");
        if (mod == NULL)
            return NULL;
        run_fn = PyObject_GetAttrString(mod, "_run");
        Py_DECREF(mod);
    }
    return run_fn;
}

static void entry(void *arg)
{
    PyInterpreterState *interp = PyInterpreterState_Main();

    if (anchor == NULL)
        anchor = PyThreadState_New(interp);

    PyThreadState *ts = PyThreadState_New(interp);
    PyEval_RestoreThread(ts);

    /* _run reports the callable's exceptions itself; what reaches here
     * is a failure of the package (a missing module, no memory). */
    PyObject *fn = lookup_run();
    PyObject *r = fn ? PyObject_CallFunction(fn, "L", (long long)(intptr_t)arg)
                     : NULL;
    if (r == NULL)
        PyErr_WriteUnraisable(NULL);
    Py_XDECREF(r);

    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
}

int gpy_supported(void)
{
    return GPY_SUPPORTED;
}

int gpy_go(int64_t token)
{
    if (!GPY_SUPPORTED)
        return -ENOSYS;
    if (token <= 0 || token > INTPTR_MAX)
        return -EINVAL;
    return gort_go(entry, (void *)(intptr_t)token);
}
