"""Goroutines that run Python code: go(), sleep(), Queue and WaitGroup.

    gort.go(fn, *args, **kwargs)    runs fn in a new goroutine
    gort.sleep(seconds)             parks the caller for that long
    gort.Queue(maxsize=0)           passes values between goroutines
    gort.WaitGroup()                waits for goroutines (or threads)

A goroutine has a Python thread state of its own but no thread: when it
waits in a gort call (read, write, accept, dial, sleep, wait) it parks,
with the GIL released, and its thread runs another goroutine. Many
connections then share one thread per P, with no kernel wake-up from
one to the next; that is what makes gort.serve(..., goroutines=True)
fast.

The price is Go's: a goroutine must wait only in gort. A call that
blocks its thread instead (time.sleep, a threading.Lock held by another
goroutine, a blocking socket, input()) stops every goroutine queued on
that P until it returns. Use gort.sleep, gort.Queue and gort.WaitGroup,
and keep other blocking work in threads.

threading.get_ident() names the thread a goroutine runs on, not the
goroutine: several goroutines share it, so thread-keyed tools (RLock
ownership, per-thread caches) see them as one. threading.local() is per
goroutine. When the main thread ends, the interpreter exits without
waiting for goroutines, as a Go program does.
"""

import collections
import itertools
import queue
import sys
import traceback

from gort._ffi import ffi, lib
from gort._net import _INT64_MAX, _ns_delay, _runtime, on_main_thread

# What each goroutine not yet started will run: token -> (fn, args,
# kwargs). go() adds under the GIL; the goroutine takes its entry out
# first thing (_run).
_pending = {}
_tokens = itertools.count(1)


def go(fn, *args, **kwargs):
    """Runs fn(*args, **kwargs) in a new goroutine and returns at once.
    An exception that escapes fn is printed on stderr with its
    traceback, and the other goroutines go on; SystemExit just ends the
    goroutine, as it ends a thread.

    fn must wait only in gort's calls (I/O on gort conns, gort.sleep, a
    gort.WaitGroup): a call that blocks the thread instead (time.sleep,
    a threading lock, a blocking socket) holds up every goroutine on
    that thread until it returns. A goroutine's C stack is 8 MiB of
    address space, touched only as used."""
    if not callable(fn):
        raise TypeError(f"go() needs a callable, not {type(fn).__name__}")
    check_goroutines()
    _runtime()
    token = next(_tokens)
    _pending[token] = (fn, args, kwargs)
    rc = lib.gpy_go(token)
    if rc < 0:
        del _pending[token]
        raise OSError(-rc, "gort.go: cannot start a goroutine")


def check_goroutines():
    """Raises RuntimeError where this Python cannot run goroutines."""
    if not lib.gpy_supported():
        raise RuntimeError("goroutines that run Python code are not "
                           "supported on Python "
                           f"{sys.version_info.major}."
                           f"{sys.version_info.minor}; use threads")


def _run(token):
    """The body of every Python goroutine, called by gpy.c."""
    fn, args, kwargs = _pending.pop(token)
    try:
        fn(*args, **kwargs)
    except SystemExit:
        pass  # ends the goroutine, as it ends a thread
    except BaseException as e:  # noqa: B036 (reported, as threads do)
        print(f"Exception in goroutine {_goid()} ({_name(fn)}):",
              file=sys.stderr)
        traceback.print_exception(type(e), e, e.__traceback__,
                                  file=sys.stderr)


def _goid():
    return lib.gort_goid(lib.gort_self())


def _name(fn):
    return getattr(fn, "__qualname__", None) or repr(fn)


# The main thread waits in slices of this much, so that Python can run
# a signal's handler (Ctrl-C) between them: its sleeps and waits on a
# WaitGroup are not cancelable in the runtime the way I/O waits are.
_MAIN_SLICE_NS = 50_000_000


def sleep(seconds):
    """Parks the calling goroutine (or thread) for seconds; its thread
    runs other goroutines meanwhile. sleep(0) or less returns at once."""
    ns = _ns_delay(seconds, "sleep time")
    _runtime()
    if ns <= 0:
        return
    if not on_main_thread():
        lib.gort_sleep(ns)
        return
    now = lib.gort_now()
    end = now + ns if ns < _INT64_MAX - now else _INT64_MAX
    while now < end:
        lib.gort_sleep(min(end - now, _MAIN_SLICE_NS))
        now = lib.gort_now()


