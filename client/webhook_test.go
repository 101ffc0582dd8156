package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// Secrets long and odd enough that finding one in an error string can only
// mean it was put there.
const (
	oldSecret   = "whsec_old_7Qm2xV9kLp3R"
	newSecret   = "whsec_new_Zt5Hc8Wd1Ng4"
	otherSecret = "whsec_other_Yb6Fj0Sa2Ke7"
)

var (
	allSecrets = []string{oldSecret, newSecret, otherSecret}
	// webhookNow is the receiver's clock in these tests: 2025-01-01T00:00:00Z.
	webhookNow = time.Unix(1735689600, 0).UTC()
)

func fixedNow() time.Time { return webhookNow }

// testEvent is the event the registry pushes in these tests.
func testEvent() client.Event {
	return client.Event{
		ID:         "evt_000000000042",
		Cursor:     "cur_42",
		Type:       client.EventCommitmentRevoked,
		OccurredAt: webhookNow.Add(-30 * time.Second),
		Commitment: &client.Commitment{
			ID:              "cmt_8f2k",
			EnterpriseID:    "ent_0001",
			Category:        "household_appliances",
			Scope:           client.Scope{Brands: []string{"海尔"}},
			EffectiveAt:     time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC),
			ExpiresAt:       time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC),
			Status:          client.CommitmentRevoked,
			StatusChangedAt: webhookNow.Add(-30 * time.Second),
			StatusReason:    &client.Text{ZH: "依法撤销", EN: "Revoked"},
			Version:         7,
			UpdatedAt:       webhookNow.Add(-30 * time.Second),
			VerifyURL:       "https://verify.example/c/cmt_8f2k",
		},
	}
}

func testBody(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(testEvent())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withT replaces the t of a signature header, keeping its signatures.
func withT(header string, unix int64) string {
	_, rest, _ := strings.Cut(header, ",")
	return "t=" + strconv.FormatInt(unix, 10) + "," + rest
}

// sigs returns the v1 values of a header SignWebhook made.
func sigs(header string) []string {
	var out []string
	for _, p := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(p, "v1="); ok {
			out = append(out, v)
		}
	}
	return out
}

// sentinels are every sentinel a verifier returns.
var sentinels = []error{
	client.ErrWebhookNotSigned, client.ErrWebhookMalformed, client.ErrWebhookBadSignature,
	client.ErrWebhookTooOld, client.ErrWebhookTooNew, client.ErrWebhookTooLarge,
	client.ErrWebhookMisconfigured, client.ErrWebhookBody,
}

