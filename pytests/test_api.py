"""The public API: names, types, errors, deadlines and threads."""

import errno
import socket
import threading
import time

import pytest

import gort


@pytest.fixture
def pair():
    """A connected TCP pair over loopback: (client, server side)."""
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        c = gort.dial("tcp", ln.addr)
        s = ln.accept()
    yield c, s
    c.close()
    s.close()


def test_now_is_the_clock_of_time_monotonic():
    a = time.monotonic()
    n = gort.now()
    b = time.monotonic()
    assert a <= n <= b


def test_listener_addr_and_conn_addrs_are_strings(pair):
    c, s = pair
    assert c.remote_addr == s.local_addr
    assert s.remote_addr == c.local_addr
    assert c.local_addr.startswith("127.0.0.1:")
    assert isinstance(c.fileno(), int) and c.fileno() >= 0


def test_read_write_roundtrip_and_end_of_stream(pair):
    c, s = pair
    assert c.write(b"hello") == 5
    assert s.read(5) == b"hello"
    assert s.read(0) == b""
    buf = bytearray(3)
    c.write(b"xyz")
    assert s.readinto(buf) == 3 and buf == b"xyz"
    c.close_write()
    assert s.read(10) == b""


def test_write_writes_everything(pair):
    c, s = pair
    data = bytes(range(256)) * 8192  # 2 MiB: many partial sends
    got = bytearray()

    def reader():
        while len(got) < len(data):
            got.extend(s.read(65536))

    t = threading.Thread(target=reader)
    t.start()
    assert c.write(data) == len(data)
    t.join(30)
    assert bytes(got) == data


def test_read_deadline_raises_deadline_exceeded_with_go_message(pair):
    c, s = pair
    c.set_read_deadline(gort.now() + 0.05)
    with pytest.raises(gort.DeadlineExceeded) as ei:
        c.read(1)
    e = ei.value
    assert isinstance(e, TimeoutError) and isinstance(e, gort.Error)
    assert str(e) == (f"read tcp {c.local_addr}->{c.remote_addr}: "
                      "i/o timeout")
    assert (e.op, e.net, e.source, e.addr) == ("read", "tcp", c.local_addr,
                                               c.remote_addr)


def test_past_deadline_has_already_expired_and_none_clears(pair):
    c, s = pair
    c.set_deadline(gort.now() - 1)
    with pytest.raises(gort.DeadlineExceeded):
        c.read(1)
    c.set_deadline(None)
    s.write(b"x")
    assert c.read(1) == b"x"


def test_close_from_another_thread_wakes_a_blocked_reader(pair):
    c, s = pair
    result = []

    def reader():
        try:
            c.read(1)
        except gort.ClosedError as e:
            result.append(e)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    assert t.is_alive()
    c.close()
    t.join(5)
    assert not t.is_alive()
    assert "use of closed network connection" in str(result[0])
    c.close()  # closing again is harmless


def test_blocked_read_releases_the_gil(pair):
    c, s = pair
    t = threading.Thread(target=lambda: c.read(1))
    t.start()
    n = 0
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        n += 1
    s.write(b"!")
    t.join(5)
    assert n > 1000


def test_accept_deadline_and_close_wake_accept():
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        ln.set_deadline(gort.now() + 0.05)
        with pytest.raises(gort.DeadlineExceeded):
            ln.accept()
        ln.set_deadline(None)
        threading.Timer(0.1, ln.close).start()
        with pytest.raises(gort.ClosedError):
            ln.accept()


def test_refused_dial_is_connection_refused_error_with_errno():
    ln = gort.listen("tcp", "127.0.0.1:0")
    addr = ln.addr
    ln.close()
    with pytest.raises(ConnectionRefusedError) as ei:
        gort.dial("tcp", addr)
    assert isinstance(ei.value, gort.Error)
    assert ei.value.errno == errno.ECONNREFUSED
    assert str(ei.value) == f"dial tcp {addr}: connect: connection refused"