def _acquire(sema, deadline):
    """Takes one permit of a runtime semaphore, parking the caller until
    there is one or until deadline (gort_now() ns; 0: none). Returns
    whether it got one. The main thread waits in slices (see
    _MAIN_SLICE_NS)."""
    if not on_main_thread():
        return lib.gort_sem_acquire_until(sema, deadline) == 0
    while True:
        until = lib.gort_now() + _MAIN_SLICE_NS
        if deadline != 0 and deadline <= until:
            return lib.gort_sem_acquire_until(sema, max(deadline, 1)) == 0
        if lib.gort_sem_acquire_until(sema, until) == 0:
            return True


def _deadline(timeout):
    """A queue timeout (seconds; None: forever) as a _acquire deadline."""
    if timeout is None:
        return 0
    ns = _ns_delay(timeout, "timeout")
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    now = lib.gort_now()
    return now + ns if ns < _INT64_MAX - now else _INT64_MAX


class Queue:
    """A FIFO queue for goroutines and threads alike: get() parks while
    it is empty, put() while it is full (maxsize > 0; 0 is unbounded).
    queue.Queue would park a goroutine's whole thread instead. With a
    timeout (seconds), get raises queue.Empty and put queue.Full when it
    passes; timeout=0 does not wait."""

    __slots__ = ("maxsize", "_items", "_avail", "_free")

    # Every permit of _avail is an item already appended, and every
    # permit of _free a place for one: under the GIL, the deque is never
    # popped empty nor grown past maxsize.

    def __init__(self, maxsize=0):
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError("maxsize must be an int")
        if not 0 <= maxsize < 2**32:
            raise ValueError("maxsize must be from 0 to 2**32 - 1")
        _runtime()
        self.maxsize = maxsize
        self._items = collections.deque()
        self._avail = ffi.new("uint32_t *")
        self._free = ffi.new("uint32_t *", maxsize) if maxsize else None

    def put(self, item, timeout=None):
        if self._free is not None and not _acquire(self._free,
                                                   _deadline(timeout)):
            raise queue.Full
        self._items.append(item)
        lib.gort_sem_release(self._avail, False)

    def get(self, timeout=None):
        if not _acquire(self._avail, _deadline(timeout)):
            raise queue.Empty
        item = self._items.popleft()
        if self._free is not None:
            lib.gort_sem_release(self._free, False)
        return item

    def put_nowait(self, item):
        self.put(item, timeout=0)

    def get_nowait(self):
        return self.get(timeout=0)

    def qsize(self):
        return len(self._items)

    def empty(self):
        return not self._items


class WaitGroup:
    """Go's sync.WaitGroup: add(n) before starting n goroutines, each
    calls done(), and wait() parks until the count is back at zero.
    Goroutines and threads may use it alike."""

    __slots__ = ("_sema", "_count", "_waiters", "_round")

    # The count and the number of waiters are Python state, changed only
    # under the GIL, so that every check and change is one step; the
    # runtime's semaphore only parks the waiters. (Keeping the count in
    # C instead would let two calls reach it in another order than they
    # passed the check, since CFFI drops the GIL before each call.)
    # _round counts the times the count came back to zero with waiters:
    # a waiter that gives up (Ctrl-C) knows from it whether a permit was
    # already released for it.

    def __init__(self):
        _runtime()
        self._sema = ffi.new("uint32_t *")
        self._count = 0
        self._waiters = 0
        self._round = 0

    def add(self, delta=1):
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError("delta must be an int")
        n = self._count + delta
        if n < 0:
            raise ValueError("WaitGroup counter would go negative")
        self._count = n
        if n == 0 and self._waiters:
            waiters, self._waiters = self._waiters, 0
            self._round += 1
            for _ in range(waiters):
                lib.gort_sem_release(self._sema, False)

    def done(self):
        self.add(-1)

    def wait(self):
        """Parks until the count is zero; at once if it is."""
        if self._count == 0:
            return
        self._waiters += 1
        if not on_main_thread():
            lib.gort_sem_acquire(self._sema)
            return
        mine = self._round
        try:
            _acquire(self._sema, 0)
        except BaseException:
            if self._round == mine:
                self._waiters -= 1  # still counted: no permit is coming
            else:
                lib.gort_sem_acquire(self._sema)  # take the one released
            raise

    @property
    def count(self):
        return self._count
