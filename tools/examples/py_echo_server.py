#!/usr/bin/env python3
"""An echo server on gort: one goroutine per connection, parked in read().

    py_echo_server.py [ADDRESS]     (default 127.0.0.1:7007; :0 picks a port)

Prints "listening on HOST:PORT" on stdout, then one line per connection
on stderr. Ctrl-C stops it.
"""

import sys

import gort


def echo(conn):
    print(f"open {conn.remote_addr}", file=sys.stderr)
    n = 0
    while True:
        data = conn.read(65536)
        if not data:
            break
        n += conn.write(data)
    print(f"close {conn.remote_addr} ({n} bytes)", file=sys.stderr)


def main():
    address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7007"
    with gort.listen("tcp", address) as ln:
        print(f"listening on {ln.addr}", flush=True)
        gort.serve(ln, echo, goroutines=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
