"""The public API over libnet: listen, dial, listen_packet and the
objects they return.

Threads. Any Python thread may call any method. Each becomes a foreign
thread of the runtime the first time it calls in; a call that must wait
parks the thread as a goroutine locked to it, with the GIL released (CFFI
releases it around every C call), and the netpoller, a deadline timer or
a close from another thread readies it.

Lifetime. close() wakes every thread blocked on the object with
ClosedError and is idempotent. The C object is freed only when the
Python object is garbage collected (ffi.gc); a thread blocked in a call
holds a reference, so the memory outlives every call using it.

Times. Deadlines are absolute seconds on gort.now()'s clock (that of
time.monotonic()); None clears; a time in the past has expired already.
"""

import errno as _errno
import math
import operator
import threading

from gort._errors import from_gnet
from gort._ffi import ffi, lib

# Read buffers are filled by the read before anything looks at them, and
# only the bytes read are copied out: clearing up to n bytes first (what
# ffi.new does) would cost more than the read itself for large n.
_raw_new = ffi.new_allocator(should_clear_after_alloc=False)

_INT64_MAX = 2**63 - 1

# The most one read() asks for: it allocates what it asks for, and a
# stream read may return less than was asked anyway.
_READ_MAX = 16 * 1024 * 1024

# The stack of each goroutine of this runtime (gort.go): address space,
# touched only as used. Python's recursion limit counts frames, and a
# frame entered from C (a callback, a __repr__, a decorator in C) takes
# C stack: this much lets the default limit of 1,000 such frames raise
# RecursionError before the stack's guard page is reached.
GOROUTINE_STACK = 8 * 1024 * 1024

_start_lock = threading.Lock()
_started = False


def _runtime():
    """Starts the runtime (all CPUs, the real clock, the netpoller) on
    first use. It then runs until the process exits: Python threads may
    sit in it at any moment, so nothing stops it behind their backs."""
    global _started
    if _started:
        if not _main_marked:
            _mark_main()
        return
    with _start_lock:
        if _started:
            return
        cfg = ffi.new("gort_config *")
        cfg.stack_size = GOROUTINE_STACK
        rc = lib.gnet_start(cfg)
        if rc < 0 and not (rc == -_errno.EBUSY and lib.gort_running()):
            raise OSError(-rc, "gort: cannot start the runtime")
        _started = True
    _mark_main()


_main_marked = False


def _mark_main():
    """Lets signals interrupt the main thread's waits. Python runs signal
    handlers only in the main thread, between bytecodes: parked in a
    call, it would see Ctrl-C only when the call returned. Marked, its
    waits end with EINTR when a signal arrives; each call then goes back
    to Python, which runs the handler (KeyboardInterrupt, say), and, if
    the handler returns, waits again (_interrupted)."""
    global _main_marked
    if on_main_thread():
        lib.gort_set_interruptible(True)
        _main_marked = True


def on_main_thread():
    """Whether the caller runs on the main thread. (Comparing idents:
    threading.current_thread() would register a dummy Thread for every
    runtime thread a goroutine calls it on.)"""
    return threading.get_ident() == threading.main_thread().ident


def _interrupted(err):
    """True if a call failed only because a signal came first (main
    thread only). The caller calls again: by then Python has run the
    signal's handler, which raises if the program is to stop."""
    return err.cause == lib.GNET_ERRNO and err.errnum == _errno.EINTR


def now():
    """The runtime's monotonic clock, in seconds (time.monotonic()'s)."""
    return lib.gort_now() / 1e9


def _ns(when, what="deadline"):
    """An absolute time in seconds as libnet's nanoseconds: 0 for None,
    a past time stays past (never 0, which would mean none), a huge one
    saturates."""
    if when is None:
        return 0
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise TypeError(f"{what} must be a number of seconds or None, "
                        f"not {type(when).__name__}")
    if math.isnan(when):
        raise ValueError(f"{what} is NaN")
    if when >= _INT64_MAX / 1e9:
        return _INT64_MAX
    ns = when * 1e9
    return 1 if ns < 1 else int(ns)  # -inf and -1e300 are past too


