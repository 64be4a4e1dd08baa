"""Goroutines that run Python code: gort.go, gort.sleep, gort.WaitGroup
and serve(..., goroutines=True)."""

import math
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import gort


def run_script(body, timeout=60):
    """Runs body in a fresh interpreter; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=timeout)


def test_go_runs_the_callable_with_its_arguments():
    wg = gort.WaitGroup()
    got = []

    def f(a, b, *, c):
        got.append((a, b, c))
        wg.done()

    wg.add(1)
    gort.go(f, 1, "two", c=3.0)
    wg.wait()
    assert got == [(1, "two", 3.0)]
    assert wg.count == 0


def test_a_thousand_sleeping_goroutines_share_a_few_threads():
    threads_before = threading.active_count()
    wg = gort.WaitGroup()
    idents = set()
    n = 1000

    def sleeper(i):
        gort.sleep(0.05 + (i % 7) / 1000)
        idents.add(threading.get_ident())
        wg.done()

    wg.add(n)
    for i in range(n):
        gort.go(sleeper, i)
    wg.wait()
    # Goroutines run on the runtime's Ms, about one per P: no thread was
    # started per goroutine, and Python sees no new threads.
    assert 1 <= len(idents) <= 2 * gort._ffi.lib.gort_procs() + 4
    assert threading.active_count() == threads_before


def test_sleep_parks_for_at_least_its_time():
    wg = gort.WaitGroup()
    took = []

    def f():
        t0 = gort.now()
        gort.sleep(0.05)
        took.append(gort.now() - t0)
        wg.done()

    wg.add(1)
    gort.go(f)
    wg.wait()
    assert 0.05 <= took[0] < 5


def test_sleep_rejects_what_is_not_a_duration():
    with pytest.raises(TypeError):
        gort.sleep("1")
    with pytest.raises(TypeError):
        gort.sleep(None)
    with pytest.raises(ValueError):
        gort.sleep(math.nan)
    gort.sleep(-5)   # the past: returns at once
    gort.sleep(0)


def test_go_rejects_what_is_not_callable():
    with pytest.raises(TypeError):
        gort.go(42)


def test_waitgroup_counter_cannot_go_negative():
    wg = gort.WaitGroup()
    with pytest.raises(ValueError):
        wg.done()
    with pytest.raises(TypeError):
        wg.add(True)
    with pytest.raises(TypeError):
        wg.add(1.5)
    wg.add(2)
    wg.add(-2)
    wg.wait()  # zero: at once


def test_waitgroup_wakes_every_waiter_thread_and_goroutine():
    wg = gort.WaitGroup()
    woken = gort.WaitGroup()
    wg.add(1)
    woken.add(3)

    def waiter():
        wg.wait()
        woken.done()

    gort.go(waiter)
    gort.go(waiter)
    t = threading.Thread(target=waiter)
    t.start()
    gort.sleep(0.05)
    assert woken.count == 3
    wg.done()
    woken.wait()
    t.join()


def test_goroutine_exception_is_reported_and_others_go_on(capfd):
    wg = gort.WaitGroup()

    def bad():
        raise ValueError("boom in a goroutine")

    def good():
        wg.done()

    wg.add(1)
    gort.go(bad)
    gort.go(good)
    wg.wait()
    gort.sleep(0.1)
    err = capfd.readouterr().err
    assert "Exception in goroutine" in err
    assert "ValueError: boom in a goroutine" in err
    assert "Traceback" in err


def test_threading_local_is_per_goroutine():
    local = threading.local()
    wg = gort.WaitGroup()
    seen = []

    def f(i):
        local.value = i
        gort.sleep(0.02)   # others run on this thread meanwhile
        seen.append((i, local.value))
        wg.done()

    wg.add(20)
    for i in range(20):
        gort.go(f, i)
    wg.wait()
    assert sorted(seen) == [(i, i) for i in range(20)]


def test_goroutine_parked_in_read_is_woken_by_close_from_a_thread():
    result = []
    wg = gort.WaitGroup()
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        c = gort.dial("tcp", ln.addr)
        s = ln.accept()

    def reader():
        try:
            s.read(10)
        except gort.ClosedError as e:
            result.append(str(e))
        wg.done()

    wg.add(1)
    gort.go(reader)
    gort.sleep(0.05)
    assert result == []
    s.close()
    wg.wait()
    c.close()
    assert result and "use of closed network connection" in result[0]


def test_deep_recursion_in_a_goroutine_raises_recursion_error():
    # A frame entered from C takes C stack; the goroutine's stack is
    # sized so that the recursion limit comes first. Run apart, so that
    # a stack overflow (which stops the process) fails only this test.
    r = run_script("""
        import functools, gort
        def rec(n):
            return functools.reduce(lambda a, b: rec(n + 1), [0, 0], 0)
        out = []
        wg = gort.WaitGroup()
        def g():
            try:
                rec(0)
            except RecursionError:
                out.append("recursion error")
            wg.done()
        wg.add(1)
        gort.go(g)
        wg.wait()
        print(out[0])
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "recursion error"


def test_interpreter_exits_cleanly_with_goroutines_parked_and_running():
    # Some goroutines wait forever, some keep waking up and running
    # Python while the main thread returns: the process must exit 0.
    for _ in range(3):
        r = run_script("""
            import gort
            ln = gort.listen("tcp", "127.0.0.1:0")
            def forever():
                ln.accept()
            def busy():
                while True:
                    gort.sleep(0.0005)
                    sum(range(100))
            for _ in range(50):
                gort.go(forever)
                gort.go(busy)
            gort.sleep(0.05)
            print("main done")
        """)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "main done"


def _echo(conn):
    while data := conn.read(65536):
        conn.write(data)


