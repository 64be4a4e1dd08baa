"""Signals and the main thread: Python runs signal handlers only there,
so its waits in gort end when a signal arrives, the handler runs, and
the wait goes on unless the handler raised (Ctrl-C)."""

import signal
import subprocess
import sys
import textwrap

import pytest

import gort

PRELUDE = """
import signal, sys, threading, gort
ln = gort.listen("tcp", "127.0.0.1:0")
peer_conn = gort.dial("tcp", ln.addr)
conn = ln.accept()
hits = []
signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
def ready():
    print("waiting", flush=True)
"""

# What the main thread waits in; each prints "waiting" just before.
WAITS = {
    "accept": "ready(); ln.accept()",
    "read": "ready(); conn.read(10)",
    "readinto": "ready(); conn.readinto(bytearray(10))",
    "write": "conn.set_write_deadline(None)\n"
             "ready()\n"
             "while True: conn.write(b'x' * 65536)",
    "sleep": "ready(); gort.sleep(1000)",
    "waitgroup": "wg = gort.WaitGroup(); wg.add(1); ready(); wg.wait()",
    "queue": "q = gort.Queue(); ready(); q.get()",
    "read_from": "pc = gort.listen_packet('udp', '127.0.0.1:0'); ready(); "
                 "pc.read_from(10)",
}


def start(body):
    script = textwrap.dedent(PRELUDE) + textwrap.dedent(body)
    p = subprocess.Popen([sys.executable, "-c", script],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    assert line.strip() == "waiting", p.stderr.read()
    return p


def finish(p, timeout=20):
    try:
        p.wait(timeout=timeout)
        return p.returncode, p.stdout.read(), p.stderr.read()
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


@pytest.mark.parametrize("what", sorted(WAITS))
def test_ctrl_c_interrupts_a_main_thread_wait(what):
    p = start(WAITS[what] + "\nprint('returned', flush=True)\n")
    gort.sleep(0.2)  # into the wait
    p.send_signal(signal.SIGINT)
    rc, out, err = finish(p)
    assert rc != 0, (out, err)
    assert "KeyboardInterrupt" in err
    assert "returned" not in out


def start_dialer(addr, body):
    """A child that counts SIGUSR1 in hits, dials addr as c and runs
    body (which prints "waiting" before it waits)."""
    script = textwrap.dedent(f"""
        import signal, gort
        hits = []
        signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
        c = gort.dial("tcp", "{addr}")
    """) + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_a_handled_signal_lets_a_read_go_on_to_its_data():
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        p = start_dialer(ln.addr, """
            print("waiting", flush=True)
            data = c.read(10)
            print("read", data.decode(), "signals", len(hits), flush=True)
        """)
        with ln.accept() as s:
            assert p.stdout.readline().strip() == "waiting"
            gort.sleep(0.2)
            for _ in range(3):
                p.send_signal(signal.SIGUSR1)
                gort.sleep(0.05)
            s.write(b"hello")
            rc, out, err = finish(p)
    assert rc == 0, err
    assert out.split() == ["read", "hello", "signals", "3"]


def test_a_handled_signal_during_a_long_write_loses_and_repeats_nothing():
    # The child's main thread writes 8 MiB to a peer that reads slowly;
    # SIGUSR1 interrupts the write several times. The peer must get
    # every byte exactly once, in order.
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        p = start_dialer(ln.addr, """
            data = bytes(i % 251 for i in range(8 << 20))
            print("waiting", flush=True)
            n = c.write(data)
            c.close_write()
            print("wrote", n, "signals", len(hits), flush=True)
            c.read(1)  # the peer's close: no signal comes after it
            c.close()
        """)
        s = ln.accept()
        assert p.stdout.readline().strip() == "waiting"
        got = bytearray()
        signals = 0
        while True:
            chunk = s.read(65536)
            if not chunk:
                break
            got += chunk
            if len(got) > (1 << 20) * (signals + 1) and signals < 3:
                p.send_signal(signal.SIGUSR1)
                signals += 1
                gort.sleep(0.02)  # let the writer block again
        s.close()
    rc, out, err = finish(p)
    assert rc == 0, err
    assert out.split()[:2] == ["wrote", str(8 << 20)]
    # Signals sent close together may arrive as one.
    assert 1 <= int(out.split()[3]) <= signals
    assert got == bytes(i % 251 for i in range(8 << 20))
