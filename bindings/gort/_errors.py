"""gort's exceptions, and the one function that turns libnet's structured
error (gnet_error) into one of them.

    Error               an OSError; Go's message, op/net/source/addr
      DeadlineExceeded  also a TimeoutError: a deadline expired
      ClosedError       use of a closed network connection (or file)
    <errno class>       an OS error: gort.Error and the matching built-in
                        OSError subclass (ConnectionRefusedError, ...)
    ValueError          malformed address, unknown network, bad argument

An error that ends a write part way carries `written`, the bytes the peer
will receive.
"""

import errno as _errno

from gort._ffi import ffi, lib

__all__ = ["Error", "DeadlineExceeded", "ClosedError"]


class Error(OSError):
    """A gort network error. str() is Go's message, such as
    "read tcp 127.0.0.1:5->127.0.0.1:6: i/o timeout"."""

    def __init__(self, message, *, errno=None, op="", net="", source=None,
                 addr=None, written=None):
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.strerror = message
        self.op = op
        self.net = net
        self.source = source
        self.addr = addr
        self.written = written

    def __str__(self):
        return self.message

    def __reduce__(self):
        kw = dict(errno=self.errno, op=self.op, net=self.net,
                  source=self.source, addr=self.addr, written=self.written)
        return (_rebuild, (type(self), self.message, kw))


def _rebuild(cls, message, kw):
    return cls(message, **kw)


class DeadlineExceeded(Error, TimeoutError):
    """A read, write, accept or dial deadline expired ("i/o timeout")."""


class ClosedError(Error):
    """The object was closed, possibly by another thread while this one
    waited ("use of closed network connection")."""


# They are gort's public names: print them so.
for _cls in (Error, DeadlineExceeded, ClosedError):
    _cls.__module__ = "gort"
del _cls

# gort.Error combined with each built-in OSError subclass, made on first
# use: e.g. except ConnectionRefusedError and except gort.Error both
# catch a refused dial.
_errno_classes = {}


def _errno_class(num):
    base = type(OSError(num, ""))
    if base is OSError:
        return Error
    cls = _errno_classes.get(base)
    if cls is None:
        cls = type(base.__name__, (Error, base),
                   {"__module__": "gort", "__doc__": base.__doc__})
        _errno_classes[base] = cls
    return cls


_VALUE_CAUSES = {lib.GNET_UNKNOWN_NETWORK, lib.GNET_BAD_ADDRESS,
                 lib.GNET_MISSING_ADDRESS, lib.GNET_INVALID}


def _text(chars):
    return ffi.string(chars).decode("utf-8", "replace")


def message(err):
    n = lib.gnet_error_format(err, ffi.NULL, 0)
    buf = ffi.new("char[]", n + 1)
    lib.gnet_error_format(err, buf, n + 1)
    return _text(buf)


def from_gnet(err, written=False):
    """The exception for a failed call's gnet_error *err. written: the
    call was a write, so the exception carries err->n."""
    msg = message(err)
    cause = err.cause
    if cause in _VALUE_CAUSES:
        return ValueError(msg)
    kw = dict(op=_text(err.op), net=_text(err.net),
              source=_text(err.source) or None,
              addr=_text(err.addr) or None,
              written=int(err.n) if written else None)
    if cause == lib.GNET_TIMEOUT:
        return DeadlineExceeded(msg, errno=_errno.ETIMEDOUT, **kw)
    if cause in (lib.GNET_CLOSED, lib.GNET_FILE_CLOSED):
        return ClosedError(msg, **kw)
    if cause == lib.GNET_ERRNO:
        return _errno_class(err.errnum)(msg, errno=err.errnum, **kw)
    return Error(msg, **kw)