// checkNoLeak fails the test if err quotes a secret, the body or any
// signature of the header, or matches other than exactly one sentinel.
func checkNoLeak(t *testing.T, err error, body []byte, header string) {
	t.Helper()
	msg := err.Error()
	for _, s := range allSecrets {
		if strings.Contains(msg, s) {
			t.Errorf("error %q contains secret %q", msg, s)
		}
	}
	if len(body) >= 32 && strings.Contains(msg, string(body)) {
		t.Errorf("error %q contains the body", msg)
	}
	for _, p := range strings.Split(header, ",") {
		if _, v, _ := strings.Cut(p, "="); len(v) >= 16 && strings.Contains(msg, v) {
			t.Errorf("error %q echoes header part %.20q…", msg, v)
		}
	}
	if len(msg) > 300 {
		t.Errorf("error is %d bytes long: %.80q…", len(msg), msg)
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("error %q matches %d of the sentinels, want exactly 1", msg, n)
	}
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	body := testBody(t)
	now := webhookNow
	tol := client.DefaultWebhookTolerance
	signed := func(secrets ...string) string { return client.SignWebhook(body, now, secrets...) }
	one := signed(newSecret)
	sig := sigs(one)[0]
	ts := strconv.FormatInt(now.Unix(), 10)
	decodes := func(t *testing.T, err error) {
		t.Helper()
		var de *client.WebhookDecodeError
		if !errors.As(err, &de) {
			t.Errorf("error = %v, want a *WebhookDecodeError", err)
		}
	}
	signedBody := func(b string) ([]byte, string) { return []byte(b), client.SignWebhook([]byte(b), now, newSecret) }
	badTimeBody, badTimeHeader := signedBody(`{"id":"evt_1","type":"case.published","occurred_at":"SECRET-ISH-MARKER-` + strings.Repeat("x", 200) + `"}`)
	hugeNumBody, hugeNumHeader := signedBody(`{"id":"evt_1","type":"case.published","commitment":{"version":1` + strings.Repeat("0", 400) + `}}`)
	notJSONBody, notJSONHeader := signedBody(`not json at all, and long enough to notice`)
	noIDBody, noIDHeader := signedBody(`{"type":"case.published"}`)
	noTypeBody, noTypeHeader := signedBody(`{"id":"evt_1"}`)
	nullBody, nullHeader := signedBody(`null`)
	trailingBody, trailingHeader := signedBody(`{"id":"evt_1","type":"case.published"} {}`)

	// pad fills a header with an unknown scheme up to n bytes.
	pad := func(h string, n int) string {
		const pre = ",v0="
		return h + pre + strings.Repeat("a", n-len(h)-len(pre))
	}
	manySigs := func(n int) string {
		h := "t=" + ts
		for i := range n - 1 {
			h += fmt.Sprintf(",v1=%064x", i)
		}
		return h + ",v1=" + sig
	}

	tests := []struct {
		name     string
		body     []byte // testBody when nil
		header   string
		v        client.WebhookVerifier // Now is fixedNow when nil
		wantErr  error                  // a sentinel; nil for success
		decodeFn func(*testing.T, error)
	}{
		{name: "valid, one secret", header: one, v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "rotation: signed old+new, receiver knows new", header: signed(oldSecret, newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "rotation: signed old+new, receiver knows old", header: signed(oldSecret, newSecret), v: client.WebhookVerifier{Secrets: []string{oldSecret}}},
		{name: "rotation: signed old+new, receiver knows both", header: signed(oldSecret, newSecret), v: client.WebhookVerifier{Secrets: []string{oldSecret, newSecret}}},
		{name: "rotation: signed new, receiver knows old+new", header: one, v: client.WebhookVerifier{Secrets: []string{oldSecret, newSecret}}},
		{name: "rotation: signed old, receiver knows only new", header: signed(oldSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookBadSignature},
		{name: "wrong secret", header: one, v: client.WebhookVerifier{Secrets: []string{otherSecret}}, wantErr: client.ErrWebhookBadSignature},
		{name: "tampered body", body: bytes.Replace(testBody(t), []byte(`"revoked"`), []byte(`"active"`), 1), header: one, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookBadSignature},
		{name: "body with a byte appended", body: append(testBody(t), ' '), header: one, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookBadSignature},
		{name: "tampered timestamp, within tolerance", header: withT(one, now.Unix()+1), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookBadSignature},
		{name: "tampered timestamp, leading zero", header: "t=0" + ts + ",v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookBadSignature},
		{name: "tampered timestamp, outside tolerance: signature checked first", header: withT(one, now.Unix()-3600), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookBadSignature},
		{name: "too old", header: client.SignWebhook(body, now.Add(-tol-time.Second), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookTooOld},
		{name: "signed at 0", header: client.SignWebhook(body, time.Unix(0, 0), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookTooOld},
		{name: "too far in the future", header: client.SignWebhook(body, now.Add(tol+time.Second), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookTooNew},
		{name: "year 33658: no duration overflow", header: client.SignWebhook(body, time.Unix(999999999999, 0), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookTooNew},
		{name: "edge of the window, past", header: client.SignWebhook(body, now.Add(-tol), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "edge of the window, future", header: client.SignWebhook(body, now.Add(tol), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "edge of the window, clock between seconds", header: client.SignWebhook(body, now.Add(-tol), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}, Now: func() time.Time { return webhookNow.Add(999 * time.Millisecond) }}, wantErr: client.ErrWebhookTooOld},
		{name: "custom tolerance", header: client.SignWebhook(body, now.Add(-2*time.Minute), newSecret), v: client.WebhookVerifier{Secrets: []string{newSecret}, Tolerance: time.Minute}, wantErr: client.ErrWebhookTooOld},
		{name: "missing header", header: "", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookNotSigned},
		{name: "blank header", header: " \t ", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookNotSigned},
		{name: "header without t", header: "v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "header without v1", header: "t=" + ts, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookNotSigned},
		{name: "unknown schemes only", header: "t=" + ts + ",v0=" + sig + ",v2=whatever", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookNotSigned},
		{name: "unknown schemes around v1", header: "t=" + ts + ",v0=old,v1=" + sig + ",v2=new", v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "spaces around parts", header: " t=" + ts + " ,\tv1=" + sig + " ", v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "v1 before t", header: "v1=" + sig + ",t=" + ts, v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "space inside a part", header: "t = " + ts + ",v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "odd-length hex", header: "t=" + ts + ",v1=" + sig[:63], v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "short hex", header: "t=" + ts + ",v1=" + sig[:62], v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "uppercase hex", header: "t=" + ts + ",v1=" + strings.ToUpper(sig), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "non-hex digit", header: "t=" + ts + ",v1=" + sig[:63] + "g", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "empty v1", header: "t=" + ts + ",v1=", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "two t", header: "t=" + ts + ",t=" + ts + ",v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "t not a number", header: "t=abc,v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "negative t", header: "t=-1,v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "t of 13 digits", header: "t=1" + strings.Repeat("0", 12) + ",v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "empty t", header: "t=,v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "part without =", header: one + ",garbage", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "empty part", header: "t=" + ts + ",,v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "trailing comma", header: one + ",", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "empty scheme", header: one + ",=x", v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "semicolons", header: "t=" + ts + ";v1=" + sig, v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "4 KiB header", header: pad(one, client.MaxWebhookHeaderSize), v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "4 KiB + 1 header", header: pad(one, client.MaxWebhookHeaderSize+1), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "10 KiB header", header: pad(one, 10<<10), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "16 signatures", header: manySigs(16), v: client.WebhookVerifier{Secrets: []string{newSecret}}},
		{name: "17 signatures", header: manySigs(17), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "100 signatures", header: manySigs(100)[:client.MaxWebhookHeaderSize], v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "100 signatures over 4 KiB", header: manySigs(100), v: client.WebhookVerifier{Secrets: []string{newSecret}}, wantErr: client.ErrWebhookMalformed},
		{name: "no secrets", header: one, v: client.WebhookVerifier{}, wantErr: client.ErrWebhookMisconfigured},
		{name: "empty secret list", header: one, v: client.WebhookVerifier{Secrets: []string{}}, wantErr: client.ErrWebhookMisconfigured},
		{name: "empty secret", header: client.SignWebhook(body, now, ""), v: client.WebhookVerifier{Secrets: []string{""}}, wantErr: client.ErrWebhookMisconfigured},
		{name: "an empty secret among good ones", header: one, v: client.WebhookVerifier{Secrets: []string{newSecret, ""}}, wantErr: client.ErrWebhookMisconfigured},
		{name: "negative tolerance", header: one, v: client.WebhookVerifier{Secrets: []string{newSecret}, Tolerance: -time.Second}, wantErr: client.ErrWebhookMisconfigured},
		{name: "negative max body size", header: one, v: client.WebhookVerifier{Secrets: []string{newSecret}, MaxBodySize: -1}, wantErr: client.ErrWebhookMisconfigured},
		{name: "body over MaxBodySize", header: one, v: client.WebhookVerifier{Secrets: []string{newSecret}, MaxBodySize: 64}, wantErr: client.ErrWebhookTooLarge},
		{name: "body at MaxBodySize", header: one, v: client.WebhookVerifier{Secrets: []string{newSecret}, MaxBodySize: int64(len(body))}},
		{name: "signed, not JSON", body: notJSONBody, header: notJSONHeader, v: client.WebhookVerifier{Secrets: []string{newSecret}}, decodeFn: decodes},
		{name: "signed, bad time", body: badTimeBody, header: badTimeHeader, v: client.WebhookVerifier{Secrets: []string{newSecret}}, decodeFn: decodes},
		{name: "signed, huge number", body: hugeNumBody, header: hugeNumHeader, v: client.WebhookVerifier{Secrets: []string{newSecret}}, decodeFn: decodes},
		{name: "signed, no id", body: noIDBody, header: noIDHeader, v: client.WebhookVerifier{Secrets: []string{newSecret}}, decodeFn: decodes},
		{name: "signed, no type", body: noTypeBody, header: noTypeHeader, v: client.WebhookVerifier{Secrets: []string{newSecret}}, decodeFn: decodes},
		{name: "signed, null", body: nullBody, header: nullHeader, v: client.WebhookVerifier{Secrets: []string{newSecret}}, decodeFn: decodes},
		{name: "signed, trailing data", body: trailingBody, header: trailingHeader, v: client.WebhookVerifier{Secrets: []string{newSecret}}, decodeFn: decodes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := tt.body
			if b == nil {
				b = body
			}
			v := tt.v
			if v.Now == nil {
				v.Now = fixedNow
			}
			got, err := v.Verify(b, tt.header)
			switch {
			case tt.decodeFn != nil:
				if err == nil {
					t.Fatalf("Verify = %+v, nil; want a decode error", got)
				}
				tt.decodeFn(t, err)
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("Verify error = %v, want none", err)
				}
				if diff := cmp.Diff(testEvent(), got); diff != "" {
					t.Errorf("Verify event mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if diff := cmp.Diff(client.Event{}, got); diff != "" {
				t.Errorf("Verify returned an event with its error (-want +got):\n%s", diff)
			}
			checkNoLeak(t, err, b, tt.header)
			for _, marker := range []string{"SECRET-ISH-MARKER", strings.Repeat("0", 16), "not json at all"} {
				if strings.Contains(err.Error(), marker) {
					t.Errorf("error %q quotes the body", err)
				}
			}
		})
	}
}

func TestWebhookDecodeError(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_7","type":"case.published","occurred_at":"yesterday"}`)
	v := client.WebhookVerifier{Secrets: []string{newSecret}, Now: fixedNow}
	_, err := v.Verify(body, client.SignWebhook(body, webhookNow, newSecret))
	var de *client.WebhookDecodeError
	if !errors.As(err, &de) {
		t.Fatalf("Verify error = %v, want a *WebhookDecodeError", err)
	}
	if de.EventID != "evt_7" {
		t.Errorf("EventID = %q, want %q", de.EventID, "evt_7")
	}
	var pe *time.ParseError
	if !errors.As(err, &pe) {
		t.Errorf("error %v does not unwrap to the *time.ParseError", err)
	}
	if strings.Contains(err.Error(), "yesterday") {
		t.Errorf("error %q quotes the body", err)
	}

	body = []byte(`{"id":"evt_8",`)
	_, err = v.Verify(body, client.SignWebhook(body, webhookNow, newSecret))
	var se *json.SyntaxError
	if !errors.As(err, &de) || !errors.As(err, &se) {
		t.Errorf("Verify error = %v, want a *WebhookDecodeError wrapping a *json.SyntaxError", err)
	}
}

func TestVerifyWebhookFunc(t *testing.T) {
	t.Parallel()
	body := testBody(t)
	got, err := client.VerifyWebhook(body, client.SignWebhook(body, time.Now(), oldSecret, newSecret), newSecret)
	if err != nil {
		t.Fatalf("VerifyWebhook: %v", err)
	}
	if diff := cmp.Diff(testEvent(), got); diff != "" {
		t.Errorf("VerifyWebhook event mismatch (-want +got):\n%s", diff)
	}
	// The default clock and tolerance: a push signed 10 minutes ago is stale.
	_, err = client.VerifyWebhook(body, client.SignWebhook(body, time.Now().Add(-10*time.Minute), newSecret), newSecret)
	if !errors.Is(err, client.ErrWebhookTooOld) {
		t.Errorf("VerifyWebhook error = %v, want ErrWebhookTooOld", err)
	}
	// Forgetting the secrets is never "valid", even for a push "signed"
	// with the empty key.
	_, err = client.VerifyWebhook(body, client.SignWebhook(body, time.Now(), ""))
	if !errors.Is(err, client.ErrWebhookMisconfigured) {
		t.Errorf("VerifyWebhook without secrets: error = %v, want ErrWebhookMisconfigured", err)
	}
}

// TestWebhookVerifyHostileHeaderIsCheap checks that a rejected header
// costs little: parsing a header of junk allocates only its error. (Not
// parallel: AllocsPerRun forbids it.)
func TestWebhookVerifyHostileHeaderIsCheap(t *testing.T) {
	v := client.WebhookVerifier{Secrets: []string{newSecret}, Now: fixedNow}
	body := testBody(t)
	for _, h := range []string{
		strings.Repeat(",", 10<<10),
		"t=1" + strings.Repeat(",v0=x", 800),
		"t=1" + strings.Repeat(fmt.Sprintf(",v1=%064x", 1), 60),
	} {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := v.Verify(body, h); err == nil {
				t.Fatal("Verify accepted junk")
			}
		})
		if allocs > 4 { // 2 or 3, one more under -race
			t.Errorf("Verify of a %d-byte junk header: %v allocations, want at most 4", len(h), allocs)
		}
	}
}

func newPush(t testing.TB, body []byte, header string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/qc/webhook", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if header != "" {
		r.Header.Set(client.SignatureHeader, header)
	}
	return r
}

func TestWebhookHandler(t *testing.T) {
	t.Parallel()
	body := testBody(t)
	good := client.SignWebhook(body, webhookNow, oldSecret, newSecret)
	applyErr := errors.New("database is down: password=hunter2")

	tests := []struct {
		name      string
		req       func(t *testing.T) *http.Request
		v         client.WebhookVerifier
		applyErr  error
		want      int
		wantApply bool
	}{
		{
			name: "204 on success",
			req:  func(t *testing.T) *http.Request { return newPush(t, body, good) },
			want: http.StatusNoContent, wantApply: true,
		},
		{
			name: "405 on GET",
			req:  func(t *testing.T) *http.Request { return httptest.NewRequest(http.MethodGet, "/qc/webhook", nil) },
			want: http.StatusMethodNotAllowed,
		},
		{
			name: "405 on PUT, even signed",
			req: func(t *testing.T) *http.Request {
				r := newPush(t, body, good)
				r.Method = http.MethodPut
				return r
			},
			want: http.StatusMethodNotAllowed,
		},
		{
			name: "413 over the default 1 MiB, announced",
			req: func(t *testing.T) *http.Request {
				big := make([]byte, client.DefaultWebhookMaxBodySize+1)
				return newPush(t, big, client.SignWebhook(big, webhookNow, newSecret))
			},
			want: http.StatusRequestEntityTooLarge,
		},
		{
			name: "413 over the default 1 MiB, chunked",
			req: func(t *testing.T) *http.Request {
				big := make([]byte, client.DefaultWebhookMaxBodySize+1)
				r := newPush(t, nil, client.SignWebhook(big, webhookNow, newSecret))
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(big)))
				r.ContentLength = -1
				return r
			},
			want: http.StatusRequestEntityTooLarge,
		},
		{
			name: "413 over a custom limit",
			req:  func(t *testing.T) *http.Request { return newPush(t, body, good) },
			v:    client.WebhookVerifier{MaxBodySize: 100},
			want: http.StatusRequestEntityTooLarge,
		},
		{
			name: "401 unsigned",
			req:  func(t *testing.T) *http.Request { return newPush(t, body, "") },
			want: http.StatusUnauthorized,
		},
		{
			name: "401 malformed",
			req:  func(t *testing.T) *http.Request { return newPush(t, body, "t=1,v1=<script>") },
			want: http.StatusUnauthorized,
		},
		{
			name: "401 bad signature",
			req: func(t *testing.T) *http.Request {
				return newPush(t, body, client.SignWebhook(body, webhookNow, otherSecret))
			},
			want: http.StatusUnauthorized,
		},
		{
			name: "401 tampered body",
			req: func(t *testing.T) *http.Request {
				return newPush(t, bytes.Replace(body, []byte("cmt_8f2k"), []byte("cmt_0000"), 1), good)
			},
			want: http.StatusUnauthorized,
		},
		{
			name: "401 too old",
			req: func(t *testing.T) *http.Request {
				return newPush(t, body, client.SignWebhook(body, webhookNow.Add(-time.Hour), newSecret))
			},
			want: http.StatusUnauthorized,
		},
		{
			name: "401 too new",
			req: func(t *testing.T) *http.Request {
				return newPush(t, body, client.SignWebhook(body, webhookNow.Add(time.Hour), newSecret))
			},
			want: http.StatusUnauthorized,
		},
		{
			name: "401 two signature headers",
			req: func(t *testing.T) *http.Request {
				r := newPush(t, body, good)
				r.Header.Add(client.SignatureHeader, "t=1,v1="+strings.Repeat("0", 64))
				return r
			},
			want: http.StatusUnauthorized,
		},
		{
			name: "400 signed but not an event",
			req: func(t *testing.T) *http.Request {
				b := []byte(`{"id":"evt_1","type":"case.published","occurred_at":"<script>alert(1)</script>"}`)
				return newPush(t, b, client.SignWebhook(b, webhookNow, newSecret))
			},
			want: http.StatusBadRequest,
		},
		{
			name:     "500 when apply fails",
			req:      func(t *testing.T) *http.Request { return newPush(t, body, good) },
			applyErr: applyErr,
			want:     http.StatusInternalServerError, wantApply: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.v
			v.Secrets, v.Now = []string{newSecret}, fixedNow
			var (
				mu  sync.Mutex
				got []client.Event
			)
			h := client.WebhookHandler(v, func(ctx context.Context, ev client.Event) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, ev)
				return tt.applyErr
			})
			req := tt.req(t)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d (body %q)", rec.Code, tt.want, rec.Body.String())
			}
			if tt.want == http.StatusMethodNotAllowed {
				if allow := rec.Header().Get("Allow"); allow != http.MethodPost {
					t.Errorf("Allow = %q, want POST", allow)
				}
			}
			if tt.want == http.StatusNoContent {
				if rec.Body.Len() != 0 {
					t.Errorf("204 with a body: %q", rec.Body.String())
				}
			} else {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type = %q, want text/plain", ct)
				}
				msg := rec.Body.String()
				if len(msg) > 80 {
					t.Errorf("error answer is %d bytes: %q", len(msg), msg)
				}
				for _, bad := range []string{newSecret, "<script", "hunter2", "cmt_8f2k", "evt_", "1735689600"} {
					if strings.Contains(msg, bad) {
						t.Errorf("error answer %q contains %q", msg, bad)
					}
				}
			}
			var want []client.Event
			if tt.wantApply {
				want = []client.Event{testEvent()}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events applied (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhookHandlerPanicsWhenMisconfigured(t *testing.T) {
	t.Parallel()
	apply := func(context.Context, client.Event) error { return nil }
	for _, tc := range []struct {
		name  string
		v     client.WebhookVerifier
		apply func(context.Context, client.Event) error
	}{
		{"no secrets", client.WebhookVerifier{}, apply},
		{"empty secret", client.WebhookVerifier{Secrets: []string{newSecret, ""}}, apply},
		{"negative tolerance", client.WebhookVerifier{Secrets: []string{newSecret}, Tolerance: -1}, apply},
		{"nil apply", client.WebhookVerifier{Secrets: []string{newSecret}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("WebhookHandler did not panic")
				}
				if s := fmt.Sprint(r); strings.Contains(s, newSecret) {
					t.Errorf("panic %q contains the secret", s)
				}
			}()
			client.WebhookHandler(tc.v, tc.apply)
		})
	}
}

// TestWebhookHandlerConcurrent pushes many events at once, over a real
// server, with secrets the caller changes after building the handler; run
// with -race.
func TestWebhookHandlerConcurrent(t *testing.T) {
	t.Parallel()
	secrets := []string{oldSecret, newSecret}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	h := client.WebhookHandler(client.WebhookVerifier{Secrets: secrets}, func(ctx context.Context, ev client.Event) error {
		mu.Lock()
		defer mu.Unlock()
		seen[ev.ID]++
		return nil
	})
	secrets[0], secrets[1] = otherSecret, otherSecret // the handler kept its own copy
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ev := testEvent()
			ev.ID = fmt.Sprintf("evt_%03d", i%25) // every event twice
			b, _ := json.Marshal(ev)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(b))
			req.Header.Set(client.SignatureHeader, client.SignWebhook(b, time.Now(), newSecret))
			resp, err := srv.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				errs <- fmt.Errorf("push %d: status %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{}
	for i := range 25 {
		want[fmt.Sprintf("evt_%03d", i)] = 2
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("events applied (-want +got):\n%s", diff)
	}
}

// TestWebhookHandlerSandbox runs a revocation end to end: the sandbox
// signs with the old and the new secret, the receiver knows only the new
// one.
func TestWebhookHandlerSandbox(t *testing.T) {
	t.Parallel()
	srv := sandbox.NewServer(t, sandbox.WithWebhookRetry(5, time.Millisecond))

	resp, err := http.Get(srv.URL + "/v1/products/" + string(srv.Demo()[0].GTIN))
	if err != nil {
		t.Fatal(err)
	}
	var st client.ProductStatus
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET product: status %d, decode error %v", resp.StatusCode, err)
	}
	if st.Commitment == nil {
		t.Fatalf("demo product %s has no commitment", srv.Demo()[0].GTIN)
	}
	cid := st.Commitment.ID

	revoked := make(chan client.Event, 1)
	recv := httptest.NewServer(client.WebhookHandler(
		client.WebhookVerifier{Secrets: []string{"whsec_new"}},
		func(ctx context.Context, ev client.Event) error {
			if ev.Type == client.EventCommitmentRevoked && ev.Commitment != nil && ev.Commitment.ID == cid {
				select {
				case revoked <- ev:
				default: // a redelivery: already seen
				}
			}
			return nil
		}))
	t.Cleanup(recv.Close)

	if err := srv.AddWebhook(recv.URL, "whsec_old", "whsec_new"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Revoke(cid); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-revoked:
		if ev.Commitment.Status != client.CommitmentRevoked {
			t.Errorf("pushed commitment status = %q, want %q", ev.Commitment.Status, client.CommitmentRevoked)
		}
		if ev.ID == "" {
			t.Error("pushed event has no id")
		}
	case <-time.After(timescale.Scale(10 * time.Second)):
		delivered, failed := srv.WebhookStats()
		t.Fatalf("no commitment.revoked push within 10 s (delivered %d, failed tries %d)", delivered, failed)
	}
}

// A push whose record holds an invalid GTIN or USCC is the registry's
// fault, like any other body that is not an Event: it matches
// ErrWebhookBody and not the caller's ErrInvalidInput, and its message
// names the kind of identifier without quoting it.
func TestWebhookBodyWithAnInvalidIdentifier(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_9","type":"enterprise.updated","enterprise":{"id":"ent_1","uscc":"91350100M000100Y44"}}`)
	v := client.WebhookVerifier{Secrets: []string{newSecret}, Now: fixedNow}
	_, err := v.Verify(body, client.SignWebhook(body, webhookNow, newSecret))
	if !errors.Is(err, client.ErrWebhookBody) {
		t.Fatalf("Verify error = %v, want ErrWebhookBody", err)
	}
	if errors.Is(err, client.ErrInvalidInput) || errors.Is(err, client.ErrInvalidID) {
		t.Errorf("Verify error = %v matches ErrInvalidInput or ErrInvalidID: the receiver's input was not at fault", err)
	}
	if !strings.Contains(err.Error(), "uscc") || strings.Contains(err.Error(), "91350100M000100Y44") {
		t.Errorf("Verify error %q does not name the uscc, or quotes it", err)
	}
}
