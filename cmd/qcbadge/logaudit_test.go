package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
)

// sandboxLog is what the service's embedded sandbox says of its log: its
// keys, as /v1/keys lists them, and its checkpoint's size now.
func sandboxLog(t *testing.T, s *service) ([]client.LogKey, int64) {
	t.Helper()
	api, err := client.New(client.WithBaseURL(s.sandboxURL))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	keys, _, err := api.Log.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := api.Log.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := client.VerifyCheckpoint(b, "", keys, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return keys, cp.Size
}

// audited waits until the follower has verified the registry's log as
// it stands, so that no audit runs until the registry changes again.
func audited(t *testing.T, s *service, hs *httptest.Server) {
	t.Helper()
	_, size := sandboxLog(t, s)
	until(t, hs, "an audit of the log as it stands", func(m scrape) bool {
		return m["qcbadge_log_verified_size"] == float64(size)
	})
}

// checkpointOf polls the service's checkpoint route until it answers 200.
func checkpointOf(t *testing.T, url string) (http.Header, string) {
	t.Helper()
	deadline := time.Now().Add(timescale.Scale(20 * time.Second))
	for {
		code, h, body := fetch(t, url)
		if code == http.StatusOK {
			validate(t, url, code, h, body)
			return h, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %s, 20 s on", url, code, body)
		}
		time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
	}
}

// A platform's qcbadge serves the checkpoint its follower verified, with
// the registry's signature and the platform's own, for others to witness:
// it verifies with the registry's keys and with the platform's verifier
// key, and the signer key is nowhere in the log.
func TestTheVerifiedCheckpointIsServedCosigned(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "shop.example/qcbadge")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cosign-key")
	if err := os.WriteFile(file, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out testio.Buffer
	s, hs := newTestServiceWith(t, nil, slog.New(slog.NewJSONHandler(&out, nil)), "QC_LOG_COSIGN_KEY_FILE", file)
	ready(t, hs)
	audited(t, s, hs)

	url := hs.URL + "/quality/log/checkpoint"
	h, body := checkpointOf(t, url)
	if ct, cc := h.Get("Content-Type"), h.Get("Cache-Control"); ct != "text/plain; charset=utf-8" || !strings.Contains(cc, "max-age=") {
		t.Errorf("Content-Type %q, Cache-Control %q; want text/plain; charset=utf-8 and a short max-age", ct, cc)
	}
	keys, size := sandboxLog(t, s)
	cp, err := client.VerifyCheckpoint([]byte(body), "", keys, time.Now())
	if err != nil {
		t.Fatalf("the served checkpoint does not verify with the registry's keys: %v\n%s", err, body)
	}
	if cp.Size != size {
		t.Errorf("the served checkpoint is of %d changes; the registry's of %d", cp.Size, size)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open([]byte(body), note.VerifierList(v)); err != nil {
		t.Errorf("the served checkpoint does not verify with the platform's key %s: %v\n%s", v.Name(), err, body)
	}
	// With the embedded sandbox, its keys are pinned: neither the
	// follower nor the route asked the registry for them.
	for series := range scrapeMetrics(t, hs).family("qcbadge_upstream_request_duration_seconds_count") {
		if strings.Contains(series, `operation="listLogKeys"`) {
			t.Errorf("the sandbox's keys were read from its API, not pinned: %s", series)
		}
	}
	if strings.Contains(out.String(), skey) || strings.Contains(out.String(), strings.Split(skey, "+")[4]) {
		t.Errorf("the log holds the cosigning key:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `"name":"shop.example/qcbadge"`) {
		t.Errorf("the log does not say which name qcbadge cosigns as:\n%s", out.String())
	}
}

// Before the follower has verified a checkpoint, the route says so as
// qcbadge's other refusals do; a method other than GET is refused.
func TestNoCheckpointVerifiedYet(t *testing.T) {
	_, hs := newTestServiceWith(t, func(c *config) { c.logEvery = -1 }, discardLog())
	ready(t, hs)
	url := hs.URL + "/quality/log/checkpoint"
	code, h, body := fetch(t, url)
	if code != http.StatusServiceUnavailable || h.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, `"code":"unavailable"`) {
		t.Errorf("with no audit: %d %s %s; want 503, a problem saying unavailable", code, h.Get("Content-Type"), body)
	}
	validate(t, url, code, h, body)
	resp, err := http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d, Allow %q; want 405, GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// The registry shows another platform (the witness, with an API key of
// its own) a history of its own. At the next change, the follower finds
// the witness's checkpoint and the registry's cannot both be the log's:
// it logs the fork once at ERROR, the replica is not ready and says why,
// qcbadge_log_forked is 1, and a badge that was committed is the neutral
// one.
func TestAWitnesssForkedViewTakesTheReplicaOutOfService(t *testing.T) {
	var sbURL atomic.Value
	witness := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		base, _ := sbURL.Load().(string)
		if base == "" {
			http.Error(rw, "not yet", http.StatusServiceUnavailable)
			return
		}
		api, err := client.New(client.WithBaseURL(base), client.WithAPIKey("witness-platform"))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		defer api.CloseIdleConnections()
		b, _, err := api.Log.Checkpoint(r.Context())
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rw.Write(b)
	}))
	defer witness.Close()

	var out testio.Buffer
	// Each change is audited: the default waits 5 s between audits.
	s, hs := newTestServiceWith(t, func(c *config) { c.logEvery = time.Millisecond },
		slog.New(slog.NewJSONHandler(&out, nil)), "QC_LOG_WITNESSES", witness.URL+"/quality/log/checkpoint")
	ready(t, hs)
	sbURL.Store(s.sandboxURL)
	audited(t, s, hs)

	var committed, other client.GTIN
	for _, p := range demo(t) {
		switch {
		case p.Verdict != client.VerdictCommitted && p.Verdict != client.VerdictInspectionFailed:
		case committed == "" && p.Verdict == client.VerdictCommitted:
			committed = p.GTIN
		case other == "":
			other = p.GTIN
		}
	}
	badge := hs.URL + "/quality/badge/" + string(committed) + ".json"
	if _, _, body := fetch(t, badge); !strings.Contains(body, `"verdict":"committed"`) {
		t.Fatalf("the committed product's badge before the fork: %s", body)
	}
	if r := ready(t, hs); !r.Log.OK {
		t.Errorf("ready with the log check failing: %+v", r.Log)
	}

	post(t, http.MethodPost, s.sandboxURL+"/_sandbox/log/fork?api_key=witness-platform", "")
	var st client.ProductStatus
	_, _, body := fetch(t, s.sandboxURL+"/v1/products/"+string(other))
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Commitment == nil {
		t.Fatalf("the product %s: %v %s", other, err, body)
	}
	post(t, http.MethodPost, s.sandboxURL+"/_sandbox/commitments/"+st.Commitment.ID+"/status", `{"status":"suspended"}`)

	deadline := time.Now().Add(timescale.Scale(20 * time.Second))
	for {
		code, r, _ := readyzOnce(t, hs.URL)
		if code == http.StatusServiceUnavailable && !r.Log.OK {
			if !strings.Contains(r.Log.Reason, "fork") || !strings.Contains(r.Log.Reason, "qcbadge clear-log-fork") {
				t.Errorf("the log check's reason %q does not name the fork and qcbadge clear-log-fork", r.Log.Reason)
			}
			if r.Ready {
				t.Error("ready is true with the log check failing")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness still %d %+v 20 s after the change; the log:\n%s", code, r, out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for a state, not synchronising
	}
	m := scrapeMetrics(t, hs)
	if m["qcbadge_log_forked"] != 1 || m["qcbadge_log_forks_total"] != 1 {
		t.Errorf("qcbadge_log_forked %v, qcbadge_log_forks_total %v; want 1 and 1", m["qcbadge_log_forked"], m["qcbadge_log_forks_total"])
	}
	if _, _, body := fetch(t, badge); !strings.Contains(body, `"verdict":"unknown"`) {
		t.Errorf("the committed product's badge with the log forked: %s; want the neutral one", body)
	}
	var alarms int
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, `"msg":"qcbadge: the registry's log is forked`) {
			alarms++
		}
	}
	if alarms != 1 {
		t.Errorf("%d ERROR lines from qcbadge of the fork; want 1:\n%s", alarms, out.String())
	}
}

