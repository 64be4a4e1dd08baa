"""The Python examples in tools/examples, run as their users would."""

import os
import signal
import subprocess
import sys
import time

import pytest

import gort

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tools", "examples")


@pytest.fixture
def run():
    procs = []

    def start(name, *args):
        p = subprocess.Popen(
            [sys.executable, os.path.join(EXAMPLES, name), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        line = p.stdout.readline()
        assert line.startswith("listening on "), p.stderr.read()
        start.proc = p
        return line.split()[-1]

    yield start
    for p in procs:
        p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


def ask(conn, line):
    conn.write(line)
    got = b""
    while not got.endswith(b"\n"):
        data = conn.read(100)
        assert data
        got += data
    return got


def test_echo_server_echoes(run):
    addr = run("py_echo_server.py", "127.0.0.1:0")
    with gort.dial("tcp", addr) as c:
        assert ask(c, b"hello\n") == b"hello\n"


def test_line_server_answers_and_times_out_a_slow_request(run):
    addr = run("py_line_server.py", "127.0.0.1:0", "0.3")
    with gort.dial("tcp", addr) as c:
        assert ask(c, b"ECHO a b\n") == b"a b\n"
        assert ask(c, b"ADD 1 2 3\n") == b"6\n"
        assert ask(c, b"NOPE\n") == b"ERR unknown command\n"
        assert ask(c, b"ADD 1 x\n") == b"ERR ADD takes integers\n"
        c.write(b"ECHO never finish")  # no newline: the deadline passes
        c.set_read_deadline(gort.now() + 10)
        assert c.read(100) == b"ERR timeout\n"
        assert c.read(100) == b""


def test_proxy_relays_both_ways_and_half_closes(run):
    echo = run("py_echo_server.py", "127.0.0.1:0")
    proxy = run("py_proxy.py", "127.0.0.1:0", echo)
    with gort.dial("tcp", proxy) as c:
        c.set_deadline(gort.now() + 10)
        assert ask(c, b"through the proxy\n") == b"through the proxy\n"
        c.write(b"last")
        c.close_write()
        got = b""
        while True:
            data = c.read(100)
            if not data:
                break
            got += data
        assert got == b"last"


@pytest.mark.parametrize("name", ["py_echo_server.py", "py_line_server.py"])
def test_example_server_stops_on_ctrl_c(run, name):
    addr = run(name, "127.0.0.1:0")
    with gort.dial("tcp", addr):   # an open connection does not hold it
        time.sleep(0.1)
        run.proc.send_signal(signal.SIGINT)
        assert run.proc.wait(timeout=10) != 0