def test_serve_with_goroutines_echoes_many_connections():
    n = 200
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        t = threading.Thread(target=gort.serve, args=(ln, _echo),
                             kwargs={"goroutines": True})
        t.start()
        wg = gort.WaitGroup()
        bad = []

        def client(i):
            try:
                with gort.dial("tcp", ln.addr) as c:
                    for k in range(5):
                        msg = f"{i}:{k};".encode() * 10
                        c.write(msg)
                        got = b""
                        while len(got) < len(msg):
                            got += c.read(len(msg) - len(got))
                        if got != msg:
                            bad.append((i, k))
            except Exception as e:
                bad.append((i, repr(e)))
            wg.done()

        wg.add(n)
        for i in range(n):
            gort.go(client, i)
        wg.wait()
        ln.close()
        t.join(10)
    assert not t.is_alive()
    assert bad == []


def test_serve_rejects_bad_arguments():
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        with pytest.raises(TypeError):
            gort.serve(ln, "not callable")
        with pytest.raises(ValueError):
            gort.serve(ln, _echo, max_conns=0)
        with pytest.raises(TypeError):
            gort.serve(ln, _echo, max_conns="8")


@pytest.mark.parametrize("goroutines", [False, True])
def test_ctrl_c_stops_serve_in_the_main_thread_at_once(goroutines):
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import gort
        def echo(conn):
            while data := conn.read(100):
                conn.write(data)
        with gort.listen("tcp", "127.0.0.1:0") as ln:
            print("listening on", ln.addr, flush=True)
            gort.serve(ln, echo, goroutines={goroutines})
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        addr = p.stdout.readline().split()[-1]
        with gort.dial("tcp", addr) as c:   # a handler is running too
            c.write(b"x")
            assert c.read(1) == b"x"
            p.send_signal(signal.SIGINT)
            rc = p.wait(timeout=10)
        assert rc != 0
        assert "KeyboardInterrupt" in p.stderr.read()
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


def test_max_conns_bounds_goroutine_handlers():
    running = []
    peak = []
    release = gort.WaitGroup()
    release.add(1)

    def handler(conn):
        running.append(conn)
        peak.append(len(running))
        release.wait()
        running.remove(conn)

    with gort.listen("tcp", "127.0.0.1:0") as ln:
        gort.go(gort.serve, ln, handler, max_conns=3, goroutines=True)
        conns = [gort.dial("tcp", ln.addr) for _ in range(6)]
        gort.sleep(0.2)
        assert len(running) == 3
        release.done()
        deadline = gort.now() + 10
        while len(peak) < 6 and gort.now() < deadline:
            gort.sleep(0.01)
        assert len(peak) == 6 and max(peak) <= 3
        for c in conns:
            c.close()


@pytest.mark.parametrize("goroutines", [False, True])
def test_a_failing_handler_is_reported_with_its_traceback(capfd, goroutines):
    def handler(conn):
        conn.read(1)
        raise RuntimeError("handler exploded")

    with gort.listen("tcp", "127.0.0.1:0") as ln:
        t = threading.Thread(target=gort.serve, args=(ln, handler),
                             kwargs={"goroutines": goroutines})
        t.start()
        with gort.dial("tcp", ln.addr) as c:
            c.write(b"x")
            assert c.read(1) == b""  # the conn is closed after the failure
        ln.close()
        t.join(10)
    gort.sleep(0.05)
    err = capfd.readouterr().err
    assert "handler failed" in err
    assert "Traceback" in err and "RuntimeError: handler exploded" in err


def test_queue_passes_every_item_once_in_order_between_goroutines():
    q = gort.Queue(maxsize=4)
    got = {p: [] for p in range(3)}
    wg = gort.WaitGroup()

    def producer(p):
        for i in range(200):
            q.put((p, i))
        wg.done()

    def consumer():
        while (item := q.get()) is not None:
            got[item[0]].append(item[1])
            if q.qsize() > 4:
                got["overfull"] = True
        wg.done()

    wg.add(5)
    gort.go(consumer)
    gort.go(consumer)
    for p in range(3):
        gort.go(producer, p)
    while sum(len(v) for v in got.values()) < 600:
        gort.sleep(0.01)
    q.put(None)
    q.put(None)
    wg.wait()
    assert "overfull" not in got
    # Two consumers interleave, but each producer's items all arrive,
    # once each; the queue itself is FIFO.
    for p in range(3):
        assert sorted(got[p]) == list(range(200))
    q2 = gort.Queue()
    for i in range(5):
        q2.put(i)
    assert [q2.get() for _ in range(5)] == list(range(5))


def test_queue_get_and_put_time_out():
    import queue as stdqueue

    q = gort.Queue(maxsize=1)
    t0 = gort.now()
    with pytest.raises(stdqueue.Empty):
        q.get(timeout=0.05)
    assert gort.now() - t0 >= 0.05
    with pytest.raises(stdqueue.Empty):
        q.get_nowait()
    q.put_nowait("a")
    with pytest.raises(stdqueue.Full):
        q.put("b", timeout=0.01)
    with pytest.raises(stdqueue.Full):
        q.put_nowait("b")
    assert q.get() == "a" and q.empty()


def test_queue_wakes_a_thread_waiting_on_it():
    q = gort.Queue()
    out = []
    t = threading.Thread(target=lambda: out.append(q.get()))
    t.start()
    gort.sleep(0.05)
    gort.go(q.put, "from a goroutine")
    t.join(10)
    assert out == ["from a goroutine"]


def test_queue_rejects_bad_arguments():
    with pytest.raises(TypeError):
        gort.Queue("4")
    with pytest.raises(ValueError):
        gort.Queue(-1)
    q = gort.Queue()
    with pytest.raises(ValueError):
        q.get(timeout=-1)
    with pytest.raises(TypeError):
        q.get(timeout="1")
