"""The Python echo servers of row 8: gort's and its peers'.

    python3 py_echo.py gort|gort-threads|asyncio|uvloop|gevent PORT

gort serves the way a script would: gort.serve() with a plain handler
that reads and writes back, one goroutine per connection parked in
read() (gort-threads: one thread per connection, serve's default); run
either with GORT_PROCS=1 for one P. asyncio and uvloop serve with a
Protocol (the fastest way either offers: no stream objects, one
transport.write per read); gevent with a greenlet per connection doing
blocking-style recv and sendall.
"""

import socket
import sys


class EchoProtocol:
    """Writes back whatever arrives."""

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.transport.write(data)

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        pass

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass


def serve_asyncio(port, use_uvloop):
    import asyncio

    if use_uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(EchoProtocol, "127.0.0.1", port, backlog=4096)
    )
    try:
        loop.run_forever()
    finally:
        server.close()


def serve_gevent(port):
    from gevent import monkey

    monkey.patch_all()
    from gevent.server import StreamServer

    def handle(sock, _addr):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = sock.recv(16384)
            if not data:
                break
            sock.sendall(data)
        sock.close()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    StreamServer(listener, handle).serve_forever()


def serve_gort(port, goroutines):
    import threading

    import gort

    def echo(conn):
        try:
            while True:
                data = conn.read(16384)
                if not data:
                    break
                conn.write(data)
        except OSError:
            pass  # the load generator resets; the others' peers are quiet

    # With threads, a thousand each parked in read(): small stacks
    # suffice.
    threading.stack_size(256 * 1024)
    with gort.listen("tcp", f"127.0.0.1:{port}") as ln:
        gort.serve(ln, echo, goroutines=goroutines)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: py_echo.py gort|gort-threads|asyncio|uvloop|gevent "
                 "PORT")
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "gort":
        serve_gort(port, goroutines=True)
    elif kind == "gort-threads":
        serve_gort(port, goroutines=False)
    elif kind == "asyncio":
        serve_asyncio(port, use_uvloop=False)
    elif kind == "uvloop":
        serve_asyncio(port, use_uvloop=True)
    elif kind == "gevent":
        serve_gevent(port)
    else:
        sys.exit(f"py_echo.py: unknown server {kind!r}")


if __name__ == "__main__":
    main()
