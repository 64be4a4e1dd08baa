// The Go peers of gort's benchmarks: the same work, the same output
// (one line of key=value pairs on stdout), so that tools/bench can put
// the two side by side.
//
//	gobench pingpong N          two goroutines, unbuffered channels
//	gobench spawn N             spawn N goroutines that exit at once
//	gobench parked N            N goroutines blocked on a channel
//	gobench echo PORT           echo server
//	gobench stream PORT         writes 64 KiB chunks to every conn
//	gobench http PORT           HTTP/1.1 hello on raw net, keep-alive
//	gobench churn PORT N MS     echo that resets a read deadline of MS
//	                            per message; prints figures after N
//	                            conns ended (and exits, closing them)
//
// GOMAXPROCS is set by the caller in the environment.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gobench: bad number %q\n", s)
		os.Exit(2)
	}
	return n
}

func pingpong(n int) {
	ping := make(chan struct{})
	pong := make(chan struct{})
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			<-ping
			pong <- struct{}{}
		}
		close(done)
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- struct{}{}
		<-pong
	}
	d := time.Since(t0)
	<-done
	fmt.Printf("ns_per_roundtrip=%.1f procs=%d n=%d\n",
		float64(d.Nanoseconds())/float64(n), runtime.GOMAXPROCS(0), n)
}

func spawn(n int) {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	d := time.Since(t0)
	fmt.Printf("ns_per_spawn=%.1f n=%d\n",
		float64(d.Nanoseconds())/float64(n), n)
}

// statusBytes reads a field of /proc/self/status, in bytes.
func statusBytes(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			fs := strings.Fields(line[len(field)+1:])
			if len(fs) > 0 {
				kb, _ := strconv.ParseInt(fs[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return -1
}

func parked(n int) {
	rss0 := statusBytes("VmRSS")
	block := make(chan struct{})
	var started sync.WaitGroup
	t0 := time.Now()
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-block
		}()
	}
	started.Wait()
	time.Sleep(20 * time.Millisecond)
	d := time.Since(t0)
	rss := statusBytes("VmRSS")
	hwm := statusBytes("VmHWM")
	fmt.Printf("bytes_per_parked=%.1f rss_total=%d hwm_total=%d "+
		"rss_base=%d goroutines=%d ns_per_park=%.1f n=%d\n",
		float64(rss-rss0)/float64(n), rss, hwm, rss0,
		runtime.NumGoroutine(), float64(d.Nanoseconds())/float64(n), n)
	os.Exit(0)
}

func listen(port string) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gobench: %v\n", err)
		os.Exit(1)
	}
	return l
}

func serve(port string, handle func(net.Conn)) {
	l := listen(port)
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gobench: %v\n", err)
			os.Exit(1)
		}
		go handle(c)
	}
}

func echo(c net.Conn) {
	buf := make([]byte, 16384)
	for {
		n, err := c.Read(buf)
		if err != nil {
			c.Close()
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			c.Close()
			return
		}
	}
}

func stream(c net.Conn) {
	buf := make([]byte, 65536)
	for {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return
		}
	}
}

var httpReply = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" +
	"Content-Length: 13\r\n\r\nHello, World!")

// httpHello answers every complete request head in what it has read;
// wrk does not pipeline, but a request may arrive in pieces.
func httpHello(c net.Conn) {
	buf := make([]byte, 16384)
	have := 0
	for {
		n, err := c.Read(buf[have:])
		if err != nil {
			c.Close()
			return
		}
		have += n
		for {
			i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
			if i < 0 {
				break
			}
			if _, err := c.Write(httpReply); err != nil {
				c.Close()
				return
			}
			copy(buf, buf[i+4:have])
			have -= i + 4
		}
		if have == len(buf) {
			c.Close()
			return
		}
	}
}

type churnStats struct {
	mu      sync.Mutex
	late    []int64
	resets  int64
	resetNs int64
	ended   int
}

func churn(port string, nconns int, ms int) {
	l := listen(port)
	st := &churnStats{}
	done := make(chan struct{})
	d := time.Duration(ms) * time.Millisecond
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go churnConn(c, d, st, nconns, done)
		}
	}()
	<-done
	st.mu.Lock()
	sort.Slice(st.late, func(i, j int) bool {
		return st.late[i] < st.late[j]
	})
	pct := func(p float64) float64 {
		i := int(p * float64(len(st.late)-1))
		return float64(st.late[i]) / 1000.0
	}
	fmt.Printf("ns_per_reset=%.1f resets=%d late_p50_us=%.1f "+
		"late_p99_us=%.1f late_max_us=%.1f timeouts=%d\n",
		float64(st.resetNs)/float64(st.resets), st.resets, pct(0.5),
		pct(0.99), pct(1.0), len(st.late))
	st.mu.Unlock()
	os.Exit(0)
}

func churnConn(c net.Conn, d time.Duration, st *churnStats, nconns int,
	done chan struct{}) {
	buf := make([]byte, 512)
	var resets, resetNs int64
	late := int64(-1)
	for {
		t0 := time.Now()
		deadline := t0.Add(d)
		c.SetReadDeadline(deadline)
		resetNs += int64(time.Since(t0))
		resets++
		n, err := c.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			late = int64(time.Since(deadline))
		}
		if err != nil {
			break
		}
		if _, err := c.Write(buf[:n]); err != nil {
			break
		}
	}

	// The conn stays open until the report: ten thousand closes in a
	// row on the one P would delay the goroutines whose deadlines
	// fire after them, and the figure is about timers.
	st.mu.Lock()
	st.resets += resets
	st.resetNs += resetNs
	if late >= 0 {
		st.late = append(st.late, late)
	}
	st.ended++
	if st.ended == nconns {
		close(done)
	}
	st.mu.Unlock()
	<-done
}

func main() {
	a := os.Args
	if len(a) < 3 {
		fmt.Fprintln(os.Stderr, "usage: gobench MODE ARGS...")
		os.Exit(2)
	}
	switch a[1] {
	case "pingpong":
		pingpong(atoi(a[2]))
	case "spawn":
		spawn(atoi(a[2]))
	case "parked":
		parked(atoi(a[2]))
	case "echo":
		serve(a[2], echo)
	case "stream":
		serve(a[2], stream)
	case "http":
		serve(a[2], httpHello)
	case "churn":
		if len(a) != 5 {
			fmt.Fprintln(os.Stderr, "usage: gobench churn PORT N MS")
			os.Exit(2)
		}
		churn(a[2], atoi(a[3]), atoi(a[4]))
	default:
		fmt.Fprintf(os.Stderr, "gobench: unknown mode %q\n", a[1])
		os.Exit(2)
	}
}
