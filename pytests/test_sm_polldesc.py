"""pollDesc as a state machine, on a deterministic runtime: one P, the
virtual clock, this thread as a foreign thread, and goroutines that
wait in gpoll_wait and record the result. Each step ends with every G
blocked (gt_settle), so the descriptor is compared with the model at
rest. Readiness events are forged (gt_pd_event), on descriptors of pipe
read ends that never become ready by themselves, so that nothing but
the machine's own steps moves a descriptor."""

import os

from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize,
                                 invariant, precondition, rule)

from gt import ffi, lib
from smutil import note

R, W = lib.GPOLL_READ, lib.GPOLL_WRITE
OK, CLOSING, TIMEOUT, NOT_POLLABLE = (lib.GPOLL_OK, lib.GPOLL_ERR_CLOSING,
                                      lib.GPOLL_ERR_TIMEOUT,
                                      lib.GPOLL_ERR_NOT_POLLABLE)
NIL, READY = "nil", "ready"
MODES = st.sampled_from([R, W])
MS = 1_000_000


class PD:
    """The model of one descriptor."""

    def __init__(self, pd, rfd, wfd, seq):
        self.pd, self.rfd, self.wfd, self.seq = pd, rfd, wfd, seq
        self.sem = {R: NIL, W: NIL}    # NIL, READY, or the waiting op
        self.dl = {R: 0, W: 0}         # 0 none, -1 expired, or when
        self.closing = False
        self.event_err = False


class Op:
    def __init__(self, c, pd, mode):
        self.c, self.pd, self.mode = c, pd, mode
        self.expect = None             # None while it should be parked


class PollDescMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.pds = []                  # open (not yet gpoll_close'd)
        self.stale = []                # (pd pointer, seq) of closed pds
        self.ops = []
        self.started = False

    @initialize()
    def start(self):
        assert lib.gt_start_virtual() == 0
        self.started = True
        assert lib.gt_settle() == 0

    # ---- helpers ----

    def now(self):
        return lib.gort_now()

    def settle(self):
        assert lib.gt_settle() == 0

    def wake(self, p, mode, result):
        op = p.sem[mode]
        if isinstance(op, Op):
            op.expect = result
            p.sem[mode] = NIL

    def checkerr(self, p, mode):
        if p.closing:
            return CLOSING
        if p.dl[mode] == -1:
            return TIMEOUT
        if mode == R and p.event_err:
            return NOT_POLLABLE
        return OK

    def live(self):
        return [p for p in self.pds if not p.closing]

    # ---- rules ----

    @precondition(lambda self: self.started and len(self.pds) < 3)
    @rule()
    def open(self):
        rfd, wfd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        out = ffi.new("gpoll_desc **")
        assert lib.gpoll_open(rfd, out) == 0
        p = PD(out[0], rfd, wfd, lib.gt_pd_fdseq(out[0]))
        self.pds.append(p)
        note(f"open fd {rfd} seq {p.seq}")

    @precondition(lambda self: self.pds)
    @rule(data=st.data(), mode=MODES)
    def prepare(self, data, mode):
        p = data.draw(st.sampled_from(self.pds))
        if isinstance(p.sem[mode], Op):
            return  # only the fd's lock holder prepares; never a waiter
        want = self.checkerr(p, mode)
        got = lib.gpoll_reset(p.pd, mode)
        note(f"prepare fd {p.rfd} {chr(mode)}: {got}")
        assert got == want
        if want == OK:
            p.sem[mode] = NIL

    @precondition(lambda self: self.pds)
    @rule(data=st.data(), mode=MODES)
    def wait(self, data, mode):
        p = data.draw(st.sampled_from(self.pds))
        if isinstance(p.sem[mode], Op):
            return  # a second waiter in one mode is a caller bug
        c = lib.gt_op_new()
        op = Op(c, p, mode)
        self.ops.append(op)
        err = self.checkerr(p, mode)
        if err != OK:
            op.expect = err
        elif p.sem[mode] == READY:
            op.expect = OK
            p.sem[mode] = NIL
        else:
            p.sem[mode] = op
        assert lib.gt_go_pd_wait(c, p.pd, mode) == 0
        self.settle()
        note(f"wait fd {p.rfd} {chr(mode)}: expect {op.expect}")

    @precondition(lambda self: self.pds)
    @rule(data=st.data(),
          events=st.sampled_from(["in", "out", "inout", "err", "hup"]))
    def event(self, data, events):
        p = data.draw(st.sampled_from(self.pds))
        bits = {"in": lib.EPOLLIN, "out": lib.EPOLLOUT,
                "inout": lib.EPOLLIN | lib.EPOLLOUT, "err": lib.EPOLLERR,
                "hup": lib.EPOLLHUP}[events]
        modes = {"in": [R], "out": [W]}.get(events, [R, W])
        p.event_err = events == "err"
        woken = 0
        for mode in modes:
            if isinstance(p.sem[mode], Op):
                # It wakes, and takes the notification it was woken by.
                woken += 1
                self.wake(p, mode, OK)
            else:
                p.sem[mode] = READY
        n = lib.gt_pd_event(p.pd, p.seq, bits)
        note(f"event {events} on fd {p.rfd}: woke {n}")
        assert n == woken
        self.settle()

    @precondition(lambda self: self.stale and self.pds)
    @rule(data=st.data())
    def stale_event(self, data):
        pd, seq = data.draw(st.sampled_from(self.stale))
        n = lib.gt_pd_event(pd, seq, lib.EPOLLIN | lib.EPOLLOUT)
        note(f"stale event seq {seq}: woke {n}")
        assert n == 0, "an event for a closed registration woke a G"
        self.settle()

    @precondition(lambda self: self.pds)
    @rule(data=st.data(), mode=st.sampled_from([R, W, R + W]),
          delta=st.one_of(st.none(), st.integers(-5, 50)))
    def set_deadline(self, data, mode, delta):
        p = data.draw(st.sampled_from(self.pds))
        now = self.now()
        when = 0 if delta is None else now + delta * MS
        lib.gpoll_set_deadline(p.pd, when, mode)
        note(f"deadline fd {p.rfd} {mode} at {delta}")
        if not p.closing:
            d = 0 if delta is None else (-1 if when <= now else when)
            for m in ([R, W] if mode == R + W else [mode]):
                p.dl[m] = d
                if d == -1:
                    self.wake(p, m, TIMEOUT)
        self.settle()

    @precondition(lambda self: self.started)
    @rule(delta=st.integers(1, 60))
    def advance(self, delta):
        t = self.now() + delta * MS
        assert lib.gt_advance(delta * MS) == 0
        assert self.now() == t
        note(f"advance {delta} ms")
        for p in self.pds:
            if p.closing:
                continue
            for m in (R, W):
                if p.dl[m] > 0 and p.dl[m] <= t:
                    p.dl[m] = -1
                    self.wake(p, m, TIMEOUT)

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def unblock(self, data):
        p = data.draw(st.sampled_from(self.live()))
        lib.gpoll_unblock(p.pd)
        p.closing = True
        for m in (R, W):
            self.wake(p, m, CLOSING)
        note(f"unblock fd {p.rfd}")
        self.settle()

    @precondition(lambda self: any(p.closing for p in self.pds))
    @rule(data=st.data())
    def close(self, data):
        p = data.draw(st.sampled_from([p for p in self.pds if p.closing]))
        lib.gpoll_close(p.pd)
        os.close(p.rfd)
        os.close(p.wfd)
        self.pds.remove(p)
        self.stale.append((p.pd, p.seq))
        note(f"close fd {p.rfd}")

    # ---- invariants ----

    @invariant()
    def waiters_report_what_the_model_says(self):
        for op in self.ops:
            state = lib.gt_op_state(op.c)
            if op.expect is None:
                assert state == lib.GT_PENDING, "a waiter woke up early"
            else:
                assert state == lib.GT_DONE, "a waiter did not wake"
                assert op.c.result == op.expect

    @invariant()
    def descriptors_match_the_model(self):
        st_ = ffi.new("gpoll_state *")
        for p in self.pds:
            lib.gpoll_inspect(p.pd, st_)
            for mode, kind, g in ((R, st_.rg, st_.rg_g),
                                  (W, st_.wg, st_.wg_g)):
                want = p.sem[mode]
                if isinstance(want, Op):
                    assert kind == lib.GPOLL_SEM_G
                    assert g == want.c.g
                else:
                    assert kind == {NIL: lib.GPOLL_SEM_NIL,
                                    READY: lib.GPOLL_SEM_READY}[want]
            assert st_.closing == p.closing
            assert bool(st_.info & lib.GPOLL_INFO_CLOSING) == p.closing
            if not p.closing:
                assert (st_.rd, st_.wd) == (p.dl[R], p.dl[W])
            assert bool(st_.info & lib.GPOLL_INFO_EXPIRED_READ) == \
                (st_.rd < 0)
            assert bool(st_.info & lib.GPOLL_INFO_EVENT_ERR) == p.event_err
            if p.closing:
                continue  # unblock deleted the timers; rd/wd stay
            if st_.rd > 0:
                assert st_.rt_set
            if st_.wd > 0:
                assert st_.wt_set or st_.rd == st_.wd

    @invariant()
    def waiter_count_equals_parked_gs(self):
        if not self.started:
            return
        parked = sum(isinstance(p.sem[m], Op) for p in self.pds
                     for m in (R, W))
        assert lib.gpoll_waiters() == parked

    def teardown(self):
        if not self.started:
            return
        for p in list(self.pds):
            if not p.closing:
                lib.gpoll_unblock(p.pd)
                p.closing = True
                for m in (R, W):
                    self.wake(p, m, CLOSING)
        try:
            self.settle()
            self.waiters_report_what_the_model_says()
            for p in self.pds:
                lib.gpoll_close(p.pd)
        finally:
            # Stopped even after a failure: the next example starts its
            # own runtime.
            lib.gort_stop()
            for p in self.pds:
                os.close(p.rfd)
                os.close(p.wfd)
            for op in self.ops:
                lib.gt_op_free(op.c)


