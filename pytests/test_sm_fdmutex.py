"""fdMutex as a state machine: references, the read and write locks, and
close, on libnet's own fdMutex, with lock waiters as goroutines on the
deterministic runtime (one P, virtual clock). Whoever drops the last
reference of a closed fdMutex must destroy the fd, and exactly one
caller is told so."""

from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize,
                                 invariant, precondition, rule)

from gt import ffi, lib
from smutil import note


class FdMutexMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.mu = ffi.new("gnet__fdmu *")
        self.started = False
        self.closed = False
        self.locked = {True: False, False: False}   # read?, write?
        self.waiters = {True: [], False: []}
        self.refs = 0          # held by Python, locks included
        self.my_refs = 0       # plain references Python may drop
        self.destroyed = 0
        self.ops = []          # (cdata, expected result or None)

    @initialize()
    def start(self):
        assert lib.gt_start_virtual() == 0
        self.started = True

    def settle(self):
        assert lib.gt_settle() == 0

    def dropped(self, last):
        want = self.closed and self.refs == 0
        assert bool(last) == want, "wrong answer to 'destroy now?'"
        self.destroyed += bool(last)

    @rule()
    def incref(self):
        ok = lib.gnet__fdmu_incref(self.mu)
        note(f"incref: {ok}")
        assert ok == (not self.closed)
        if ok:
            self.refs += 1
            self.my_refs += 1

    @precondition(lambda self: self.my_refs > 0)
    @rule()
    def decref(self):
        self.refs -= 1
        self.my_refs -= 1
        last = lib.gnet__fdmu_decref(self.mu)
        note(f"decref: last={last}")
        self.dropped(last)

    @precondition(lambda self: self.started)
    @rule(read=st.booleans())
    def lock(self, read):
        c = lib.gt_op_new()
        op = [c, None]
        self.ops.append(op)
        if self.closed:
            op[1] = 0
        elif not self.locked[read]:
            op[1] = 1
            self.locked[read] = True
            self.refs += 1
        else:
            self.waiters[read].append(op)
        assert lib.gt_go_fdmu_lock(c, self.mu, read) == 0
        self.settle()
        note(f"lock {'r' if read else 'w'}: expect {op[1]}")

    @rule(read=st.booleans())
    def unlock(self, read):
        if not self.locked[read]:
            return
        self.locked[read] = False
        self.refs -= 1
        last = lib.gnet__fdmu_rwunlock(self.mu, read)
        note(f"unlock {'r' if read else 'w'}: last={last}")
        self.dropped(last)
        self.settle()
        if self.waiters[read]:
            # One waiter is woken and takes the lock; the semaphore
            # decides which.
            done = [op for op in self.waiters[read]
                    if lib.gt_op_state(op[0]) == lib.GT_DONE]
            assert len(done) == 1, "unlock woke other than one waiter"
            done[0][1] = 1
            self.waiters[read].remove(done[0])
            self.locked[read] = True
            self.refs += 1

    @precondition(lambda self: self.started and not self.closed)
    @rule()
    def close(self):
        assert lib.gnet__fdmu_incref_and_close(self.mu)
        self.closed = True
        self.refs += 1
        for read in (True, False):
            for op in self.waiters[read]:
                op[1] = 0
            self.waiters[read] = []
        self.settle()
        self.refs -= 1
        last = lib.gnet__fdmu_decref(self.mu)
        note(f"close: last={last}")
        self.dropped(last)

    @invariant()
    def state_matches_the_model(self):
        v = ffi.new("gnet__fdmu_view *")
        lib.gnet__fdmu_inspect(self.mu, v)
        assert (v.closed, v.rlocked, v.wlocked) == (
            self.closed, self.locked[True], self.locked[False])
        assert v.refs == self.refs
        assert (v.rwaiters, v.wwaiters) == (len(self.waiters[True]),
                                            len(self.waiters[False]))
        assert self.destroyed <= 1, "the fd was destroyed twice"
        if self.destroyed:
            assert not v.rlocked and not v.wlocked and v.refs == 0

    @invariant()
    def lockers_got_what_the_model_says(self):
        for c, want in self.ops:
            if want is None:
                assert lib.gt_op_state(c) == lib.GT_PENDING
            else:
                assert lib.gt_op_state(c) == lib.GT_DONE
                assert c.result == want

    def teardown(self):
        if not self.started:
            return
        try:
            if not self.closed:
                self.close()
            self.lockers_got_what_the_model_says()
        finally:
            lib.gort_stop()
            for c, _ in self.ops:
                lib.gt_op_free(c)


TestFdMutex = FdMutexMachine.TestCase


def test_close_wakes_lock_waiters_and_the_last_unlock_destroys():
    m = FdMutexMachine()
    m.start()
    try:
        m.lock(True)
        m.lock(True)   # waits
        m.close()      # the waiter fails; the holder keeps its lock
        m.state_matches_the_model()
        m.lockers_got_what_the_model_says()
        assert m.destroyed == 0
        m.unlock(True)
        assert m.destroyed == 1
        m.state_matches_the_model()
    finally:
        m.teardown()
