#!/usr/bin/env python3
"""A TCP proxy: every connection to LISTEN is relayed to UPSTREAM.

    py_proxy.py LISTEN UPSTREAM     e.g. py_proxy.py 127.0.0.1:0 host:80

Two goroutines per connection, one per direction. When one side ends
its stream, the proxy half-closes the other side (close_write) so that
the reply can still come back; when both directions are done, both
connections close. Ctrl-C stops the proxy.
"""

import sys

import gort


def pump(src, dst, done):
    try:
        while True:
            data = src.read(65536)
            if not data:
                break
            dst.write(data)
        dst.close_write()
    except OSError as e:
        print(f"{src.remote_addr} -> {dst.remote_addr}: {e}",
              file=sys.stderr)
        src.close()
        dst.close()
    finally:
        done.done()


def relay(upstream):
    def serve_one(client):
        try:
            server = gort.dial("tcp", upstream, timeout=10)
        except OSError as e:
            print(f"{client.remote_addr}: {e}", file=sys.stderr)
            return
        with server:
            print(f"relay {client.remote_addr} -> {upstream}",
                  file=sys.stderr)
            done = gort.WaitGroup()
            done.add(2)
            gort.go(pump, server, client, done)
            pump(client, server, done)
            done.wait()
    return serve_one


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: py_proxy.py LISTEN UPSTREAM")
    with gort.listen("tcp", sys.argv[1]) as ln:
        print(f"listening on {ln.addr}", flush=True)
        gort.serve(ln, relay(sys.argv[2]), goroutines=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
