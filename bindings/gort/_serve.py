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
could deadlock the pool. max_conns bounds the threads instead: at the
limit, accept() waits until a handler returns.
"""

import errno
import sys
import threading
import time

from gort._errors import ClosedError
from gort._go import go

# Accept errors that pass (Go's Temporary()): back off and accept again.
_TEMPORARY = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
              errno.ECONNABORTED, errno.EAGAIN, errno.EINTR}


def _run(handler, conn, done):
    try:
        with conn:
            handler(conn)
    except ClosedError:
        pass  # closed under the handler, e.g. by a shutdown
    except Exception as e:  # one line per event, and the server goes on
        print(f"gort.serve: {conn.remote_addr}: {type(e).__name__}: {e}",
              file=sys.stderr)
    finally:
        if done is not None:
            done.release()


def serve(listener, handler, *, max_conns=None, goroutines=False):
    """Accepts connections on listener until it is closed, calling
    handler(conn) for each in a thread of its own (in a goroutine of its
    own with goroutines=True), and closing conn when the handler returns
    (or raises: the exception is printed on stderr, one line). Returns
    when the listener is closed (from any thread); handlers still
    running carry on. Temporary accept errors (out of file descriptors)
    back off from 5 ms up to 1 s and retry; any other accept error is
    raised. With max_conns, at most that many handlers run at once."""
    if not callable(handler):
        raise TypeError("handler must be callable")
    slots = None
    if max_conns is not None:
        if isinstance(max_conns, bool) or not isinstance(max_conns, int):
            raise TypeError("max_conns must be an int or None")
        if max_conns < 1:
            raise ValueError("max_conns must be >= 1")
        slots = threading.BoundedSemaphore(max_conns)
    start = _go_start if goroutines else _thread_start
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
            time.sleep(delay)
            continue
        delay = 0.0
        start(handler, conn, slots)


def _thread_start(handler, conn, slots):
    threading.Thread(target=_run, args=(handler, conn, slots),
                     name=f"gort.serve {conn.remote_addr}",
                     daemon=True).start()


def _go_start(handler, conn, slots):
    go(_run, handler, conn, slots)
