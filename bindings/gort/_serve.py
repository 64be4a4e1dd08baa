"""serve(): many connections at once, each with a plain handler function.

By default one Python thread per connection: the handler is ordinary
blocking code, and while it waits in read() or write() its thread is
parked as a goroutine with the GIL released, so a thousand idle
connections cost a thousand parked threads and no CPU. Any blocking
call is safe in such a handler.

With goroutines=True each handler runs in a goroutine (gort.go): Go's
goroutine-per-connection shape itself. A handler that waits parks its
goroutine, not a thread, and the thread goes on to the next connection
that is ready, so no kernel wake-up or GIL hand-over stands between two
connections; it is several times faster. The handler must then wait
only in gort calls (see gort._go). A pool was rejected: a fixed number
of workers puts a slow client ahead of every connection queued behind
it, and a handler that waits for another connection (a proxy, a chat)
could deadlock the pool. max_conns bounds the handlers instead: at the
limit, accept() waits until a handler returns.
"""

import errno
import sys
import threading
import traceback

from gort._errors import ClosedError
from gort._ffi import ffi, lib
from gort._go import check_goroutines, go, sleep
from gort._net import on_main_thread

# Accept errors that pass (Go's Temporary()): back off and accept again.
_TEMPORARY = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
              errno.ECONNABORTED, errno.EAGAIN, errno.EINTR}


def _run(handler, conn, done):
    try:
        with conn:
            handler(conn)
    except ClosedError:
        pass  # closed under the handler, e.g. by a shutdown
    except OSError as e:
        # What the network does (a reset, a timeout): one line, and the
        # server goes on.
        print(f"gort.serve: {conn.remote_addr}: {type(e).__name__}: {e}",
              file=sys.stderr)
    except Exception:
        # A bug in the handler: where it happened matters.
        print(f"gort.serve: {conn.remote_addr}: handler failed:",
              file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
    finally:
        if done is not None:
            done.release()


def serve(listener, handler, *, max_conns=None, goroutines=False):
    """Accepts connections on listener until it is closed, calling
    handler(conn) for each in a thread of its own (in a goroutine of its
    own with goroutines=True), and closing conn when the handler returns
    or raises (an OSError is printed on stderr in one line, any other
    exception with its traceback). Returns when the listener is closed
    (from any thread); handlers still running carry on. Temporary accept
    errors (out of file descriptors) back off from 5 ms up to 1 s and
    retry; any other accept error is raised. With max_conns, at most
    that many handlers run at once; further connections wait in the
    listen queue until one returns.

    A goroutine handler must wait only in gort's calls (gort.sleep, not
    time.sleep; a gort.WaitGroup, not a threading lock): a call that
    blocks its thread holds up every goroutine on that thread.

    Called from the main thread, serve() answers Ctrl-C at once: it
    closes the listener and raises KeyboardInterrupt."""
    if not callable(handler):
        raise TypeError("handler must be callable")
    slots = None
    if max_conns is not None:
        if isinstance(max_conns, bool) or not isinstance(max_conns, int):
            raise TypeError("max_conns must be an int or None")
        if max_conns < 1:
            raise ValueError("max_conns must be >= 1")
        slots = _Slots(max_conns)
    if goroutines:
        check_goroutines()
    start = _go_start if goroutines else _thread_start
    if on_main_thread():
        _serve_interruptibly(listener, handler, slots, start)
    else:
        _accept_loop(listener, handler, slots, start)


def _serve_interruptibly(listener, handler, slots, start):
    """Python runs signal handlers only in the main thread, and only
    between bytecodes: a main thread parked in accept() would see Ctrl-C
    only when the next connection came. So the main thread waits in
    Thread.join, which a signal interrupts, while another thread
    accepts."""
    failure = []

    def loop():
        try:
            _accept_loop(listener, handler, slots, start)
        except BaseException as e:  # noqa: B036 (raised in the caller)
            failure.append(e)

    t = threading.Thread(target=loop, name="gort.serve accept",
                         daemon=True)
    t.start()
    try:
        t.join()
    except BaseException:
        listener.close()  # ends the accept loop
        raise
    if failure:
        raise failure[0]


def _accept_loop(listener, handler, slots, start):
    delay = 0.0
    while True:
        if slots is not None:
            slots.acquire()
        try:
            conn = listener.accept()
        except ClosedError:
            return
        except OSError as e:
            if slots is not None:
                slots.release()
            if e.errno not in _TEMPORARY:
                raise
            delay = min(1.0, delay * 2 or 0.005)
            print(f"gort.serve: accept: {e}; retrying in {delay:g}s",
                  file=sys.stderr)
            sleep(delay)
            continue
        delay = 0.0
        start(handler, conn, slots)


class _Slots:
    """A counting semaphore on the runtime's: it parks a goroutine as
    well as a thread (a threading one would stop every goroutine on the
    waiter's thread)."""

    __slots__ = ("_sema",)

    def __init__(self, n):
        self._sema = ffi.new("uint32_t *", n)

    def acquire(self):
        lib.gort_sem_acquire(self._sema)

    def release(self):
        lib.gort_sem_release(self._sema, False)


def _thread_start(handler, conn, slots):
    threading.Thread(target=_run, args=(handler, conn, slots),
                     name=f"gort.serve {conn.remote_addr}",
                     daemon=True).start()


def _go_start(handler, conn, slots):
    go(_run, handler, conn, slots)