// The log's settings: a keys file whose keys are pinned, witnesses'
// URLs, a cosigning key.
func TestLogSettings(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := note.GenerateKey(rand.Reader, "registry.example/log")
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	cosign := filepath.Join(dir, "cosign")
	os.WriteFile(keys, []byte("# the registry's keys\n"+vkey+"\n\n"), 0o644)
	os.WriteFile(cosign, []byte(skey+"\n"), 0o600)
	cfg, err := parseConfig([]string{"-log-keys", keys, "-log-witnesses", "https://witness.example/quality/log/checkpoint, http://127.0.0.1:9000/cp"},
		envOf("QC_LOG_COSIGN_KEY_FILE", cosign), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.logKeys) != 1 || cfg.logKeys[0].Key != vkey || len(cfg.logWitnesses) != 2 || cfg.logCosigner == nil || cfg.logCosigner.Name() != "registry.example/log" {
		t.Errorf("keys %v, witnesses %v, cosigner %v", cfg.logKeys, cfg.logWitnesses, cfg.logCosigner)
	}
}

// A log setting that cannot work exits 2 with one line naming it, and
// never says the cosigning key.
func TestALogSettingThatCannotWorkExits2(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "PRIVATE+KEY+shop.example+0badc0de+AXsecretsecretsecretsecretsecretsecret"
	for _, c := range []struct {
		args []string
		env  []string
		says string
	}{
		{[]string{"-log-keys", filepath.Join(dir, "none")}, nil, "-log-keys (QC_LOG_KEYS_FILE)"},
		{nil, []string{"QC_LOG_KEYS_FILE", write("bad-keys", "registry.example/log+not+akey\n")}, "-log-keys (QC_LOG_KEYS_FILE)"},
		{nil, []string{"QC_LOG_KEYS_FILE", write("no-keys", "# none\n")}, "holds no key"},
		{[]string{"-log-witnesses", "http://witness.example/cp"}, nil, "-log-witnesses (QC_LOG_WITNESSES)"},
		{nil, []string{"QC_LOG_WITNESSES", "https://witness.example/cp,ftp://witness.example/cp"}, "witness 2"},
		{nil, []string{"QC_LOG_WITNESSES", "https://user:" + secret + "@witness.example/cp"}, "names a user"},
		{nil, []string{"QC_LOG_WITNESSES", "/just/a/path"}, "-log-witnesses (QC_LOG_WITNESSES)"},
		{[]string{"-log-cosign-key-file", write("cosign", secret+"\n")}, nil, "QC_LOG_COSIGN_KEY"},
		{nil, []string{"QC_LOG_COSIGN_KEY", secret}, "QC_LOG_COSIGN_KEY"},
		{[]string{"-log-cosign-key-file", filepath.Join(dir, "none")}, nil, "-log-cosign-key-file"},
	} {
		// Stopped before it starts: a setting taken that should not be
		// exits 0 at once rather than serving on.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stderr bytes.Buffer
		code := run(ctx, c.args, envOf(append([]string{"QC_ADDR", "127.0.0.1:0"}, c.env...)...), &bytes.Buffer{}, &stderr)
		msg := stderr.String()
		if code != 2 || !strings.Contains(msg, c.says) {
			t.Errorf("%v %v: exit %d, %q; want 2 naming %q", c.args, c.env, code, msg, c.says)
		}
		if strings.Contains(msg, "secretsecret") {
			t.Errorf("%v %v: the secret is in the message: %q", c.args, c.env, msg)
		}
		if strings.Count(strings.TrimSpace(msg), "\n") != 0 {
			t.Errorf("%v %v: more than one line: %q", c.args, c.env, msg)
		}
	}
}
