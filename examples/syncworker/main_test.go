package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/redistest"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The fleet of one the worker's output describes: a web server's cache on
// the same Redis sees a revocation without asking the API.
func TestWorkerKeepsAWebServersCacheCurrent(t *testing.T) {
	rs := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out testio.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-redis", rs.Addr()}, &out, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v after its context ended", err)
		}
	}()

	// The sandbox's address, from the worker's output.
	base := testio.After(t, &out, "sandbox API on ")

	// A web server: its cache on a memory tier in front of the same Redis.
	api, err := client.New(client.WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	shared, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	mem, err := cache.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	tiered, err := cache.NewTiered(mem, shared)
	if err != nil {
		t.Fatal(err)
	}
	defer tiered.Close()
	qc, err := cache.New(api, cache.WithStore(tiered))
	if err != nil {
		t.Fatal(err)
	}
	defer qc.Close()

	const gtin = "06910000100003" // the sandbox's first demo product: committed
	a, err := qc.Status(ctx, client.ProductKey{GTIN: gtin})
	st := a.Status
	if err != nil || st.Commitment == nil || st.Commitment.Status != client.CommitmentActive {
		t.Fatalf("before: %+v, %v", st, err)
	}
	// The regulator revokes it (the sandbox's operator API).
	resp, err := http.Post(base+"/_sandbox/commitments/"+st.Commitment.ID+"/status", "application/json",
		strings.NewReader(`{"status":"revoked"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for {
		a, err := qc.Status(ctx, client.ProductKey{GTIN: gtin})
		if err == nil && a.Status.Commitment.Status == client.CommitmentRevoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the web server still shows %+v, %v 10s after the revocation", a.Status, err)
		}
		<-tick.C // a page view every 5 ms, until the change shows
	}
	// The revocation came through Redis as a stamp of the maker: the web
	// server asks the API about the product once more, and no more.
	if n := qc.Stats().Upstream; n != 2 {
		t.Errorf("the web server asked the API %d times; want 2 (before, and once after the change)", n)
	}
}

func TestWorkerNeedsRedis(t *testing.T) {
	err := run(context.Background(), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-redis is required") {
		t.Errorf("run without -redis = %v", err)
	}
}
