package redisstore

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// New judges its options without touching Redis: an unreachable address
// is enough.
func unreachable(t *testing.T) redis.UniversalClient {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// A value out of range is an error from New, never the default in its
// place.
func TestOptionsOutOfRange(t *testing.T) {
	for name, opt := range map[string]Option{
		"timeout -1":  WithTimeout(-1),
		"timeout 0":   WithTimeout(0),
		"prefix \"\"": WithPrefix(""),
	} {
		if r, err := New(unreachable(t), opt); err == nil {
			r.Close()
			t.Errorf("New(%s) = nil error; want one", name)
		}
	}
}

// A nil clock is the real clock, and a nil logger logs nothing.
func TestNilIsTheDefault(t *testing.T) {
	r, err := New(unreachable(t), WithClock(nil), WithLogger(nil))
	if err != nil {
		t.Fatalf("New(WithClock(nil), WithLogger(nil)) = %v; want the defaults", err)
	}
	defer r.Close()
	if r.clock == nil || r.logger != nil {
		t.Fatalf("clock set %v, logger %v; want the real clock and no logger", r.clock != nil, r.logger)
	}
	if d := time.Since(r.clock()).Abs(); d > time.Minute {
		t.Errorf("the store's clock is %v off the real one", d)
	}
}

// must is the store a test builds with options it knows to be valid.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
