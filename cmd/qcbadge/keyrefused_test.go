package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

const wrongKey = "qc_wrong_SECRET7"

// starting runs qcbadge as the binary would, against a registry (a
// sandbox of its own, not the embedded one) that refuses its key, and
// returns the exit status once it exits, or -1 once it serves.
func starting(t *testing.T, args []string, kv ...string) (code int, stdout, stderr *testio.Buffer, srv *sandbox.Server, url string) {
	t.Helper()
	srv = sandbox.NewServer(t, sandbox.WithAPIKeys("the-right-key"))
	stdout, stderr = &testio.Buffer{}, &testio.Buffer{}
	env := envOf(append([]string{"QC_ADDR", "127.0.0.1:0", "QC_API_URL", srv.URL, "QC_API_KEY", wrongKey,
		"QC_VERIFY_HOST", widget.DefaultVerifyHost}, kv...)...)
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, args, env, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		<-exit
	})
	for deadline := time.Now().Add(timescale.Scale(20 * time.Second)); ; {
		select {
		case code := <-exit:
			exit <- code // for the cleanup
			return code, stdout, stderr, srv, ""
		default:
		}
		if _, rest, ok := strings.Cut(stdout.String(), `"msg":"qcbadge: serving",`); ok && strings.Contains(rest, "\n") {
			var logged struct{ URL string }
			line, _, _ := strings.Cut(rest, "\n")
			if err := json.Unmarshal([]byte("{"+line), &logged); err != nil {
				t.Fatalf("the serving line %q: %v", line, err)
			}
			return -1, stdout, stderr, srv, logged.URL
		}
		if time.Now().After(deadline) {
			t.Fatalf("qcbadge neither served nor exited within 20 s:\n%s\n%s", stdout, stderr)
		}
		time.Sleep(5 * time.Millisecond) // polling for a state, not synchronising
	}
}

// A registry that refuses qcbadge's key at start is a setting that
// cannot work: qcbadge exits 2 with one line naming the cause and the way
// to start anyway, and never the key.
func TestStartRefusedKeyExits2(t *testing.T) {
	code, _, stderr, _, _ := starting(t, nil)
	if code != 2 {
		t.Fatalf("exit %d with the key refused; want 2 (stderr: %s)", code, stderr)
	}
	msg := strings.TrimSuffix(stderr.String(), "\n")
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "refuses the API key") || !strings.Contains(msg, "-start-if-key-refused") {
		t.Errorf("stderr %q; want one line saying the registry refuses the API key, and the flag that starts anyway", msg)
	}
	if strings.Contains(msg, "SECRET7") {
		t.Errorf("stderr shows the key: %s", msg)
	}
}

// Told to start anyway, by the flag or its variable, qcbadge serves: its
// readiness fails naming the cause; the log says it once, as an ERROR,
// however many badges are asked for, with no WARN a fetch; and the
// registry is not asked again for each badge.
func TestStartRefusedKeyAnyway(t *testing.T) {
	for name, how := range map[string]struct {
		args []string
		env  []string
	}{
		"flag":     {args: []string{"-start-if-key-refused"}},
		"variable": {env: []string{"QC_START_IF_KEY_REFUSED", "true"}},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr, srv, url := starting(t, how.args, how.env...)
			if code != -1 {
				t.Fatalf("exit %d; want it serving (stderr: %s)", code, stderr)
			}
			base := strings.TrimSuffix(url, "/quality/")
			rcode, _, body := fetch(t, base+"/readyz")
			var r readiness
			if err := json.Unmarshal([]byte(body), &r); err != nil {
				t.Fatalf("/readyz: %v: %s", err, body)
			}
			if rcode != http.StatusServiceUnavailable || r.Ready || r.API.OK || !strings.Contains(r.API.Reason, "refuses the API key") {
				t.Errorf("/readyz %d %+v; want 503, the API check saying the registry refuses the key", rcode, r)
			}
			sb, err := sandbox.New()
			if err != nil {
				t.Fatal(err)
			}
			demo := sb.Demo()
			sb.Close()
			const views = 20
			for i := range views {
				if c, _, b := fetch(t, url+"badge/"+string(demo[i%len(demo)].GTIN)+".html"); c != http.StatusOK || !strings.Contains(b, "qcb-unknown") {
					t.Errorf("a badge with the key refused: %d %s; want the neutral one", c, b)
				}
			}
			// A dashboard sees it too: each badge's lookup, failed for the
			// key, whether sent or held back.
			if m := scrapeMetrics(t, &httptest.Server{URL: base}); m["qcbadge_cache_key_refused_total"] != views {
				t.Errorf("qcbadge_cache_key_refused_total %v; want %d, a lookup a badge", m["qcbadge_cache_key_refused_total"], views)
			}
			if n := srv.Requests(""); n != 1 {
				t.Errorf("%d calls reached the registry for a start and %d badges with the key refused; want 1", n, views)
			}
			log := stdout.String()
			if n := strings.Count(log, `"level":"ERROR"`); n != 1 || !strings.Contains(log, "refuses the API key") {
				t.Errorf("%d ERROR lines; want one saying the registry refuses the API key:\n%s", n, log)
			}
			// The follower's audit of the registry's log, at start, cannot
			// read the log's keys either, and says so once: not a fetch's.
			const audit = `"msg":"qcsdk/cache: the audit of the registry's log failed`
			if n, a := strings.Count(log, `"level":"WARN"`), strings.Count(log, audit); n != a || a > 1 {
				t.Errorf("%d WARN lines, %d of them the audit's; want none but the audit's at start:\n%s", n, a, log)
			}
			if strings.Contains(log+stderr.String(), "SECRET7") {
				t.Errorf("the output shows the key:\n%s\n%s", log, stderr)
			}
		})
	}
}
