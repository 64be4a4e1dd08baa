"""Two connected stream conns end to end, as a state machine: reads,
writes, deadline changes, half and full closes and the virtual clock,
on the deterministic runtime (one P, the virtual clock). The pair is a
socketpair in all but name: a unix stream listener, a dial and an
accept, so that both ends are real net conns with Go's error frames.

The model is Go's net.Conn on Linux, written down plainly:

  read(n)    closed conn: closed. n == 0: b"" (after the read lock, so
             it waits behind a parked reader). Expired read deadline:
             timeout, even with data waiting. Data waiting: up to n
             bytes of it. Nothing waiting: end of stream once the peer
             has closed or shut down its write side -- except that the
             first read after a peer closed with data of ours unread
             reports ECONNRESET -- and otherwise it parks until one of
             these holds.
  write(b)   closed conn: closed. Expired write deadline: timeout. Own
             write side shut down, or the peer closed: EPIPE. Otherwise
             every byte, parking while the peer's buffer is full; an
             error part way says how many bytes went, and the peer
             receives exactly those.
  deadlines  absolute; None clears, a past time expires at once (and
             wakes a parked op with timeout), a new future time revives
             the conn. On a closed conn: closed.
  close      wakes every parked op on the conn with closed; returns once
             they have all finished; a second close says closed.

How much one write(2) moves is the kernel's business, so the model
never guesses it: a write small enough to fit a buffer that is nearly
empty must finish in its own step, a 1 MiB write always parks, and
anything that a parked write may have sent is known only as a prefix
of its data. Completions are replayed in the order they happened
(gt_op.done): with one P, one G runs at a time, so that order is a true
serialisation, and each completion is checked against the model as it
stands at that point. After every step: every op still parked has a
reason to be; the kernel's queue holds exactly the bytes the model says
(FIONREAD) whenever nothing is in flight; the parked G count matches.
"""

import errno
import fcntl
import itertools
import os
import socket
import struct
import termios
import time

import pytest
from hypothesis import settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize,
                                 invariant, precondition, rule)

from gt import ffi, lib
from smutil import note

MS = 1_000_000
BIG = 1 << 20        # always more than a socket buffer holds
SMALL = 2000         # writes up to this size are "small"
FIT = 16384          # a small write fits if the peer has at most this
                     # much unread plus the write itself
SNDBUF = 106496      # asked for; the kernel doubles it to 212992
SIDES = st.sampled_from([0, 1])
READ_SIZES = st.one_of(st.sampled_from([0, 1, 65536, 262144]),
                       st.integers(1, 3000))

