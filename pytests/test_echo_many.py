"""A Python echo server built on gort.serve handles 1,000 concurrent
connections: all of them open at once, each with a handler thread
parked in read()."""

import resource
import threading

import pytest

import gort

N = 1000


def echo(conn):
    while True:
        data = conn.read(4096)
        if not data:
            return
        conn.write(data)


def test_echo_server_handles_1000_concurrent_connections():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * N + 100
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"needs {need} file descriptors, hard limit {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    ln = gort.listen("tcp", "127.0.0.1:0")
    server = threading.Thread(target=gort.serve, args=(ln, echo))
    server.start()
    conns = []
    try:
        conns = [gort.dial("tcp", ln.addr, timeout=10) for _ in range(N)]
        for i, c in enumerate(conns):
            c.write(b"%d\n" % i)
        for i, c in enumerate(conns):
            c.set_read_deadline(gort.now() + 30)
            want = b"%d\n" % i
            got = b""
            while len(got) < len(want):
                got += c.read(100)
            assert got == want
    finally:
        for c in conns:
            c.close()
        ln.close()
        server.join(10)
    assert not server.is_alive()
