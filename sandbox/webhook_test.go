package sandbox_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

type push struct {
	method string
	header http.Header
	body   []byte
}

// recorder starts a webhook receiver that answers 204 and hands every push
// to the returned channel. Start it before the sandbox, so that the sandbox
// stops pushing before the receiver closes.
func recorder(t *testing.T) (*httptest.Server, <-chan push) {
	t.Helper()
	ch := make(chan push, 64)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		select {
		case ch <- push{method: r.Method, header: r.Header.Clone(), body: b}:
		default: // the test has stopped listening
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	return recv, ch
}

func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatalf("no %s within %v", what, hangGuard)
	}
	panic("unreachable")
}

// signature splits a QC-Signature header into its time and signatures.
func signature(t *testing.T, h string) (ts string, sigs []string) {
	t.Helper()
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case !ok:
			t.Errorf("signature part %q has no '='", part)
		case k == "t" && ts == "":
			ts = v
		case k == "t":
			t.Errorf("signature %q has two times", h)
		case k == "v1":
			sigs = append(sigs, v)
		default:
			t.Errorf("signature part %q is neither t nor v1", part)
		}
	}
	return ts, sigs
}

// mac computes what a receiver holding secret expects: HMAC-SHA256 over
// "<t>.<body>".
func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return m.Sum(nil)
}

