package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisFault is the state of the Redis tier a page run is measured with:
// none (memory only), or a Redis tier that is fresh and empty, slowed,
// down or blackholed.
type redisFault struct {
	kind  string // "", "empty", "delay", "down" or "blackhole"
	delay time.Duration
}

func (f *redisFault) String() string {
	if f.kind == "delay" {
		return "delay=" + f.delay.String()
	}
	return f.kind
}

func (f *redisFault) Set(s string) error {
	kind, param, hasParam := strings.Cut(s, "=")
	switch {
	case (kind == "empty" || kind == "down" || kind == "blackhole") && !hasParam:
		*f = redisFault{kind: kind}
	case kind == "delay" && hasParam:
		d, err := time.ParseDuration(param)
		if err != nil || d <= 0 {
			return fmt.Errorf("redis fault %q: delay must be a positive duration", s)
		}
		*f = redisFault{kind: kind, delay: d}
	default:
		return fmt.Errorf("redis fault %q is not empty, delay=DURATION, down or blackhole", s)
	}
	return nil
}

// needsServer reports whether the fault needs a redis-server running:
// all but down, whose Redis is a port nothing listens on.
func (f redisFault) needsServer() bool { return f.kind != "" && f.kind != "down" }

// findRedisServer resolves the redis-server to run: -redis-server, else
// QCSDK_REDIS_SERVER, else redis-server on PATH.
func findRedisServer(flagValue string) (string, error) {
	bin, from := flagValue, "-redis-server"
	if bin == "" {
		bin, from = os.Getenv("QCSDK_REDIS_SERVER"), "QCSDK_REDIS_SERVER"
	}
	if bin == "" {
		bin, from = "redis-server", "PATH"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("the Redis scenarios run a redis-server of their own, and %q (from %s) is not one: install redis-server (apt-get install redis-server), or name the binary with -redis-server PATH or QCSDK_REDIS_SERVER: %w", bin, from, err)
	}
	return p, nil
}

// redisServer is a redis-server process qcload runs for one scenario, on
// a loopback port, in a directory of its own that stop removes.
type redisServer struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been waited for
}

// startRedis runs bin on a free loopback port, with nothing saved to
// disk, and returns once it answers PING (within 10 s). A port taken by
// someone else between our probe and the server's bind is retried on
// another, a few times.
func startRedis(ctx context.Context, bin string) (*redisServer, error) {
	var err error
	for range 5 {
		var s *redisServer
		if s, err = tryStartRedis(ctx, bin); err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

func tryStartRedis(ctx context.Context, bin string) (s *redisServer, err error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "qcload-redis-")
	if err != nil {
		return nil, err
	}
	s = &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	logFile := filepath.Join(dir, "redis.log")
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", logFile)
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	defer func() {
		if err != nil {
			s.stop()
		}
	}()

	rdb := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		perr := rdb.Ping(pctx).Err()
		cancel()
		if perr == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("redis-server on %s exited before answering PING: %s", s.addr, lastLines(logFile))
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s: %s", s.addr, lastLines(logFile))
		}
		time.Sleep(20 * time.Millisecond) // polling a process that tells us nothing when it is ready
	}
}

// stop shuts the server down (SIGKILL if SIGTERM has not within 5 s),
// and removes its directory. It is idempotent.
func (s *redisServer) stop() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	_ = os.RemoveAll(s.dir)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// closedAddr is a loopback address nothing listens on: a free port, let
// go at once. Another process could take it meanwhile; on loopback, in
// the few seconds of a run, that is unlikely enough.
func closedAddr() (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

func lastLines(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// redisInfo reads one integer field of the server's INFO section.
func redisInfo(ctx context.Context, rdb *redis.Client, section, field string) (int64, error) {
	s, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO " + section + " has no " + field)
}
