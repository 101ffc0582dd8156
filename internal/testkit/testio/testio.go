// Package testio holds output helpers the tests of several packages share.
package testio

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that a program (or a logger) writes while the
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// After waits (up to 10 s) until out holds a whole line with marker, and
// returns what follows marker on it: a program prints its address when it
// is ready.
func After(t testing.TB, out *Buffer, marker string) string {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, rest, ok := strings.Cut(out.String(), marker); ok && strings.Contains(rest, "\n") {
			return strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output within 10s: %s", marker, out.String())
		}
		<-tick.C
	}
}
