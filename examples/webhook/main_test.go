package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func status(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The whole loop on a laptop: the sandbox pushes a revocation, the
// receiver verifies and applies it, and a lookup shows it with no call to
// the API beyond the first.
func TestPushesReachTheStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out testio.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, &out, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v after its context ended", err)
		}
	}()
	self := testio.After(t, &out, "receiving pushes on ")
	self = strings.TrimSuffix(self, "/webhook")
	base := strings.SplitN(testio.After(t, &out, "sandbox API on "), ",", 2)[0]

	const gtin = "06910000100003"
	if v := status(t, self+"/status/"+gtin); v["commitment_status"] != "active" {
		t.Fatalf("before: %v", v)
	}
	resp, err := http.Post(base+"/_sandbox/commitments/cmt_0000001_1/status", "application/json", strings.NewReader(`{"status":"revoked"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timescale.Scale(10 * time.Second))
	for {
		v := status(t, self+"/status/"+gtin)
		if v["commitment_status"] == "revoked" && v["verdict"] == "withdrawn" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after the revocation the receiver still says %v", v)
		}
		<-tick.C // the push is on its way
	}

	// A forged push is refused, and says nothing of the secret.
	resp, err = http.Post(self+"/webhook", "application/json", strings.NewReader(`{"type":"commitment.revoked"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(b), "whsec_") {
		t.Errorf("an unsigned push: %d %q; want 401 and nothing about the secret", resp.StatusCode, b)
	}
}

func TestReceiverNeedsASecretForARealRegistry(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-api", "https://api.example.org"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-secret is required") {
		t.Errorf("run = %v", err)
	}
}
