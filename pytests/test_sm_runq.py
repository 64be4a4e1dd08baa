"""The run queue as a state machine: two detached Ps, the global queue,
and stand-in Gs, driven through libsched's own runqput, runqget,
runqsteal and globrunqget. The model is Go's: a 256-slot ring per P
plus runnext, half the ring and the new G to the global queue when the
ring is full, thieves taking half."""

from collections import deque

from smutil import note
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize,
                                 invariant, precondition, rule)

from gt import ffi, lib

NPROCS = 2
RUNQ_SIZE = 256


class ModelP:
    def __init__(self):
        self.ring = deque()
        self.runnext = None


class RunQueueMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.ps = []
        self.model = []
        self.glob = deque()
        self.gs = {}          # id -> cdata G, for every G not yet taken
        self.next_id = 1

    @initialize()
    def setup(self):
        assert lib.gort__test_runq_reset(NPROCS) == 0
        for _ in range(NPROCS):
            p = lib.gort__test_p_new()
            assert p != ffi.NULL
            self.ps.append(p)
            self.model.append(ModelP())

    # ---- the model's operations, mirroring proc.c's Go semantics ----

    def model_put(self, i, gid, nxt):
        m = self.model[i]
        if nxt:
            gid, m.runnext = m.runnext, gid
            if gid is None:
                return
        if len(m.ring) < RUNQ_SIZE:
            m.ring.append(gid)
            return
        # Full: the first half of the ring, then gid, to the global queue.
        for _ in range(RUNQ_SIZE // 2):
            self.glob.append(m.ring.popleft())
        self.glob.append(gid)

    def model_get(self, i):
        m = self.model[i]
        if m.runnext is not None:
            gid, m.runnext = m.runnext, None
            return gid, True
        if m.ring:
            return m.ring.popleft(), False
        return None, False

    def taken(self, g):
        """The id of a G handed out by the real queue; frees it."""
        if g == ffi.NULL:
            return None
        gid = lib.gort__test_g_id(g)
        assert gid in self.gs, f"G {gid} handed out twice or never put"
        del self.gs[gid]
        lib.gort__test_g_free(g)
        return gid

    # ---- rules ----

    @rule(i=st.integers(0, NPROCS - 1), nxt=st.booleans())
    def put(self, i, nxt):
        gid = self.next_id
        self.next_id += 1
        g = lib.gort__test_g_new(gid)
        self.gs[gid] = g
        note(f"put G{gid} on P{i} next={nxt}")
        lib.gort__test_runqput(self.ps[i], g, nxt)
        self.model_put(i, gid, nxt)

    @rule(i=st.integers(0, NPROCS - 1), k=st.integers(1, 300))
    def put_many(self, i, k):
        note(f"put {k} Gs on P{i}")
        for _ in range(k):
            self.put(i, False)

    @rule(i=st.integers(0, NPROCS - 1))
    def get(self, i):
        inherit = ffi.new("bool *")
        got = self.taken(lib.gort__test_runqget(self.ps[i], inherit))
        want, want_inherit = self.model_get(i)
        note(f"get P{i}: G{got} (model G{want})")
        assert got == want
        if got is not None:
            assert bool(inherit[0]) == want_inherit

    @rule(i=st.integers(0, NPROCS - 1), stealnext=st.booleans())
    def steal(self, i, stealnext):
        j = 1 - i
        got = self.taken(lib.gort__test_runqsteal(self.ps[i], self.ps[j],
                                                  stealnext))
        victim = self.model[j]
        n = len(victim.ring) - len(victim.ring) // 2
        if n == 0:
            want = None
            if stealnext and victim.runnext is not None:
                want, victim.runnext = victim.runnext, None
        else:
            batch = [victim.ring.popleft() for _ in range(n)]
            want = batch[0]
            for gid in batch[1:]:
                self.model_put(i, gid, False)
        note(f"P{i} steals from P{j} next={stealnext}: G{got} "
             f"(model G{want})")
        assert got == want

    def model_globrunqget(self, i, mx):
        size = len(self.glob)
        if size == 0:
            return None
        n = min(size // NPROCS + 1, size)
        if mx > 0:
            n = min(n, mx)
        n = min(n, RUNQ_SIZE // 2)
        want = self.glob.popleft()
        for _ in range(n - 1):
            self.model_put(i, self.glob.popleft(), False)
        return want

    # globrunqget runs under sched.lock, and a ring overflow takes that
    # lock again, so the scheduler calls it only as below: with max 1
    # (the fairness check), or once the P's own queue came up empty.

    @rule(i=st.integers(0, NPROCS - 1))
    def globrunqget_fair(self, i):
        got = self.taken(lib.gort__test_globrunqget(self.ps[i], 1))
        want = self.model_globrunqget(i, 1)
        note(f"globrunqget P{i} max=1: G{got} (model G{want})")
        assert got == want

    @rule(data=st.data(), mx=st.integers(0, 200))
    def globrunqget_idle(self, data, mx):
        idle = [i for i, m in enumerate(self.model)
                if not m.ring and m.runnext is None]
        if not idle:
            return
        i = data.draw(st.sampled_from(idle), label="p")
        got = self.taken(lib.gort__test_globrunqget(self.ps[i], mx))
        want = self.model_globrunqget(i, mx)
        note(f"globrunqget P{i} max={mx}: G{got} (model G{want})")
        assert got == want

    @rule()
    def globrunq_pop(self):
        got = self.taken(lib.gort__test_globrunq_pop())
        want = self.glob.popleft() if self.glob else None
        assert got == want

    # ---- invariants ----

    @invariant()
    @precondition(lambda self: self.ps)
    def lengths_match(self):
        for i, p in enumerate(self.ps):
            n = lib.gort__test_runq_len(p)
            assert n <= RUNQ_SIZE, f"ring of P{i} holds {n}"
            assert n == len(self.model[i].ring)
            rn = lib.gort__test_runnext(p)
            got = None if rn == ffi.NULL else lib.gort__test_g_id(rn)
            assert got == self.model[i].runnext
        assert lib.gort__test_globrunq_len() == len(self.glob)

    @invariant()
    def nothing_lost_or_duplicated(self):
        held = list(self.glob)
        for m in self.model:
            held += list(m.ring)
            if m.runnext is not None:
                held.append(m.runnext)
        assert len(held) == len(set(held)), "a G is queued twice"
        assert set(held) == set(self.gs), "a G was lost"

    def teardown(self):
        # Drain in the model's order: every G comes out exactly once.
        for i in range(len(self.ps)):
            while True:
                want, _ = self.model_get(i)
                got = self.taken(lib.gort__test_runqget(
                    self.ps[i], ffi.new("bool *")))
                assert got == want
                if got is None:
                    break
        while True:
            got = self.taken(lib.gort__test_globrunq_pop())
            want = self.glob.popleft() if self.glob else None
            assert got == want
            if got is None:
                break
        assert not self.gs
        for p in self.ps:
            lib.gort__test_p_free(p)


TestRunQueue = RunQueueMachine.TestCase


def test_ring_overflow_moves_half_and_the_new_g_to_global_queue():
    m = RunQueueMachine()
    m.setup()
    m.put_many(0, RUNQ_SIZE + 1)
    assert lib.gort__test_runq_len(m.ps[0]) == RUNQ_SIZE // 2
    assert lib.gort__test_globrunq_len() == RUNQ_SIZE // 2 + 1
    m.lengths_match()
    m.teardown()


def test_runnext_goes_first_and_kicks_the_old_one_to_the_tail():
    m = RunQueueMachine()
    m.setup()
    m.put(0, False)   # G1
    m.put(0, True)    # G2 in runnext
    m.put(0, True)    # G3 in runnext, G2 to the tail
    for want in (3, 1, 2):
        g = lib.gort__test_runqget(m.ps[0], ffi.new("bool *"))
        assert m.taken(g) == want
        m.model_get(0)
    m.teardown()
