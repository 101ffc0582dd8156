package client_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/qualitycommit/qcsdk/client"
)

// The fuzz targets check what a receiver relies on: verification never
// panics, accepts a push only when one of its signatures really is the
// HMAC of the body with one of the receiver's secrets and its timestamp is
// in the window, and describes a rejection without quoting the input.

// fuzzVerifier knows the old and the new secret, not the other one.
var fuzzVerifier = client.WebhookVerifier{Secrets: []string{oldSecret, newSecret}, Now: fixedNow}

// oracleMatch reports whether, read as loosely as possible, header has a t
// and a v1 that is the HMAC of "<t>.<body>" with a secret of fuzzVerifier,
// computed here independently of the package. It also returns that t.
func oracleMatch(header string, body []byte) (matched bool, unix int64) {
	var ts []string
	var v1 []string
	for _, p := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.Trim(p, " \t"), "=")
		switch k {
		case "t":
			ts = append(ts, v)
		case "v1":
			v1 = append(v1, v)
		}
	}
	for _, t := range ts {
		for _, s := range fuzzVerifier.Secrets {
			m := hmac.New(sha256.New, []byte(s))
			m.Write([]byte(t + "."))
			m.Write(body)
			want := hex.EncodeToString(m.Sum(nil))
			for _, sig := range v1 {
				if sig == want {
					unix, _ = strconv.ParseInt(t, 10, 64)
					return true, unix
				}
			}
		}
	}
	return false, 0
}

func FuzzWebhookHeader(f *testing.F) {
	body := testBody(f)
	now := webhookNow
	good := client.SignWebhook(body, now, oldSecret, newSecret)
	for _, seed := range []struct {
		header string
		body   []byte
	}{
		{good, body},
		{client.SignWebhook(body, now, newSecret), body},
		{client.SignWebhook(body, now, otherSecret), body},
		{client.SignWebhook(body, now.Add(-time.Hour), oldSecret), body},
		{client.SignWebhook(body, now.Add(time.Hour), oldSecret), body},
		{client.SignWebhook(body, time.Unix(999999999999, 0), oldSecret), body},
		{" " + strings.ReplaceAll(good, ",", " , ") + " ,v2=x", body},
		{strings.ToUpper(good), body},
		{good[:len(good)-1], body},
		{good + ",", body},
		{"t=" + strconv.FormatInt(now.Unix(), 10), body},
		{"v1=" + strings.Repeat("0", 64), body},
		{"", body},
		{"t=1,t=2,v1=,v0=", []byte("{}")},
		{strings.Repeat(",v1=", 1100), nil},
		{client.SignWebhook([]byte(`{"id":"e","type":"x"}`), now, newSecret), []byte(`{"id":"e","type":"x"}`)},
		{client.SignWebhook([]byte(`{"id":"e"`), now, newSecret), []byte(`{"id":"e"`)},
	} {
		f.Add(seed.header, seed.body)
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		ev, err := fuzzVerifier.Verify(body, header)
		matched, unix := oracleMatch(header, body)
		var de *client.WebhookDecodeError
		authentic := err == nil || errors.As(err, &de) ||
			errors.Is(err, client.ErrWebhookTooOld) || errors.Is(err, client.ErrWebhookTooNew)
		if authentic && !matched {
			t.Fatalf("Verify(%q) treated the push as signed (err %v) but no v1 is an HMAC of the body with a known secret", header, err)
		}
		if matched && errors.Is(err, client.ErrWebhookBadSignature) {
			t.Fatalf("Verify(%q) = %v, but a v1 is the HMAC of the body", header, err)
		}
		if err != nil {
			if errors.Is(err, client.ErrWebhookMisconfigured) {
				t.Fatalf("Verify(%q) = %v, but the verifier is fine", header, err)
			}
			checkNoLeak(t, err, body, header)
			if diff := cmp.Diff(client.Event{}, ev); diff != "" {
				t.Fatalf("Verify returned an event with error %v:\n%s", err, diff)
			}
			return
		}
		if at := time.Unix(unix, 0); at.Before(now.Add(-client.DefaultWebhookTolerance)) || at.After(now.Add(client.DefaultWebhookTolerance)) {
			t.Fatalf("Verify(%q) accepted a push signed at %v, out of the window around %v", header, at, now)
		}
		if !json.Valid(body) || ev.ID == "" || ev.Type == "" {
			t.Fatalf("Verify accepted body %q as event %+v", body, ev)
		}
	})
}

func FuzzWebhookBody(f *testing.F) {
	for _, b := range [][]byte{
		testBody(f),
		[]byte(`{"id":"evt_1","type":"case.published"}`),
		[]byte(`{"id":"evt_1","type":"case.published","occurred_at":"2025-01-01T00:00:00+08:00"}`),
		[]byte(`{"id":"evt_1","type":"x","commitment":{"version":1e999}}`),
		[]byte(`{"id":"evt_1","type":"x","occurred_at":"` + strings.Repeat("9", 100) + `"}`),
		[]byte(`{"ID":"a","Type":"b","id":"c"}`),
		[]byte(`{"id":"\ud800","type":"\u0000"}`),
		[]byte(`{"id":"evt_1"}`),
		// Found by the fuzzer: an empty list comes back nil, as omitempty
		// drops it; the event is the same.
		[]byte(`{"id":"0","tYpe":"0","Commitment":{"sCope":{"BrAnds":[]}}}`),
		[]byte(`null`),
		[]byte(`[]`),
		[]byte(``),
		[]byte("\xff\xfe"),
	} {
		f.Add(b)
	}
	now := webhookNow
	f.Fuzz(func(t *testing.T, body []byte) {
		header := client.SignWebhook(body, now, oldSecret, newSecret)
		ev, err := fuzzVerifier.Verify(body, header)
		if err != nil {
			var de *client.WebhookDecodeError
			if !errors.As(err, &de) && !errors.Is(err, client.ErrWebhookTooLarge) {
				t.Fatalf("Verify of a correctly signed body: %v, want nil or a decode error", err)
			}
			// The event id may quote the body, and the body may contain a
			// secret: that is the registry's business.
			if !bytes.Contains(body, []byte("whsec_")) {
				checkNoLeak(t, err, body, header)
			}
		} else {
			if !json.Valid(body) || ev.ID == "" || ev.Type == "" {
				t.Fatalf("Verify accepted body %q as event %+v", body, ev)
			}
			// What was accepted survives a round trip: marshal it, sign
			// it, verify it, and get the same event back.
			again, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("cannot marshal accepted event %+v: %v", ev, err)
			}
			ev2, err := fuzzVerifier.Verify(again, client.SignWebhook(again, now, newSecret))
			if err != nil {
				t.Fatalf("Verify of re-marshalled %q: %v", again, err)
			}
			if diff := cmp.Diff(ev, ev2, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("round trip changed the event (-first +second):\n%s", diff)
			}
		}

		// The same body changed by one byte, or signed with a secret the
		// receiver does not know, never verifies.
		tampered := append(bytes.Clone(body), '\n')
		if _, err := fuzzVerifier.Verify(tampered, header); !errors.Is(err, client.ErrWebhookBadSignature) && !errors.Is(err, client.ErrWebhookTooLarge) {
			t.Fatalf("Verify of a tampered body: %v, want ErrWebhookBadSignature", err)
		}
		if _, err := fuzzVerifier.Verify(body, client.SignWebhook(body, now, otherSecret)); !errors.Is(err, client.ErrWebhookBadSignature) && !errors.Is(err, client.ErrWebhookTooLarge) {
			t.Fatalf("Verify with an unknown secret: %v, want ErrWebhookBadSignature", err)
		}
	})
}
