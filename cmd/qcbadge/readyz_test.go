package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// readinessBudget is how long /readyz may take: a quarter of the common
// orchestrators' default probe timeout (1 s).
var readinessBudget = timescale.Scale(250 * time.Millisecond)

// blackhole is a TCP server that accepts connections and never answers:
// a Redis behind a dead route, or a frozen one.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// readyzOnce asks /readyz once, and says how long it took.
func readyzOnce(t *testing.T, url string) (int, readiness, time.Duration) {
	t.Helper()
	start := time.Now()
	code, h, body := fetch(t, url+"/readyz")
	took := time.Since(start)
	var r readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("/readyz is not its JSON: %v: %s", err, body)
	}
	validate(t, url+"/readyz", code, h, body)
	return code, r, took
}

// With Redis blackholed, readiness still answers at once, from what the
// checks in the background last found, with a reason for each check: an
// orchestrator's probe never times out on it.
func TestReadinessIsBoundedWithRedisBlackholed(t *testing.T) {
	_, hs := newTestService(t, "QC_REDIS_URL", "redis://"+blackhole(t)+"/0")
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for {
		code, r, took := readyzOnce(t, hs.URL)
		if took > readinessBudget {
			t.Errorf("/readyz took %v with Redis blackholed; want at most %v", took, readinessBudget)
		}
		if code != http.StatusServiceUnavailable || r.Ready || r.Redis.OK {
			t.Fatalf("/readyz with Redis blackholed: %d %+v; want 503, not ready", code, r)
		}
		for name, c := range map[string]check{"api": r.API, "redis": r.Redis, "follower": r.Follower} {
			if c.Reason == "" {
				t.Errorf("the %s check gives no reason: %+v", name, r)
			}
		}
		if strings.Contains(r.Redis.Reason, "unreachable") {
			break // the background check has found it
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Redis check never said unreachable within 10 s: %+v", r)
		}
		time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
	}
}

// With the registry holding its answers for 10 s, readiness still answers
// at once, and says the registry is unreachable once the background check
// has given up on it.
func TestReadinessIsBoundedWithTheRegistrySilent(t *testing.T) {
	s, hs := newTestService(t)
	ready(t, hs)
	post(t, http.MethodPut, s.sandboxURL+"/_sandbox/faults", `{"faults":["latency=10s GET /v1/changes"]}`)
	deadline := time.Now().Add(timescale.Scale(20 * time.Second))
	for {
		code, r, took := readyzOnce(t, hs.URL)
		if took > readinessBudget {
			t.Errorf("/readyz took %v with the registry silent; want at most %v", took, readinessBudget)
		}
		if !r.API.OK {
			if code != http.StatusServiceUnavailable || !strings.Contains(r.API.Reason, "unreachable") {
				t.Errorf("the registry silent: %d %+v; want 503 and the API check saying unreachable", code, r)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API check still ok 20 s after the registry went silent: %+v", r)
		}
		time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
	}
}

// Readiness says true and false as JSON booleans, and a reason for each
// check, ready or not.
func TestReadinessSaysWhyForEachCheck(t *testing.T) {
	_, hs := newTestService(t)
	r := ready(t, hs)
	if !r.Ready || !r.API.OK || !r.Redis.OK || !r.Follower.OK {
		t.Errorf("ready with %+v", r)
	}
	if r.API.Reason == "" || r.Redis.Reason != "off: memory only" || r.Follower.Reason != "caught up" {
		t.Errorf("the reasons of a ready replica: %+v", r)
	}
	_, _, body := fetch(t, hs.URL+"/readyz")
	if !strings.Contains(body, `"ready":true`) {
		t.Errorf("/readyz: %s; want ready as a JSON boolean", body)
	}
}

// The registry refusing the key is said as such: the registry answers,
// and the fix is the key, not the network.
func TestReadinessSaysTheKeyIsRefused(t *testing.T) {
	s, hs := newTestService(t)
	ready(t, hs)
	post(t, http.MethodPut, s.sandboxURL+"/_sandbox/faults", `{"faults":["error=401 GET /v1/changes"]}`)
	deadline := time.Now().Add(timescale.Scale(20 * time.Second))
	for {
		code, r, took := readyzOnce(t, hs.URL)
		if took > readinessBudget {
			t.Errorf("/readyz took %v; want at most %v", took, readinessBudget)
		}
		if !r.API.OK {
			if code != http.StatusServiceUnavailable || !strings.Contains(r.API.Reason, "refuses the API key") {
				t.Errorf("the key refused: %d %+v; want 503 and the API check saying the key is refused", code, r)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API check still ok 20 s after the registry began refusing the key: %+v", r)
		}
		time.Sleep(50 * time.Millisecond) // polling for a state, not synchronising
	}
}

// The registry's rate limit does not make a replica unready: the registry
// answers, the quota recovers by itself, and a fleet taken out of service
// for it would not even serve its cache.
func TestReadinessThroughTheRateLimit(t *testing.T) {
	s, hs := newTestService(t)
	ready(t, hs)
	post(t, http.MethodPut, s.sandboxURL+"/_sandbox/faults", `{"faults":["rate_limit=1s GET /v1/changes"]}`)
	deadline := time.Now().Add(timescale.Scale(20 * time.Second))
	for {
		code, r, _ := readyzOnce(t, hs.URL)
		if r.API.Reason != "answers" {
			if code != http.StatusOK || !r.API.OK || !strings.Contains(r.API.Reason, "rate limit") {
				t.Errorf("rate-limited: %d %+v; want ready, the API check saying the rate limit holds calls back", code, r)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API check never saw the rate limit within 20 s: %+v", r)
		}
		time.Sleep(50 * time.Millisecond) // polling for a state, not synchronising
	}
}
