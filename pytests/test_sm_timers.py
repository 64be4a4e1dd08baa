"""The timer heap as a state machine: a detached heap (libsched's own
4-ary heap code) with timers added, modified and deleted, and run by
hand up to a time. Exactly the due, undeleted timers fire, in time
order, and the heap reports the next live deadline."""

from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize,
                                 invariant, rule)

from gt import ffi, lib
from smutil import note

WHEN = st.one_of(st.integers(-5, 2000), st.just(2**63 - 1))


class TimerHeapMachine(RuleBasedStateMachine):
    timers = Bundle("timers")

    def __init__(self):
        super().__init__()
        self.ts = ffi.NULL
        self.log = ffi.new("gt_timer_log *")
        self.cdata = {}    # id -> gort_timer cdata (kept alive)
        self.when = {}     # id -> when, for timers set and not yet fired
        self.next_id = 1
        self.now = 0

    @initialize()
    def setup(self):
        self.ts = lib.gort__test_timers_new()
        assert self.ts != ffi.NULL
        lib.gort__test_timers_use(self.ts)

    @rule(target=timers, when=WHEN)
    def add(self, when):
        tid = self.next_id
        self.next_id += 1
        t = ffi.new("gort_timer *")
        self.cdata[tid] = t
        lib.gort_timer_set(t, when, 0, lib.gt_timer_fire_ptr, self.log, tid)
        self.when[tid] = max(when, 1)
        note(f"add T{tid} at {when}")
        return tid

    # Earlier, later, and on fired or deleted timers (which it sets
    # again).
    @rule(tid=timers, when=WHEN)
    def modify(self, tid, when):
        self.do_modify(tid, when)

    def do_modify(self, tid, when):
        lib.gort_timer_modify(self.cdata[tid], when, 0)
        self.when[tid] = max(when, 1)
        note(f"modify T{tid} to {when}")

    @rule(tid=timers)
    def delete(self, tid):
        was = lib.gort_timer_del(self.cdata[tid])
        note(f"delete T{tid}: {was}")
        assert was == (tid in self.when)
        self.when.pop(tid, None)

    @rule(dt=st.integers(0, 800))
    def run(self, dt):
        self.now += dt
        self.log.n = 0
        nxt = lib.gort__test_timers_run(self.ts, self.now)
        fired = [self.log.seq[i] for i in range(self.log.n)]
        delays = [self.log.delay[i] for i in range(self.log.n)]
        due = {t for t, w in self.when.items() if w <= self.now}
        note(f"run to {self.now}: fired {fired}")
        assert len(fired) == len(set(fired)), "a timer fired twice"
        assert set(fired) == due
        whens = [self.when[t] for t in fired]
        assert whens == sorted(whens), "timers fired out of time order"
        assert delays == [self.now - w for w in whens]
        for t in fired:
            del self.when[t]
        assert nxt == min(self.when.values(), default=0)

    @invariant()
    def heap_is_consistent(self):
        if self.ts == ffi.NULL:
            return
        assert lib.gort__test_timers_check(self.ts)
        live = lib.gort__test_timers_live(self.ts)
        assert live == len(self.when)
        assert lib.gort__test_timers_len(self.ts) >= live

    def teardown(self):
        lib.gort__test_timers_use(ffi.NULL)
        if self.ts != ffi.NULL:
            lib.gort__test_timers_free(self.ts)


TestTimerHeap = TimerHeapMachine.TestCase


def test_modify_revives_a_fired_timer():
    m = TimerHeapMachine()
    m.setup()
    t = m.add(5)
    m.run(10)
    m.do_modify(t, 20)
    m.run(5)
    m.run(10)
    m.heap_is_consistent()
    m.teardown()


def test_deleted_timer_on_top_does_not_fire():
    m = TimerHeapMachine()
    m.setup()
    a = m.add(1)
    m.add(3)
    m.delete(a)
    m.run(5)
    m.heap_is_consistent()
    m.teardown()


def test_timer_moved_later_fires_after_timers_due_before_it():
    m = TimerHeapMachine()
    m.setup()
    try:
        m.run(1)
        m.add(0)
        t2 = m.add(0)
        m.do_modify(t2, 0)
        t3 = m.add(0)
        m.do_modify(t3, 2)
        m.run(1)   # all due at 2: T3, now at 2, must fire last
    finally:
        m.teardown()


def test_run_reports_the_moved_timers_new_time_as_next():
    m = TimerHeapMachine()
    m.setup()
    try:
        t = m.add(1)
        m.do_modify(t, 2)
        m.run(0)
    finally:
        m.teardown()
