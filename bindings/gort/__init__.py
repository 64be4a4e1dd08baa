"""gort: Go's goroutine scheduler, netpoller and net layer, from Python.

    gort.now()                          the runtime's monotonic clock (s)
    gort.listen(network, address)       -> Listener
    gort.dial(network, address)         -> Conn
    gort.listen_packet(network, addr)   -> PacketConn
    gort.serve(listener, handler)       a thread per connection
    gort.serve(..., goroutines=True)    a goroutine per connection
    gort.go(fn, *args), gort.sleep(s)   goroutines that run Python
    gort.Queue(), gort.WaitGroup()      pass values, wait for goroutines
    gort.Error, DeadlineExceeded, ClosedError

The runtime starts on first use. Any thread may call any method; a call
that waits releases the GIL and parks its thread as a goroutine. See
gort._net for deadlines and lifetimes, gort._serve for serve(), gort._go
for goroutines.
"""

from gort._version import __version__
from gort._errors import ClosedError, DeadlineExceeded, Error
from gort._net import (Conn, Listener, PacketConn, dial, listen,
                       listen_packet, now)
from gort._go import Queue, WaitGroup, go, sleep
from gort._serve import serve

__all__ = ["__version__", "now", "listen", "dial", "listen_packet",
           "serve", "go", "sleep", "Queue", "WaitGroup", "Listener",
           "Conn", "PacketConn", "Error", "DeadlineExceeded",
           "ClosedError"]