# Data: write k sends PATTERN[off:off+len], off depending on k, so that
# bytes delivered out of order, twice or from the wrong write show.
PATTERN = bytes((i * 7 + i // 251) & 0xFF for i in range(BIG + 8192))
_names = itertools.count()


def content(k, size):
    off = (k * 997) % 8192
    return PATTERN[off:off + size]


def outcome(c):
    """What a finished gt_op says, as the model spells outcomes."""
    if c.result >= 0:
        return ("ok", c.result)
    if c.cause == lib.GNET_CLOSED:
        return ("closed",)
    if c.cause == lib.GNET_TIMEOUT:
        return ("timeout",)
    if c.cause == lib.GNET_ERRNO:
        return ("errno", errno.errorcode.get(c.errnum, c.errnum))
    return ("cause", c.cause, c.errnum)


def conn_pair():
    """Two net conns joined by a unix stream socket pair."""
    name = f"@gort-e2e-{os.getpid()}-{next(_names)}".encode()
    err = ffi.new("gnet_error *")
    lp = ffi.new("gnet_listener **")
    a = ffi.new("gnet_conn **")
    b = ffi.new("gnet_conn **")
    assert lib.gnet_listen(b"unix", name, ffi.NULL, lp, err) == 0
    # A unix connect to a listening socket completes at once, and the
    # accept then finds it queued: neither parks this thread.
    assert lib.gnet_dial(b"unix", name, ffi.NULL, a, err) == 0
    assert lib.gnet_accept(lp[0], b, err) == 0
    lib.gnet_listener_close(lp[0], err)
    lib.gnet_listener_free(lp[0])
    for c in (a[0], b[0]):
        assert lib.gnet_set_write_buffer(c, SNDBUF, err) == 0
    return a[0], b[0]


def queued(fd):
    """Bytes in fd's receive queue."""
    out = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", out)[0]


class Op:
    def __init__(self, kind, side, step):
        self.kind, self.side, self.step = kind, side, step
        self.c = lib.gt_op_new()
        self.n = 0             # read: bytes asked for
        self.data = b""        # write: what it sends
        self.consumed = 0      # write: bytes of data the peer has read
        self.must_finish = False
        self.again = False     # close: the conn was closed already
        self.holders = []      # close: the ops holding a lock then
        self.replayed = False  # its completion has met the model
        self.keep = None       # buffers the goroutine uses

    def __repr__(self):
        what = {"r": f"read({self.n})", "w": f"write({len(self.data)})",
                "c": "close()"}[self.kind]
        return f"{'AB'[self.side]}.{what}@{self.step}"


class Side:
    """The model of one end."""

    def __init__(self, conn):
        self.conn = conn
        self.fd = lib.gnet_conn_sysfd(conn)
        self.closed = False
        self.wshut = False     # close_write done
        self.rd = 0            # read deadline: 0 none, -1 expired, or when
        self.wd = 0
        self.inbox = bytearray()   # delivered to this end, not yet read
        self.reset = False     # the next read finding nothing: ECONNRESET
        self.readers = []      # pending, in issue order
        self.writers = []
        self.closers = []


class ConnPairMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.started = False
        self.sides = []
        self.ops = []
        self.nwrites = 0
        self.step = 0
        self.err = ffi.new("gnet_error *")

    @initialize()
    def start(self):
        assert lib.gt_start_virtual() == 0
        self.started = True
        a, b = conn_pair()
        self.sides = [Side(a), Side(b)]
        for s in self.sides:
            sock = socket.socket(fileno=os.dup(s.fd))
            try:
                sndbuf = sock.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_SNDBUF)
            finally:
                sock.close()
            assert sndbuf >= 2 * SNDBUF, "the write buffer was capped"
        self.now = lib.gort_now()
        self.settle()

    # ---- helpers ----

    def peer(self, s):
        return self.sides[1 - self.sides.index(s)]

    def name(self, s):
        return "AB"[self.sides.index(s)]

    def settle(self):
        """Lets every G run until all are blocked, then replays what
        finished, in the order it finished, against the model."""
        assert lib.gt_settle() == 0
        done = [op for op in self.ops if not op.replayed and
                lib.gt_op_state(op.c) == lib.GT_DONE]
        for op in sorted(done, key=lambda op: op.c.done):
            op.replayed = True
            got = outcome(op.c)
            note(f"  {op} -> {got}")
            {"r": self.finish_read, "w": self.finish_write,
             "c": self.finish_close}[op.kind](op, got)

    def new_op(self, kind, side):
        op = Op(kind, side, self.step)
        self.ops.append(op)
        return op

    def stream(self, s):
        """What s would read next if it read everything: what has
        arrived, then whatever the peer's head write may have sent."""
        t = self.peer(s)
        data = bytes(s.inbox)
        if t.writers:
            w = t.writers[0]
            data += w.data[w.consumed:]
        return data

    def end_of_stream(self, s):
        t = self.peer(s)
        return t.closed or t.wshut

    # ---- replaying completions ----

    def finish_read(self, op, got):
        s = self.sides[op.side]
        t = self.peer(s)
        if op is not s.readers[0]:
            # Only a reader waiting for the lock may finish ahead of
            # the one holding it: Close woke both.
            assert s.closed and got == ("closed",), \
                f"{op} finished before the reader ahead of it"
            s.readers.remove(op)
            return
        s.readers.pop(0)
        if s.closed:
            assert got == ("closed",)
            return
        if op.n == 0:
            assert got == ("ok", 0), "a zero-length read must return b''"
            return
        if s.rd == -1:
            assert got == ("timeout",)
            return
        flowing = bool(t.writers)
        if got[0] == "ok" and got[1] > 0:
            k = got[1]
            data = ffi.buffer(op.keep, k)[:]
            assert k <= op.n
            want = self.stream(s)
            assert data == want[:k], "read returned the wrong bytes"
            if flowing:
                assert k >= min(op.n, len(s.inbox))
            else:
                assert k == min(op.n, len(s.inbox))
            self.consume(s, k)
            return
        assert not s.inbox and not flowing, \
            f"{op}: {got} with data waiting"
        if s.reset:
            assert got == ("errno", "ECONNRESET")
            s.reset = False
            return
        assert got == ("ok", 0) and self.end_of_stream(s), \
            f"{op}: {got}, expected data or a parked read"

    def consume(self, s, k):
        t = self.peer(s)
        take = min(k, len(s.inbox))
        del s.inbox[:take]
        if k > take:
            t.writers[0].consumed += k - take

    def finish_write(self, op, got):
        s = self.sides[op.side]
        t = self.peer(s)
        size = len(op.data)
        if op is not s.writers[0]:
            assert s.closed and got == ("closed",) and op.c.n == 0, \
                f"{op} finished before the writer ahead of it"
            s.writers.remove(op)
            return
        s.writers.pop(0)
        if s.closed:
            want = ("closed",)
        elif s.wd == -1:
            want = ("timeout",)
        elif s.wshut or t.closed:
            want = ("errno", "EPIPE")
        else:
            want = ("ok", size)
        assert got == want, f"{op}: {got}, model says {want}"
        n = size if got[0] == "ok" else op.c.n
        assert op.consumed <= n <= size, \
            f"{op} reports {n} written but the peer read {op.consumed}"
        t.inbox += op.data[op.consumed:n]

    def finish_close(self, op, got):
        s = self.sides[op.side]
        s.closers.remove(op)
        # Close waits for every reference: the ops holding the read or
        # write lock. Ops still waiting for a lock hold none (as in
        # Go's fdMutex) and may finish after Close returns.
        left = [o for o in op.holders if o in s.readers + s.writers]
        assert not left, f"Close returned before {left} finished"
        assert got == (("closed",) if op.again else ("ok", 0))

    # ---- rules ----

    @precondition(lambda self: self.started)
    @rule(side=SIDES, n=READ_SIZES)
    def read(self, side, n):
        self.step += 1
        s = self.sides[side]
        op = self.new_op("r", side)
        op.n = n
        op.keep = ffi.new("char[]", max(n, 1))
        s.readers.append(op)
        note(f"{op}")
        assert lib.gt_go_read(op.c, s.conn, op.keep, n) == 0
        self.settle()

    def write_op(self, side, size):
        self.step += 1
        s = self.sides[side]
        t = self.peer(s)
        op = self.new_op("w", side)
        op.data = content(self.nwrites, size)
        self.nwrites += 1
        op.keep = ffi.from_buffer(op.data)
        if not s.writers:
            fails = s.closed or s.wd == -1 or s.wshut or t.closed
            fits = size <= SMALL and len(t.inbox) + size <= FIT and \
                not t.closed
            op.must_finish = fails or fits
        s.writers.append(op)
        note(f"{op}")
        assert lib.gt_go_write(op.c, s.conn, op.keep, size) == 0
        self.settle()

    @precondition(lambda self: self.started)
    @rule(side=SIDES, size=st.integers(0, SMALL))
    def write(self, side, size):
        self.write_op(side, size)

    @precondition(lambda self: self.started)
    @rule(side=SIDES)
    def write_big(self, side):
        self.write_op(side, BIG)

    @precondition(lambda self: self.started)
    @rule(side=SIDES, which=st.sampled_from(["r", "w", "rw"]),
          delta=st.one_of(st.none(), st.integers(-5, 50)))
    def deadline(self, side, which, delta):
        self.step += 1
        s = self.sides[side]
        when = 0 if delta is None else self.now + delta * MS
        fn = {"r": lib.gnet_set_read_deadline,
              "w": lib.gnet_set_write_deadline,
              "rw": lib.gnet_set_deadline}[which]
        rc = fn(s.conn, when, self.err)
        note(f"{self.name(s)}.deadline({which}, {delta} ms) -> {rc}")
        if s.closed:
            assert rc == -1 and self.err.cause == lib.GNET_CLOSED
        else:
            assert rc == 0
            d = 0 if delta is None else (-1 if when <= self.now else when)
            if "r" in which:
                s.rd = d
            if "w" in which:
                s.wd = d
        self.settle()

    @precondition(lambda self: self.started)
    @rule(ms=st.integers(1, 60))
    def advance(self, ms):
        self.step += 1
        self.now += ms * MS
        note(f"advance {ms} ms")
        for s in self.sides:
            if 0 < s.rd <= self.now:
                s.rd = -1
            if 0 < s.wd <= self.now:
                s.wd = -1
        assert lib.gt_advance(ms * MS) == 0
        self.settle()

    # Closing ends most of what can happen next, so it is drawn less
    # often than the other steps: one rule for both kinds of close.
    @precondition(lambda self: self.started)
    @rule(side=SIDES, full=st.booleans())
    def shut(self, side, full):
        if full:
            self.close(side)
        else:
            self.close_write(side)

    def close(self, side):
        self.step += 1
        s = self.sides[side]
        t = self.peer(s)
        op = self.new_op("c", side)
        if s.closed:
            op.again = True
        else:
            # Unread data in our queue when the socket goes: the peer's
            # next read that finds nothing gets ECONNRESET. A parked
            # peer writer means our queue is full.
            if s.inbox or t.writers:
                t.reset = True
            s.closed = True
        op.holders = s.readers[:1] + s.writers[:1]
        s.closers.append(op)
        note(f"{op}")
        assert lib.gt_go_close(op.c, s.conn) == 0
        self.settle()

    def close_write(self, side):
        self.step += 1
        s = self.sides[side]
        rc = lib.gnet_close_write(s.conn, self.err)
        note(f"{self.name(s)}.close_write() -> {rc}")
        if s.closed:
            assert rc == -1 and self.err.cause == lib.GNET_CLOSED
        else:
            assert rc == 0
            s.wshut = True
        self.settle()

    # ---- invariants ----

    @invariant()
    def parked_ops_have_a_reason(self):
        for s in self.sides:
            t = self.peer(s)
            assert not s.closers, "Close did not return"
            for i, op in enumerate(s.readers):
                assert not s.closed, f"{op} still parked after Close"
                if i > 0:
                    continue  # waits for the read lock
                assert op.n > 0, f"{op}: zero-length read parked"
                assert s.rd != -1, f"{op}: parked past its deadline"
                assert not self.stream(s), f"{op}: parked with data"
                assert not s.reset and not self.end_of_stream(s), \
                    f"{op}: parked at end of stream"
            for op in s.writers:
                assert not op.must_finish, f"{op} should have finished"
                assert not s.closed, f"{op} still parked after Close"
                assert s.wd != -1, f"{op}: parked past its deadline"
                assert not t.closed, f"{op}: parked, the peer is gone"

    @invariant()
    def parked_gs_match(self):
        if not self.started:
            return
        parked = sum(bool(s.readers) + bool(s.writers)
                     for s in self.sides)
        assert lib.gpoll_waiters() == parked

    @invariant()
    def kernel_queue_matches_the_model(self):
        for s in self.sides:
            if s.closed or self.peer(s).writers:
                continue
            assert queued(s.fd) == len(s.inbox), \
                f"{self.name(s)}: kernel queue differs from the model"

    @invariant()
    def clock_is_virtual(self):
        if self.started:
            assert lib.gort_now() == self.now

    def teardown(self):
        if not self.started:
            return
        try:
            for i, s in enumerate(self.sides):
                if not s.closed:
                    self.close(i)
            self.parked_ops_have_a_reason()
        finally:
            # Freed only once closed: freeing an open conn would close
            # it, which waits, and the runtime may be wedged by now.
            for s in self.sides:
                if s.closed:
                    lib.gnet_conn_free(s.conn)
            lib.gort_stop()
            for op in self.ops:
                lib.gt_op_free(op.c)


TestConnPair = ConnPairMachine.TestCase
# Twice the profile's steps: a run has to get past its first close to
# reach the interesting states, and steps here are cheap.
TestConnPair.settings = settings(
    settings.default,
    stateful_step_count=2 * settings.default.stateful_step_count)


# ---- Examples: what hypothesis found, kept as plain tests. ----


def test_settle_waits_for_a_goroutine_woken_by_io():
    """A reader parks on one end; a goroutine writes to the other. Once
    settled, every G is blocked, so the reader has its byte."""
    assert lib.gt_start_virtual() == 0
    a, b = conn_pair()
    late = 0
    buf = ffi.new("char[]", 16)
    one = ffi.from_buffer(b"x")
    ops = []
    try:
        for _ in range(500):
            r, w = lib.gt_op_new(), lib.gt_op_new()
            ops += [r, w]
            assert lib.gt_go_read(r, b, buf, 16) == 0
            assert lib.gt_settle() == 0
            assert lib.gt_go_write(w, a, one, 1) == 0
            assert lib.gt_settle() == 0
            if lib.gt_op_state(r) != lib.GT_DONE:
                late += 1
                while lib.gt_op_state(r) != lib.GT_DONE:
                    time.sleep(0.0001)
            assert r.result == 1
    finally:
        err = ffi.new("gnet_error *")
        for c in (a, b):
            lib.gnet_conn_close(c, err)
            lib.gnet_conn_free(c)
        lib.gort_stop()
        for op in ops:
            lib.gt_op_free(op)
    assert late == 0, f"settle returned early {late} times in 500"
