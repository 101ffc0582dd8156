package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// forkedKey is the API key of the platform the demo's registry shows a
// history of its own.
const forkedKey = "demo-forked-platform"

// A platform is a client, a cache and a widget over the demo's registry,
// as a platform runs them.
type platform struct {
	qc *cache.Cache
	w  *widget.Widget
	h  http.Handler
}

func newPlatform(base string, at time.Time, clientOpts ...client.Option) (*platform, error) {
	api, err := client.New(append([]client.Option{client.WithBaseURL(base)}, clientOpts...)...)
	if err != nil {
		return nil, err
	}
	qc, err := cache.New(api)
	if err != nil {
		return nil, err
	}
	// The demo's products show their verdicts on the sandbox's reference
	// day; the badges are decided then. No shopper waits here: a badge
	// waits for the registry rather than render unknown on a loaded
	// machine.
	w, err := widget.New(qc, widget.WithClock(func() time.Time { return at }), widget.WithRenderTimeout(30*time.Second))
	if err != nil {
		qc.Close()
		return nil, err
	}
	return &platform{qc: qc, w: w, h: w.Handler("/quality/")}, nil
}

// badge is the .json badge the platform serves for gtin.
func (p *platform) badge(gtin client.GTIN) ([]byte, error) {
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/quality/badge/"+string(gtin)+".json", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("the .json badge of %s: %d %s", gtin, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	return rec.Body.Bytes(), nil
}

// demo renders badges on an embedded sandbox and checks them: a genuine
// one verifies, tampered ones and one from a forked view of the log do
// not. It returns 0 when each did as expected.
func demo(ctx context.Context, stdout, stderr io.Writer) int {
	if err := runDemo(ctx, stdout); err != nil {
		fmt.Fprintln(stderr, "qcverify demo:", err)
		return exitRefused
	}
	fmt.Fprintln(stdout, "qcverify demo: every badge did as expected")
	return exitOK
}

func runDemo(ctx context.Context, out io.Writer) error {
	sb, err := sandbox.New()
	if err != nil {
		return err
	}
	defer sb.Close()
	base, stop, err := sb.Start()
	if err != nil {
		return err
	}
	defer stop()
	at := sb.ReferenceTime().Add(12 * time.Hour)
	committed, withdrawn := demoGTIN(sb, client.VerdictCommitted), demoGTIN(sb, client.VerdictWithdrawn)
	if committed == "" || withdrawn == "" {
		return fmt.Errorf("the sandbox has no committed or no withdrawn demo product")
	}
	p, err := newPlatform(base, at)
	if err != nil {
		return err
	}
	defer p.qc.Close()
	fmt.Fprintf(out, "qcverify demo: an embedded sandbox at %s, badges decided at %s\n", base, at.Format(time.RFC3339))

	offline := &verifier{keys: sb.LogKeys(), now: time.Now}
	genuine, err := p.badge(committed)
	if err != nil {
		return err
	}
	if err := expect(ctx, out, offline, "the genuine .json badge of "+string(committed)+", with the registry's keys", genuine, ""); err != nil {
		return err
	}
	revoked, err := p.badge(withdrawn)
	if err != nil {
		return err
	}
	flipped, err := tamper(revoked, func(b map[string]any) { b["verdict"] = "committed"; b["status"] = "active" })
	if err != nil {
		return err
	}
	if err := expect(ctx, out, offline, "the withdrawn badge of "+string(withdrawn)+" flipped to committed", flipped, causeVerdict); err != nil {
		return err
	}
	edited, err := tamper(revoked, func(b map[string]any) {
		for _, r := range b["proof"].(map[string]any)["records"].([]any) {
			if rec := r.(map[string]any); rec["kind"] == "commitment" {
				rec["record"].(map[string]any)["status"] = "active"
			}
		}
		b["verdict"], b["status"] = "committed", "active"
	})
	if err != nil {
		return err
	}
	if err := expect(ctx, out, offline, "the same, its commitment record edited to active", edited, causeDigest); err != nil {
		return err
	}

	// A registry showing one platform a history of its own: its badges
	// verify with the keys alone, and not against the log everyone else
	// is shown.
	if _, err := sb.ForkLog(forkedKey); err != nil {
		return err
	}
	if _, err := sb.PublishInspection(demoGTIN(sb, client.VerdictInspectionFailed), client.InspectionPass); err != nil {
		return err
	}
	forked, err := newPlatform(base, at, client.WithAPIKey(forkedKey))
	if err != nil {
		return err
	}
	defer forked.qc.Close()
	split, err := forked.badge(committed)
	if err != nil {
		return err
	}
	reg, keys, err := openRegistry(ctx, base, "")
	if err != nil {
		return err
	}
	online := &verifier{keys: keys, reg: reg, now: time.Now}
	if err := expect(ctx, out, offline, "a badge from a forked view of the log, with the keys alone", split, ""); err != nil {
		return err
	}
	if err := expect(ctx, out, online, "the same, against the registry's own checkpoint", split, causeFork); err != nil {
		return err
	}
	return expect(ctx, out, online, "the genuine badge, against the registry's own checkpoint", genuine, "")
}

// expect verifies a badge and says how it went; want is the cause it
// should fail for, "" for none.
func expect(ctx context.Context, out io.Writer, v *verifier, what string, badge []byte, want string) error {
	_, err := v.verifyJSON(ctx, badge)
	got := causeOf(err)
	switch {
	case err == nil && want == "":
		fmt.Fprintf(out, "  verifies:     %s\n", what)
	case err != nil && got == want:
		fmt.Fprintf(out, "  refused:      %s (%s)\n", what, firstWords(err.Error()))
	case err == nil:
		return fmt.Errorf("%s verified; it should have failed (%s)", what, want)
	default:
		return fmt.Errorf("%s: %v; expected %s", what, err, orNone(want))
	}
	return nil
}

// tamper edits a copy of a .json badge.
func tamper(badge []byte, edit func(map[string]any)) ([]byte, error) {
	var b map[string]any
	if err := json.Unmarshal(badge, &b); err != nil {
		return nil, err
	}
	if _, ok := b["proof"].(map[string]any); !ok {
		return nil, fmt.Errorf("the badge carries no proof to tamper with")
	}
	edit(b)
	return json.Marshal(b)
}

func demoGTIN(sb *sandbox.Sandbox, v client.Verdict) client.GTIN {
	for _, p := range sb.Demo() {
		if p.Verdict == v {
			return p.GTIN
		}
	}
	return ""
}

// firstWords shortens a reason to a line.
func firstWords(s string) string {
	if r := []rune(s); len(r) > 110 {
		return string(r[:110]) + "…"
	}
	return s
}
