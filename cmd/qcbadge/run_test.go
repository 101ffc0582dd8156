package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// serving starts run as the binary would, on a free port, and returns
// its URL, its sandbox's, the exit status to come and the stop signal.
func serving(t *testing.T, out *testio.Buffer) (url, sandboxURL string, exit chan int, stop context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	exit = make(chan int, 1)
	go func() { exit <- run(ctx, nil, envOf("QC_ADDR", "127.0.0.1:0"), out, out) }()
	line := testio.After(t, out, `"msg":"qcbadge: serving",`)
	var logged struct{ URL, Sandbox string }
	if err := json.Unmarshal([]byte("{"+line), &logged); err != nil {
		t.Fatalf("the serving line %q: %v", line, err)
	}
	t.Cleanup(func() {
		cancel()
		<-exit
	})
	return logged.URL, logged.Sandbox, exit, cancel
}

// On SIGTERM qcbadge stops taking requests, finishes those in flight
// within the drain, and exits 0.
func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	var out testio.Buffer
	url, sb, exit, stop := serving(t, &out)
	// Hold the registry's answer to a cases page, so that the page is in
	// flight when the signal comes.
	put, _ := http.NewRequest(http.MethodPut, sb+"/_sandbox/faults", strings.NewReader(`{"faults":["latency=700ms GET /v1/cases"]}`))
	put.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("set the fault: %v %v", resp, err)
	}
	type answer struct {
		code int
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.Get(url + "cases")
		if err != nil {
			done <- answer{0, err}
			return
		}
		resp.Body.Close()
		done <- answer{resp.StatusCode, nil}
	}()
	// The page has reached the registry: it is in flight.
	for deadline := time.Now().Add(timescale.Scale(10 * time.Second)); ; {
		resp, err := http.Get(sb + "/_sandbox/stats")
		if err != nil {
			t.Fatal(err)
		}
		var stats struct{ Requests map[string]int }
		json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
		if stats.Requests["GET /v1/cases"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cases page never reached the registry")
		}
		time.Sleep(5 * time.Millisecond) // polling for a state, not synchronising
	}
	stop()
	a := <-done
	if a.err != nil || a.code != http.StatusOK {
		t.Errorf("the page in flight at shutdown: %d, %v; want it finished, 200", a.code, a.err)
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after SIGTERM; want 0", code)
	}
	exit <- 0 // for the cleanup
	for _, want := range []string{`"msg":"qcbadge: draining"`, `"msg":"qcbadge: stopped"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the log lacks %s:\n%s", want, out.String())
		}
	}
	if _, err := http.Get(url + "cases"); err == nil {
		t.Error("a request after shutdown was answered")
	}
}
