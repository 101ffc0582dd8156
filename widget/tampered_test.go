package widget_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/sdktest"
	"github.com/qualitycommit/qcsdk/internal/testkit/timescale"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// tamperingProxy stands between the client and the registry, as a
// TLS-terminating proxy or a compromised mirror would, and passes every
// product status it carries (one, or each of a batch) through edit.
func tamperingProxy(t *testing.T, upstream string, edit func(st map[string]any)) string {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(res *http.Response) error {
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/v1/products") {
			return nil
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		if items, ok := v["data"].([]any); ok {
			for _, it := range items {
				if st, ok := it.(map[string]any)["status"].(map[string]any); ok {
					edit(st)
				}
			}
		} else {
			edit(v)
		}
		out, _ := json.Marshal(v)
		res.Body = io.NopCloser(bytes.NewReader(out))
		res.ContentLength = int64(len(out))
		res.Header.Del("Content-Length")
		res.Header.Del("ETag")
		return nil
	}
	hs := httptest.NewServer(rp)
	t.Cleanup(hs.Close)
	return hs.URL
}

// A product status rewritten between the registry and the platform is
// never shown as the registry's: a withdrawn product shown as committed,
// with its proof left as it was, taken away, or its checkpoint signed
// again by a key that is not the registry's, renders the neutral badge,
// in HTML and in JSON, and the client counts the refusal. Without the
// log's proof each of these would show "committed".
func TestATamperedStatusNeverShowsCommitted(t *testing.T) {
	skey, _, err := note.GenerateKey(rand.Reader, "registry.example/log")
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	active := func(st map[string]any) {
		if c, ok := st["commitment"].(map[string]any); ok {
			c["status"] = string(client.CommitmentActive)
			c["status_changed_at"] = c["effective_at"]
		}
	}
	for _, c := range []struct {
		name string
		edit func(st map[string]any)
	}{
		{"its commitment shown as active", active},
		{"shown as active, its proof taken away", func(st map[string]any) { active(st); delete(st, "proof") }},
		{"shown as active, its checkpoint signed by another key", func(st map[string]any) {
			active(st)
			p, ok := st["proof"].(map[string]any)
			if !ok {
				return
			}
			text, _, _ := strings.Cut(p["checkpoint"].(string), "\n\n")
			signed, err := note.Sign(&note.Note{Text: text + "\n"}, rogue)
			if err != nil {
				panic(err)
			}
			p["checkpoint"] = string(signed)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sb := sandbox.NewServer(t, sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(reference))
			var withdrawn client.GTIN
			for _, d := range sb.Demo() {
				if d.Verdict == client.VerdictWithdrawn {
					withdrawn = d.GTIN
					break
				}
			}
			// What the tampered answer says, decoded as it is: committed.
			res, err := http.Get(sb.URL + "/v1/products/" + string(withdrawn))
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]any
			json.NewDecoder(res.Body).Decode(&raw)
			res.Body.Close()
			c.edit(raw)
			b, _ := json.Marshal(raw)
			var shown client.ProductStatus
			if err := json.Unmarshal(b, &shown); err != nil {
				t.Fatal(err)
			}
			now := reference.Add(12 * time.Hour)
			if v := client.Decide(&shown, now, 0).Verdict; v != client.VerdictCommitted {
				t.Fatalf("the tampered status decides %s; the test wants one that would show committed", v)
			}

			api, qc := sdktest.Over(t, tamperingProxy(t, sb.URL, c.edit), []client.Option{client.WithLogKeys(sb.LogKeys()...)})
			w, err := widget.New(qc, widget.WithClock(func() time.Time { return now }), widget.WithRenderTimeout(timescale.Scale(10*time.Second)))
			if err != nil {
				t.Fatal(err)
			}
			h, _ := w.Render(context.Background(), string(withdrawn), widget.Look{Locale: widget.LocaleEN})
			if got := string(h); !strings.Contains(got, "qcb-unknown") || strings.Contains(got, "qcb-committed") {
				t.Errorf("the badge: %s; want the neutral one", got)
			}
			hs := httptest.NewServer(w.Handler("/quality/"))
			t.Cleanup(hs.Close)
			if j, _ := badgeJSON(t, hs.URL+"/quality/badge/"+string(withdrawn)+".json"); j.Verdict != "unknown" {
				t.Errorf("the .json badge: %+v; want the neutral one", j)
			}
			if f := api.Stats().LogFailures; f == (client.LogFailureCounts{}) {
				t.Error("no refusal counted")
			}
		})
	}
}