def test_dial_timeout_in_the_past_fails_at_once():
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        with pytest.raises(gort.DeadlineExceeded):
            gort.dial("tcp", ln.addr, timeout=-1)


def test_bad_network_and_address_raise_value_error():
    with pytest.raises(ValueError, match="unknown network"):
        gort.dial("tcpx", "127.0.0.1:1")
    with pytest.raises(ValueError):
        gort.listen("tcp", "127.0.0.1")  # no port


def test_wrong_types_raise_type_error(pair):
    c, s = pair
    with pytest.raises(TypeError):
        gort.dial(b"tcp", "127.0.0.1:1")
    with pytest.raises(TypeError):
        c.write("text")
    with pytest.raises(TypeError):
        c.set_deadline("soon")


def test_write_to_reset_peer_raises_os_error_with_written():
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        c = gort.dial("tcp", ln.addr)
        s = ln.accept()
        fd = socket.socket(fileno=s.fileno())
        fd.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      b"\x01\x00\x00\x00\x00\x00\x00\x00")
        fd.detach()
        s.close()
        with pytest.raises(OSError) as ei:
            for _ in range(100):
                c.write(b"x" * 65536)
                time.sleep(0.01)
        e = ei.value
        assert isinstance(e, gort.Error)
        assert isinstance(e, (ConnectionResetError, BrokenPipeError))
        assert e.written is not None and e.written >= 0
        c.close()


def test_packet_conn_read_from_write_to():
    with gort.listen_packet("udp", "127.0.0.1:0") as a, \
            gort.listen_packet("udp", "127.0.0.1:0") as b:
        assert a.write_to(b"ping", b.local_addr) == 4
        data, addr = b.read_from(100)
        assert (data, addr) == (b"ping", a.local_addr)
        b.set_read_deadline(gort.now() + 0.05)
        with pytest.raises(gort.DeadlineExceeded):
            b.read_from(100)


def test_serve_runs_a_handler_per_connection_until_listener_closes():
    ln = gort.listen("tcp", "127.0.0.1:0")

    def upper(conn):
        conn.write(conn.read(100).upper())

    t = threading.Thread(target=gort.serve, args=(ln, upper))
    t.start()
    conns = [gort.dial("tcp", ln.addr) for _ in range(5)]
    for i, c in enumerate(conns):
        c.write(b"abc%d" % i)
    for i, c in enumerate(conns):
        assert c.read(100) == b"ABC%d" % i
        assert c.read(100) == b""  # closed when the handler returned
        c.close()
    ln.close()
    t.join(5)
    assert not t.is_alive()


def test_error_classes_print_as_gort_names_and_pickle():
    import pickle

    for cls in (gort.Error, gort.DeadlineExceeded, gort.ClosedError):
        assert cls.__module__ == "gort"
        assert repr(cls) == f"<class 'gort.{cls.__name__}'>"
    e = gort.DeadlineExceeded("read tcp a->b: i/o timeout", op="read")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is gort.DeadlineExceeded and str(back) == str(e)


def test_a_deadline_far_in_the_past_has_expired(pair):
    c, s = pair
    for when in (-1e300, float("-inf"), -5, 0):
        s.set_read_deadline(when)
        with pytest.raises(gort.DeadlineExceeded):
            s.read(1)
    s.set_read_deadline(None)


def test_a_huge_read_size_reads_what_is_there(pair):
    c, s = pair
    c.write(b"abc")
    assert s.read(10**12) == b"abc"


def test_dial_from_a_thread_is_not_held_to_the_monitors_poll():
    # With only threads waiting for I/O (no goroutine parked), the wait
    # itself must put an M in the poller; before, every dial waited for
    # the monitor's 10 ms poll.
    with gort.listen("tcp", "127.0.0.1:0") as ln:
        t = threading.Thread(target=lambda: [ln.accept() for _ in range(50)])
        t.start()
        t0 = time.monotonic()
        conns = [gort.dial("tcp", ln.addr) for _ in range(50)]
        took = time.monotonic() - t0
        t.join()
        for c in conns:
            c.close()
    assert took < 0.3, f"50 dials took {took:.3f} s"
