#!/usr/bin/env python3
"""A line protocol with a deadline per request.

    py_line_server.py [ADDRESS] [TIMEOUT]   (default 127.0.0.1:7008, 5 s)

Each request is one line; the client has TIMEOUT seconds to finish it,
counted afresh for every request, and the reply must go out within the
same time. Commands:

    ECHO text     replies "text"
    ADD a b ...   replies the sum
    TIME          replies gort.now()
    QUIT          closes the connection

A request that misses its deadline gets "ERR timeout" and the
connection is closed; an unknown command gets "ERR unknown command".
Each connection is served by a goroutine. Ctrl-C stops the server.
"""

import sys

import gort


class Lines:
    """Reads lines from a conn, keeping what follows the newline."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""

    def readline(self, limit=4096):
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("line too long")
            data = self.conn.read(4096)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")


def reply(cmd, args):
    if cmd == "ECHO":
        return " ".join(args)
    if cmd == "ADD":
        try:
            return str(sum(int(a) for a in args))
        except ValueError:
            return "ERR ADD takes integers"
    if cmd == "TIME":
        return f"{gort.now():.6f}"
    return "ERR unknown command"


def handler(timeout):
    def serve_one(conn):
        lines = Lines(conn)
        while True:
            conn.set_deadline(gort.now() + timeout)
            try:
                line = lines.readline()
            except gort.DeadlineExceeded:
                print(f"{conn.remote_addr}: request timed out",
                      file=sys.stderr)
                conn.set_write_deadline(gort.now() + timeout)
                conn.write(b"ERR timeout\n")
                return
            if line is None:
                return
            cmd, *args = line.split() or [""]
            if cmd.upper() == "QUIT":
                return
            try:
                out = reply(cmd.upper(), args)
            except ValueError as e:
                out = f"ERR {e}"
            conn.write(out.encode() + b"\n")
    return serve_one


def main():
    address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7008"
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    with gort.listen("tcp", address) as ln:
        print(f"listening on {ln.addr}", flush=True)
        gort.serve(ln, handler(timeout), goroutines=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