TestPollDesc = PollDescMachine.TestCase


def run_steps(steps):
    m = PollDescMachine()
    m.start()
    try:
        for step in steps:
            step(m)
            m.waiters_report_what_the_model_says()
            m.descriptors_match_the_model()
            m.waiter_count_equals_parked_gs()
    finally:
        m.teardown()


def test_unblock_deletes_the_deadline_timers_and_wakes_with_closing():
    assert lib.gt_start_virtual() == 0
    rfd, wfd = os.pipe2(os.O_NONBLOCK)
    try:
        out = ffi.new("gpoll_desc **")
        assert lib.gpoll_open(rfd, out) == 0
        pd = out[0]
        lib.gpoll_set_deadline(pd, lib.gort_now() + MS, R)
        op = lib.gt_op_new()
        assert lib.gt_go_pd_wait(op, pd, R) == 0
        assert lib.gt_settle() == 0
        assert lib.gpoll_waiters() == 1
        lib.gpoll_unblock(pd)
        assert lib.gt_settle() == 0
        st_ = ffi.new("gpoll_state *")
        lib.gpoll_inspect(pd, st_)
        assert not st_.rt_set
        assert op.result == CLOSING and lib.gpoll_waiters() == 0
        # The deleted timer's time comes and goes: nothing happens.
        assert lib.gt_advance(2 * MS) == 0
        assert op.result == CLOSING
        lib.gpoll_close(pd)
        lib.gt_op_free(op)
    finally:
        lib.gort_stop()
        os.close(rfd)
        os.close(wfd)
