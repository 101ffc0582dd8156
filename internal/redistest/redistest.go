// Package redistest runs a throwaway redis-server for tests.
package redistest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
	// done is closed when cmd has been waited for.
	done chan struct{}
}

// Start starts redis-server (the binary named by QCSDK_REDIS_SERVER, or
// redis-server on PATH) on a free loopback port, waits up to 10 s until it
// answers PING, and stops it when the test ends. Without the binary the
// test is skipped, or fails when QCSDK_CI=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("QCSDK_REDIS_SERVER")
	if bin == "" {
		bin = "redis-server"
	}
	{
		p, err := exec.LookPath(bin)
		if err != nil {
			if os.Getenv("QCSDK_CI") == "1" {
				t.Fatal("redis-server not found (QCSDK_CI=1): apt-get install redis-server")
			}
			t.Skip("redis-server not found; apt-get install redis-server, or run under CI")
		}
		bin = p
	}
	s := &Server{t: t, bin: bin}
	t.Cleanup(s.stop)
	// A free port can be taken by another process between our probe and
	// redis-server's bind: try a few.
	var err error
	for range 5 {
		s.port = freePort(t)
		if err = s.tryStart(); err == nil {
			return s
		}
	}
	t.Fatal(err)
	return nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Kill stops the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on the same port (killing it first if it
// still runs), and waits until it answers PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) tryStart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(s.Addr()) {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("redistest: redis-server exited before answering PING (port %d): %s", s.port, lastLines(out.String()))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			s.cmd = nil
			return fmt.Errorf("redistest: redis-server on port %d did not answer PING within 10s", s.port)
		}
		time.Sleep(20 * time.Millisecond) // polling a process we do not control
	}
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// ping sends an inline PING and reports whether +PONG came back.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	buf := make([]byte, 7)
	n, _ := c.Read(buf)
	return n >= 5 && string(buf[:5]) == "+PONG"
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(fmt.Errorf("redistest: free port: %w", err))
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