func TestWebhookPushIsSigned(t *testing.T) {
	t.Parallel()
	recv, pushes := recorder(t)
	srv, c := start(t)
	if err := srv.AddWebhook(recv.URL+"/hooks/qc", "old", "new"); err != nil {
		t.Fatal(err)
	}
	head := getJSON[client.ChangePage](t, c, "/v1/changes")
	st := getJSON[client.ProductStatus](t, c, productPath(demoWith(t, srv, client.VerdictCommitted).GTIN))
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	p := next(t, pushes, "webhook push")
	feed := getJSON[client.ChangePage](t, c, changesPath(head.NextCursor))
	if len(feed.Data) != 1 {
		t.Fatalf("feed holds %d events after one revocation", len(feed.Data))
	}
	want := feed.Data[0]

	if p.method != http.MethodPost {
		t.Errorf("push method %s, want POST", p.method)
	}
	if ct := p.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("push Content-Type %q, want application/json", ct)
	}
	if id := p.header.Get("QC-Event-Id"); id != want.ID {
		t.Errorf("QC-Event-Id %q, want the feed's event id %q", id, want.ID)
	}

	ts, sigs := signature(t, p.header.Get("QC-Signature"))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		t.Fatalf("signature time %q is not Unix seconds", ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d < -time.Minute || d > time.Minute {
		t.Errorf("signature time %v is %v from now, want within a minute", time.Unix(sec, 0), d)
	}
	if len(sigs) != 2 {
		t.Fatalf("%d v1 signatures, want one per secret (2)", len(sigs))
	}
	for _, secret := range []string{"old", "new", "forged"} {
		expected := mac(secret, ts, p.body)
		matches := 0
		for _, s := range sigs {
			got, err := hex.DecodeString(s)
			if err != nil {
				t.Errorf("signature %q is not hex", s)
				continue
			}
			if hmac.Equal(got, expected) {
				matches++
			}
		}
		if wantMatches := map[string]int{"old": 1, "new": 1}[secret]; matches != wantMatches {
			t.Errorf("secret %q matches %d signatures, want %d", secret, matches, wantMatches)
		}
	}

	var ev client.Event
	if err := json.Unmarshal(p.body, &ev); err != nil {
		t.Fatalf("push body is not an Event: %v\n%s", err, p.body)
	}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("pushed event differs from the feed's (-feed +push):\n%s", diff)
	}
	if ev.Type != client.EventCommitmentRevoked || ev.Commitment == nil || ev.Commitment.ID != st.Commitment.ID {
		t.Errorf("pushed %s for %+v, want the revocation of %s", ev.Type, ev.Commitment, st.Commitment.ID)
	}
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	type attempt struct {
		n      int32
		id     string
		status int
	}
	var tries atomic.Int32
	seen := make(chan attempt, 16)
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n := tries.Add(1)
		a := attempt{n: n, id: r.Header.Get("QC-Event-Id"), status: http.StatusOK}
		if n <= 2 {
			a.status = http.StatusInternalServerError
		}
		seen <- a
		if n >= 4 {
			<-release // hold the second event's push while the test reads the stats
		}
		w.WriteHeader(a.status)
	}))
	t.Cleanup(recv.Close)
	t.Cleanup(unblock)
	srv, c := start(t, sandbox.WithWebhookRetry(5, time.Millisecond))
	if err := srv.AddWebhook(recv.URL, "s3cret"); err != nil {
		t.Fatal(err)
	}

	head := getJSON[client.ChangePage](t, c, "/v1/changes")
	st := getJSON[client.ProductStatus](t, c, productPath(demoWith(t, srv, client.VerdictCommitted).GTIN))
	if _, err := srv.Revoke(st.Commitment.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.PublishInspection(srv.Demo()[1].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	feed := getJSON[client.ChangePage](t, c, changesPath(head.NextCursor))
	if len(feed.Data) != 2 {
		t.Fatalf("feed holds %d events, want 2", len(feed.Data))
	}
	first, second := feed.Data[0].ID, feed.Data[1].ID

	var got []attempt
	for len(got) < 4 {
		got = append(got, next(t, seen, "webhook attempt"))
	}
	want := []attempt{
		{1, first, http.StatusInternalServerError},
		{2, first, http.StatusInternalServerError},
		{3, first, http.StatusOK},
		{4, second, http.StatusOK},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(attempt{})); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
	// The second event's push is being held: the first is settled.
	if delivered, failed := srv.WebhookStats(); delivered != 1 || failed != 2 {
		t.Errorf("WebhookStats() = %d delivered, %d failed tries; want 1 and 2", delivered, failed)
	}
	unblock()
}

func TestWebhookOrder(t *testing.T) {
	t.Parallel()
	recv, pushes := recorder(t)
	srv, c := start(t)
	demo := srv.Demo()

	// Changes before the webhook was added are not pushed.
	if _, err := srv.PublishInspection(demo[0].GTIN, client.InspectionPass); err != nil {
		t.Fatal(err)
	}
	head := getJSON[client.ChangePage](t, c, "/v1/changes")
	if err := srv.AddWebhook(recv.URL, "s"); err != nil {
		t.Fatal(err)
	}

	ent := getJSON[client.Enterprise](t, c, "/v1/enterprises/"+string(demo[2].USCC))
	st := getJSON[client.ProductStatus](t, c, productPath(demo[0].GTIN))
	steps := []func() error{
		func() error { _, err := srv.Revoke(st.Commitment.ID); return err },
		func() error { _, err := srv.PublishInspection(demo[1].GTIN, client.InspectionFail); return err },
		func() error {
			_, err := srv.RenameEnterprise(ent.ID, client.Text{ZH: "新名字有限公司", EN: "New Name Co., Ltd."})
			return err
		},
		func() error {
			srv.PublishCase(client.Case{Title: client.Text{ZH: "案例"}, Summary: client.Text{ZH: "摘要"}, Brand: "某品牌", Authority: client.Text{ZH: "某局"}})
			return nil
		},
		func() error {
			_, err := srv.SetCommitmentStatus(st.Commitment.ID, client.CommitmentActive, nil)
			return err
		},
		func() error { _, err := srv.PublishInspection(demo[1].GTIN, client.InspectionPass); return err },
		func() error { return srv.Delist(ent.ID) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	feed := getJSON[client.ChangePage](t, c, changesPath(head.NextCursor))
	if len(feed.Data) != len(steps) {
		t.Fatalf("feed holds %d events after %d changes", len(feed.Data), len(steps))
	}
	var got []string
	for range steps {
		p := next(t, pushes, "webhook push")
		got = append(got, p.header.Get("QC-Event-Id"))
	}
	if diff := cmp.Diff(eventIDs(feed.Data), got); diff != "" {
		t.Errorf("pushes out of publish order (-feed +pushed):\n%s", diff)
	}
}

func TestAddWebhookRejects(t *testing.T) {
	t.Parallel()
	srv, _ := start(t)
	if err := srv.AddWebhook("ftp://example.com/hook", "s"); err == nil {
		t.Error("AddWebhook accepted an ftp URL")
	}
	if err := srv.AddWebhook("http://127.0.0.1:1/hook"); err == nil {
		t.Error("AddWebhook accepted a webhook without a secret")
	}
}
