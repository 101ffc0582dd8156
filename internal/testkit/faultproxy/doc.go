// Package faultproxy is a loopback TCP proxy that a test puts between a
// client and a server to break the network between them on purpose: cut
// it, make it swallow traffic, or slow it down, and then heal it. A fault
// a test can switch on and off at a chosen moment shows what a client
// does when its server goes away, which killing the server cannot: the
// server, and its data, stay up.
//
//	p, err := faultproxy.New(redisAddr)
//	...
//	defer p.Close()
//	rdb := redis.NewClient(&redis.Options{Addr: p.Addr()})
//	p.Blackhole() // the client's next call times out
//	p.Heal()      // and a new connection works again
//
// # Modes
//
// The proxy is in one of three modes, and switches at any time, from any
// goroutine:
//
//   - Heal: bytes flow both ways, after the delay set by SetDelay.
//   - Cut: like a reset, which the peers notice at once. Every open
//     connection is reset (on both sides), and new ones are accepted and
//     reset straight away.
//   - Blackhole: like a partition where packets vanish, which the peers
//     notice only by a timeout. Connections stay open and new ones are
//     accepted, but no byte crosses, in either direction.
//
// A switch takes effect when the method returns, except for a chunk
// already past the proxy on its way out, which still arrives, as packets
// in flight would.
//
// # Blackhole
//
// A blackholed connection holds its bytes rather than dropping them: the
// proxy reads at most one chunk from each side and then stops reading, so
// the sender's kernel buffers fill and its writes block, as they would
// with no acknowledgements coming back. A connection accepted during a
// blackhole is not dialled through to the server at all.
//
// Heal resets every connection that lived through a blackhole, held bytes
// unsent. A partition long enough to matter breaks the TCP state on both
// ends, so delivering the held bytes late would show the client a network
// kinder than a real one; a reset is what the peer meets when it next
// speaks, and it lets the client reconnect. Connections made after Heal
// work.
//
// # Delay
//
// SetDelay adds latency to each chunk forwarded, in each direction: a
// request and its reply take at least twice the delay. A direction waits
// out the delay before it reads on, so a long stream of chunks slows by
// the delay per chunk; for request and reply traffic this is the same as
// latency.
//
// # Lifetime
//
// Close stops the proxy: it closes the listener and every connection and
// returns when every goroutine the proxy started has ended, so goleak
// finds none.
package faultproxy
