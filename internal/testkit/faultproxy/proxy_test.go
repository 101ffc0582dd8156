package faultproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// echo is a TCP server that writes back what it reads, and counts it.
type echo struct {
	ln       net.Listener
	received atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startEcho(t *testing.T) *echo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echo{ln: ln}
	e.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					e.received.Add(int64(n))
					if _, werr := c.Write(buf[:n]); err != nil || werr != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			_ = c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads it back, within 5 s.
func roundTrip(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(timescale.Scale(5 * time.Second)))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echoed " + string(buf) + ", want " + msg)
	}
	return nil
}

// waitConns waits (up to 5 s) until p has n connections open.
func waitConns(t *testing.T, p *Proxy, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timescale.Scale(5*time.Second))
	defer cancel()
	if err := p.WaitConns(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// readNothing asserts that nothing arrives on c within d: the read must
// end by its deadline.
func readNothing(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(make([]byte, 64))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes, %v; want nothing until the deadline", n, err)
	}
}

// readFails asserts that a read on c fails at once (within 5 s): closed or
// reset, not timed out, and with no data.
func readFails(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timescale.Scale(5 * time.Second)))
	n, err := c.Read(make([]byte, 64))
	if n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %d bytes, %v; want the connection closed or reset", n, err)
	}
}

func TestForwards(t *testing.T) {
	t.Parallel()
	e := startEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	a, b := dial(t, p.Addr()), dial(t, p.Addr())
	for _, msg := range []string{"hello", strings.Repeat("x", 100_000)} {
		if err := roundTrip(a, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := roundTrip(b, "world"); err != nil {
		t.Fatal(err)
	}
	if n := p.Conns(); n != 2 {
		t.Errorf("Conns: %d, want 2", n)
	}
	// A client's close goes through to the server, whose close comes
	// back: the proxy forgets the connection.
	_ = a.Close()
	waitConns(t, p, 1)
	_ = b.Close()
	waitConns(t, p, 0)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.WaitConns(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitConns with a done context: %v, want context.Canceled", err)
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	e := startEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	live := dial(t, p.Addr())
	if err := roundTrip(live, "before"); err != nil {
		t.Fatal(err)
	}

	p.Cut()
	readFails(t, live)
	if n := p.Conns(); n != 0 {
		t.Errorf("Conns after Cut: %d, want 0", n)
	}
	// A new connection is accepted and reset: so quickly, at times, that
	// the dial itself reports the reset.
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		defer c.Close()
		readFails(t, c)
	}

	p.Heal()
	if err := roundTrip(dial(t, p.Addr()), "after"); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
}

func TestBlackhole(t *testing.T) {
	t.Parallel()
	e := startEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	old := dial(t, p.Addr())
	if err := roundTrip(old, "before"); err != nil {
		t.Fatal(err)
	}
	received := e.received.Load()

	p.Blackhole()
	if _, err := io.WriteString(old, "lost"); err != nil {
		t.Fatal(err)
	}
	readNothing(t, old, 200*time.Millisecond)
	// A new connection is accepted, and swallowed too.
	during := dial(t, p.Addr())
	if _, err := io.WriteString(during, "lost too"); err != nil {
		t.Fatal(err)
	}
	readNothing(t, during, 100*time.Millisecond)
	waitConns(t, p, 2) // both held open
	if got := e.received.Load(); got != received {
		t.Errorf("the server received %d bytes in the blackhole, want 0", got-received)
	}

	p.Heal()
	// What lived through the blackhole is reset, its held bytes unsent.
	readFails(t, old)
	readFails(t, during)
	if err := roundTrip(dial(t, p.Addr()), "after"); err != nil {
		t.Fatalf("after Heal: %v", err)
	}
	if got, want := e.received.Load(), received+int64(len("after")); got != want {
		t.Errorf("the server received %d bytes in all, want %d: the held bytes were delivered", got, want)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	e := startEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p.Addr())
	const d = 50 * time.Millisecond
	p.SetDelay(d)
	start := time.Now()
	if err := roundTrip(c, "slow"); err != nil {
		t.Fatal(err)
	}
	// Each direction waits d: a round trip at least twice.
	if rtt := time.Since(start); rtt < 2*d {
		t.Errorf("round trip %v with delay %v, want at least %v", rtt, d, 2*d)
	}
	p.SetDelay(0)
	if err := roundTrip(c, "fast"); err != nil {
		t.Fatal(err)
	}
}

// A delay is the link's latency, not a cap on its bandwidth: a message
// of many chunks arrives about one delay after it was sent, as over a
// real network some milliseconds away, not one delay per chunk — which
// made a pipeline of a hundred Redis writes look like a Redis down.
func TestDelayIsLatencyNotBandwidth(t *testing.T) {
	t.Parallel()
	e := startEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p.Addr())
	const d = 50 * time.Millisecond
	p.SetDelay(d)
	// 40 chunks of the proxy's 32 KiB buffer at least: one delay each
	// way per chunk would take 4 s.
	msg := strings.Repeat("x", 40*32<<10)
	_ = c.SetDeadline(time.Now().Add(timescale.Scale(10 * time.Second)))
	start := time.Now()
	wrote := make(chan error, 1)
	go func() { _, err := io.WriteString(c, msg); wrote <- err }()
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	rtt := time.Since(start)
	if rtt < 2*d {
		t.Errorf("round trip %v with delay %v, want at least %v", rtt, d, 2*d)
	}
	if limit := timescale.Scale(20 * d); rtt > limit {
		t.Errorf("round trip of %d KiB took %v with a delay of %v; want well under %v, about two delays", len(msg)>>10, rtt, d, limit)
	}
}

// TestCloseWaits runs alone (not parallel), so that the goroutines it
// counts are this proxy's.
func TestCloseWaits(t *testing.T) {
	// A target that never accepts: the kernel completes the dials, so the
	// proxy's links are up with no server goroutine in the picture.
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	p, err := New(target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p.SetDelay(time.Hour)
	waiting := dial(t, p.Addr()) // a chunk in its delay
	if _, err := io.WriteString(waiting, "x"); err != nil {
		t.Fatal(err)
	}
	dial(t, p.Addr()) // idle
	waitConns(t, p, 2)
	p.Blackhole()
	held := dial(t, p.Addr()) // waiting at the gate, never dialled through
	if _, err := io.WriteString(held, "y"); err != nil {
		t.Fatal(err)
	}
	waitConns(t, p, 3)

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Close has returned: no goroutine of the proxy may be left, now, not
	// eventually.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "faultproxy.(*Proxy)") {
		t.Errorf("goroutines of the proxy outlive Close:\n%s", stacks)
	}
	readFails(t, waiting)
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
