package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

type mode int

const (
	healed mode = iota
	cut
	blackholed
)

// Proxy forwards the connections it accepts on a loopback port to a target
// address, with the faults its mode says. It is safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // every goroutine the proxy starts

	mu    sync.Mutex
	mode  mode
	delay time.Duration
	gate  chan struct{} // closed unless blackholed: a chunk waits on it
	links map[*link]struct{}
	// linksChanged is closed, and replaced, when a link is added or
	// dropped: WaitConns waits on it.
	linksChanged chan struct{}
	closed       bool
}

// link is one proxied connection: the client's, and the one dialled to
// the target for it.
type link struct {
	client net.Conn
	target net.Conn // nil until dialled; set under Proxy.mu
	// ctx is cancelled when the link is dropped: it stops a dial, a
	// delay, or a wait at the gate.
	ctx    context.Context
	cancel context.CancelFunc
}

// New starts a proxy on 127.0.0.1 (a free port) that forwards to target,
// healed and without delay. Nothing is dialled until a client connects, so
// target need not be up yet.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	gate := make(chan struct{})
	close(gate)
	p := &Proxy{target: target, ln: ln, gate: gate, links: map[*link]struct{}{}, linksChanged: make(chan struct{})}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is host:port for clients to dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Conns is the number of client connections open through the proxy,
// including those held by a blackhole.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// WaitConns returns when exactly n client connections are open through
// the proxy (see Conns), or with an error when ctx is done first. A client
// has connected when the proxy has accepted it, which is after its dial
// returns: so a test waits here, for instance for a client to reconnect
// after a fault.
func (p *Proxy) WaitConns(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		have, changed := len(p.links), p.linksChanged
		p.mu.Unlock()
		if have == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("faultproxy: %d connections open, waiting for %d: %w", have, n, ctx.Err())
		}
	}
}

// Heal lets bytes flow again. Connections that lived through a blackhole
// are reset first (see the package documentation).
func (p *Proxy) Heal() { p.setMode(healed) }

// Cut resets every open connection, and every new one as soon as it is
// accepted, until Heal.
func (p *Proxy) Cut() { p.setMode(cut) }

// Blackhole stops every byte, in both directions, on open connections and
// on new ones, which are accepted, until Heal.
func (p *Proxy) Blackhole() { p.setMode(blackholed) }

// SetDelay makes each chunk forwarded from now on, in each direction, wait
// d first. Zero means no delay.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = max(d, 0)
}

// Close stops accepting, closes every connection, and returns when every
// goroutine of the proxy has ended. It returns the listener's close error;
// closing twice returns nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for l := range p.links {
		p.dropLocked(l, false)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) setMode(m mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == m {
		return
	}
	was := p.mode
	p.mode = m
	if m == cut || was == blackholed { // leaving a blackhole, every open link lived through it
		for l := range p.links {
			p.dropLocked(l, true)
		}
	}
	switch {
	case m == blackholed:
		p.gate = make(chan struct{})
	case was == blackholed:
		close(p.gate) // after the drops: no held chunk gets through
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed; on loopback nothing else is worth retrying
		}
		p.mu.Lock()
		switch {
		case p.closed:
			_ = c.Close()
		case p.mode == cut:
			reset(c)
		default:
			ctx, cancel := context.WithCancel(context.Background())
			l := &link{client: c, ctx: ctx, cancel: cancel}
			p.links[l] = struct{}{}
			p.linksChangedLocked()
			p.wg.Go(func() { p.serve(l) })
		}
		p.mu.Unlock()
	}
}

// serve dials the target for l, once the gate is open, and copies both
// ways until both sides are done or the link is dropped.
func (p *Proxy) serve(l *link) {
	defer p.drop(l)
	if p.waitGate(l) != nil {
		return
	}
	var d net.Dialer
	t, err := d.DialContext(l.ctx, "tcp", p.target)
	if err != nil {
		return // the client sees its connection closed, as if refused
	}
	if !p.attach(l, t) {
		_ = t.Close()
		return
	}
	up := make(chan struct{})
	p.wg.Go(func() { defer close(up); p.pump(l, t, l.client) })
	p.pump(l, l.client, t)
	<-up
}

// attach records t as l's target connection, unless l has been dropped.
func (p *Proxy) attach(l *link, t net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.ctx.Err() != nil {
		return false
	}
	l.target = t
	return true
}

// pump copies src to dst, each chunk passing the delay and the gate. At
// src's end it half-closes dst, so that the other direction can finish;
// on any other error it drops the link, which ends the other direction
// too.
//
// The delay is latency, not bandwidth: src is read on while earlier
// chunks wait, and each chunk is due one delay after it was read, as
// over a network that far away. (Waiting the delay per chunk, one after
// another, would make a large message cost one delay per 32 KiB.)
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	chunks := make(chan chunk, 64)
	p.wg.Go(func() {
		defer close(chunks)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				b := make([]byte, n) // its own, as it waits while reading goes on
				copy(b, buf[:n])
				select {
				case chunks <- chunk{b, time.Now().Add(p.currentDelay())}:
				case <-l.ctx.Done():
					return
				}
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				p.drop(l)
				return
			}
		}
	})
	for c := range chunks {
		if p.pass(l, c.due) != nil {
			return
		}
		if _, werr := dst.Write(c.b); werr != nil {
			p.drop(l)
			return
		}
	}
	if l.ctx.Err() != nil {
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func (p *Proxy) currentDelay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delay
}

// pass waits until a chunk is due, then at the gate. The delay comes
// first, so a blackhole that starts during it still holds the chunk.
func (p *Proxy) pass(l *link, due time.Time) error {
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-l.ctx.Done():
			return l.ctx.Err()
		}
	}
	return p.waitGate(l)
}

// waitGate returns when bytes may flow, or with an error when l is
// dropped first. A link that waits here through a blackhole is dropped
// before the gate opens.
func (p *Proxy) waitGate(l *link) error {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
		return l.ctx.Err() // dropped and opened together: stay dropped
	case <-l.ctx.Done():
		return l.ctx.Err()
	}
}

func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked(l, false)
}

// dropLocked closes both of l's connections, resetting them when hard,
// and forgets l. Dropping twice does nothing.
func (p *Proxy) dropLocked(l *link, hard bool) {
	if _, ok := p.links[l]; !ok {
		return
	}
	delete(p.links, l)
	p.linksChangedLocked()
	l.cancel()
	for _, c := range []net.Conn{l.client, l.target} {
		switch {
		case c == nil:
		case hard:
			reset(c)
		default:
			_ = c.Close()
		}
	}
}

func (p *Proxy) linksChangedLocked() {
	close(p.linksChanged)
	p.linksChanged = make(chan struct{})
}

// reset closes c with an RST rather than a FIN: the peer's next read or
// write fails at once, as after a reset on the network.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