def _ns_delay(seconds, what):
    """A duration in seconds as nanoseconds, clamped at 0 below and at
    the clock's range above."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, "
                        f"not {type(seconds).__name__}")
    if math.isnan(seconds):
        raise ValueError(f"{what} is NaN")
    if seconds <= 0:
        return 0
    if seconds >= _INT64_MAX / 1e9:
        return _INT64_MAX
    return int(seconds * 1e9)


def _str(value, what):
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{what} contains a NUL character")
    return value.encode()


def _addr(a):
    """A gnet_addr as text; None when it is absent."""
    if a == ffi.NULL or a.len == 0:
        return None
    n = lib.gnet_addr_format(a, ffi.NULL, 0)
    buf = ffi.new("char[]", n + 1)
    lib.gnet_addr_format(a, buf, n + 1)
    return ffi.string(buf).decode("utf-8", "replace")


def _buffer(data, writable=False):
    """A C view of a bytes-like object, and its length in bytes."""
    if isinstance(data, str):
        raise TypeError("data must be bytes-like, not str")
    try:
        mv = memoryview(data)
    except TypeError:
        raise TypeError("data must be bytes-like, not "
                        f"{type(data).__name__}") from None
    n = mv.nbytes
    if n == 0:
        return ffi.NULL, 0
    return ffi.from_buffer(data, require_writable=writable), n


def _size(n):
    n = operator.index(n)
    if n < 0:
        raise ValueError("read size must be >= 0")
    return n


class _Closable:
    __slots__ = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Conn(_Closable):
    """A stream connection (or a connected datagram socket), from dial()
    or Listener.accept()."""

    __slots__ = ("_c", "_err", "local_addr", "remote_addr", "network",
                 "__weakref__")

    def __init__(self, c):
        self._c = ffi.gc(c, lib.gnet_conn_free)
        self._err = None
        self.local_addr = _addr(lib.gnet_local_addr(c))
        self.remote_addr = _addr(lib.gnet_remote_addr(c))
        self.network = ffi.string(lib.gnet_conn_network(c)).decode()

    def __repr__(self):
        return (f"<gort.{type(self).__name__} {self.network} "
                f"{self.local_addr}->{self.remote_addr}>")

    def _take_err(self):
        """A gnet_error for one call: the conn's spare one, taken (so
        that two threads in calls at once never share one), or a new
        one. A call that succeeds puts it back as the spare."""
        err = self._err
        if err is None:
            return ffi.new("gnet_error *")
        self._err = None
        return err

    def read(self, n):
        """Up to n bytes, waiting for at least one; b"" at end of stream.
        read(0) returns b"" at once. At most 16 MiB are read at a time,
        whatever n is."""
        n = _size(n)
        if n == 0:
            return b""
        if n > _READ_MAX:
            n = _READ_MAX
        buf = _raw_new("char[]", n)
        return ffi.unpack(buf, self._read(buf, n))

    def readinto(self, b):
        """Reads into the writable buffer b; returns the count (0 at end
        of stream, or when b is empty)."""
        p, n = _buffer(b, writable=True)
        if n == 0:
            return 0
        return self._read(p, n)

    def _read(self, p, n):
        err = self._take_err()
        r = lib.gnet_read(self._c, p, n, err)
        if r < 0:
            while _interrupted(err):
                r = lib.gnet_read(self._c, p, n, err)
                if r >= 0:
                    break
            else:
                raise from_gnet(err)
        self._err = err
        return r

    def write(self, data):
        """Writes all of data, waiting as needed; returns len(data). A
        failure part way raises with .written set."""
        if data.__class__ is bytes:
            n = len(data)
            p = ffi.from_buffer(data) if n else ffi.NULL
        else:
            p, n = _buffer(data)
        if n == 0:
            return 0
        err = self._take_err()
        r = lib.gnet_write(self._c, p, n, err)
        if r < 0:
            done = 0
            while _interrupted(err):
                done += err.n
                r = lib.gnet_write(self._c, p + done, n - done, err)
                if r >= 0:
                    break
            else:
                err.n += done
                raise from_gnet(err, written=True)
        self._err = err
        return n

    def _call(self, fn, *args):
        err = ffi.new("gnet_error *")
        if fn(self._c, *args, err) < 0:
            raise from_gnet(err)

    def set_deadline(self, when):
        self._call(lib.gnet_set_deadline, _ns(when))

    def set_read_deadline(self, when):
        self._call(lib.gnet_set_read_deadline, _ns(when))

    def set_write_deadline(self, when):
        self._call(lib.gnet_set_write_deadline, _ns(when))

    def close_read(self):
        self._call(lib.gnet_close_read)

    def close_write(self):
        self._call(lib.gnet_close_write)

    def close(self):
        """Closes; threads blocked on this conn get ClosedError. Closing
        again does nothing."""
        err = ffi.new("gnet_error *")
        if lib.gnet_conn_close(self._c, err) < 0:
            if not lib.gnet_error_is_closed(err):
                raise from_gnet(err)

    def fileno(self):
        return lib.gnet_conn_sysfd(self._c)


class PacketConn(Conn):
    """A bound datagram socket, from listen_packet()."""

    __slots__ = ()

    def read_from(self, n):
        """One datagram, truncated to n bytes, and the sender's
        address."""
        n = _size(n)
        buf = ffi.new("char[]", max(n, 1))
        src = ffi.new("gnet_addr *")
        err = ffi.new("gnet_error *")
        r = lib.gnet_read_from(self._c, buf, n, src, err)
        while r < 0 and _interrupted(err):
            r = lib.gnet_read_from(self._c, buf, n, src, err)
        if r < 0:
            raise from_gnet(err)
        return ffi.buffer(buf, r)[:], _addr(src)

    def write_to(self, data, addr):
        """Sends data as one datagram to addr; returns len(data)."""
        a = _str(addr, "addr")
        p, n = _buffer(data)
        to = ffi.new("gnet_addr *")
        err = ffi.new("gnet_error *")
        if lib.gnet_resolve(self.network.encode(), a, to, err) < 0:
            raise from_gnet(err)
        r = lib.gnet_write_to(self._c, p, n, to, err)
        while r < 0 and _interrupted(err):
            r = lib.gnet_write_to(self._c, p, n, to, err)
        if r < 0:
            raise from_gnet(err, written=True)
        return r


class Listener(_Closable):
    """A stream listener, from listen()."""

    __slots__ = ("_l", "addr", "network", "__weakref__")

    def __init__(self, l, network):
        self._l = ffi.gc(l, lib.gnet_listener_free)
        self.addr = _addr(lib.gnet_listener_addr(l))
        self.network = network

    def __repr__(self):
        return f"<gort.Listener {self.network} {self.addr}>"

    def accept(self):
        """Waits for a connection and returns it as a Conn."""
        out = ffi.new("gnet_conn **")
        err = ffi.new("gnet_error *")
        r = lib.gnet_accept(self._l, out, err)
        while r < 0 and _interrupted(err):
            r = lib.gnet_accept(self._l, out, err)
        if r < 0:
            raise from_gnet(err)
        return Conn(out[0])

    def set_deadline(self, when):
        err = ffi.new("gnet_error *")
        if lib.gnet_listener_set_deadline(self._l, _ns(when), err) < 0:
            raise from_gnet(err)

    def close(self):
        """Closes; threads blocked in accept() get ClosedError. Closing
        again does nothing."""
        err = ffi.new("gnet_error *")
        if lib.gnet_listener_close(self._l, err) < 0:
            if not lib.gnet_error_is_closed(err):
                raise from_gnet(err)

    def fileno(self):
        return lib.gnet_listener_sysfd(self._l)


def listen(network, address, *, reuse_port=False):
    """Listens on address ("127.0.0.1:0", "[::1]:80", ":8080", a unix
    path) for network "tcp", "tcp4", "tcp6", "unix" or "unixpacket"."""
    n, a = _str(network, "network"), _str(address, "address")
    cfg = ffi.new("gnet_listen_config *")
    cfg.reuse_port = bool(reuse_port)
    _runtime()
    out = ffi.new("gnet_listener **")
    err = ffi.new("gnet_error *")
    if lib.gnet_listen(n, a, cfg, out, err) < 0:
        raise from_gnet(err)
    return Listener(out[0], network)


def listen_packet(network, address):
    """A bound datagram socket for "udp", "udp4", "udp6" or
    "unixgram"."""
    n, a = _str(network, "network"), _str(address, "address")
    _runtime()
    out = ffi.new("gnet_conn **")
    err = ffi.new("gnet_error *")
    if lib.gnet_listen_packet(n, a, ffi.NULL, out, err) < 0:
        raise from_gnet(err)
    return PacketConn(out[0])


def dial(network, address, *, timeout=None, deadline=None):
    """Connects to address. timeout (seconds from now) and deadline
    (absolute, gort.now()'s clock) bound the whole dial; the earlier
    wins."""
    n, a = _str(network, "network"), _str(address, "address")
    d = _ns(deadline)
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout,
                                                       (int, float)):
            raise TypeError("timeout must be a number of seconds or None")
        t = _ns(now() + timeout, "timeout") if timeout > 0 else 1
        d = t if d == 0 else min(d, t)
    _runtime()
    cfg = ffi.new("gnet_dial_config *")
    cfg.deadline = d
    out = ffi.new("gnet_conn **")
    err = ffi.new("gnet_error *")
    r = lib.gnet_dial(n, a, cfg, out, err)
    while r < 0 and _interrupted(err):
        r = lib.gnet_dial(n, a, cfg, out, err)  # a fresh attempt
    if r < 0:
        raise from_gnet(err)
    return Conn(out[0])
