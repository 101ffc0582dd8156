// Package redistest runs throwaway redis-server processes for tests: one
// server (Start), or a Redis Cluster of masters and replicas
// (StartCluster) that a test can kill nodes of and watch fail over.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
)

// Server is a redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	port int

	mu   sync.Mutex
	proc *process // nil when not running
}

// Start starts redis-server (the binary named by QCSDK_REDIS_SERVER, or
// redis-server on PATH) on a free loopback port, waits up to 10 s until it
// answers PING, and stops it when the test ends. Without the binary the
// test is skipped, or fails when QCSDK_CI=1.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: lookBin(t, "QCSDK_REDIS_SERVER", "redis-server")}
	t.Cleanup(s.stop)
	onFreePorts(t, 1, func(ports []int) error {
		s.port = ports[0]
		return s.tryStart()
	})
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return loopback(s.port) }

// Kill stops the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
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
	p, err := startProcess(s.bin, s.Addr(), "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	s.proc = p
	return err
}

func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop()
		s.proc = nil
	}
}

// lookBin finds the program named by the environment variable env, or
// name on PATH. Without it the test is skipped, or fails when QCSDK_CI=1:
// CI must not pass by skipping the suites that need a real server.
func lookBin(t testing.TB, env, name string) string {
	t.Helper()
	bin := os.Getenv(env)
	if bin == "" {
		bin = name
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("QCSDK_CI") == "1" {
			t.Fatalf("%s not found (QCSDK_CI=1): apt-get install redis-server, or set %s", bin, env)
		}
		t.Skipf("%s not found; apt-get install redis-server, or run under CI", bin)
	}
	return p
}

// process is one run of a redis program. Its output is kept, so that a
// failure can say what the server said last.
type process struct {
	cmd *exec.Cmd
	out *testio.Buffer
	// done is closed when cmd has been waited for.
	done chan struct{}
}

// startProcess runs bin with args and waits up to 10 s until addr answers
// PING. On failure nothing is left running and the process is nil.
func startProcess(bin, addr string, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(bin, args...), out: new(testio.Buffer), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("redistest: start %s: %w", bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err := do(addr, "PING"); err == nil && r == "PONG" {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("redistest: redis-server exited before answering PING (%s): %s", addr, p.lastLines())
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("redistest: redis-server on %s did not answer PING within 10s: %s", addr, p.lastLines())
		}
		time.Sleep(20 * time.Millisecond) // polling a process we do not control
	}
}

// kill stops the process with SIGKILL and waits for it to exit.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop asks the process to shut down, and kills it if it has not within
// 10 s.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

func (p *process) lastLines() string { return lastLines(p.out.String()) }

// do sends one command to addr on a fresh connection and returns the
// reply: a simple or bulk string as it is, an integer in decimal. An error
// reply is returned as an error; arrays are not understood (the commands
// this package sends do not need them). A fresh connection per command
// keeps a dead or restarted node from poisoning the next call.
func do(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	req := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		req += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("redistest: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redistest: %s: %s", args[0], line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("redistest: %s: reply %q", args[0], line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redistest: %s: unexpected reply %q", args[0], line)
}

// onFreePorts calls start with n free ports until it succeeds, a few
// times: a port can be taken by another process between our probe and
// redis-server's bind.
func onFreePorts(t testing.TB, n int, start func(ports []int) error) {
	t.Helper()
	var err error
	for range 5 {
		if err = start(freePorts(t, n)); err == nil {
			return
		}
	}
	t.Fatal(err)
}

// freePorts returns n distinct loopback ports that were free a moment ago:
// all are held open together, so that none is handed out twice.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(fmt.Errorf("redistest: free port: %w", err))
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}
