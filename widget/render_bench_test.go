package widget

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

var sinkText string

// BenchmarkColdRender is a badge rendered from scratch with html/template,
// as on the first view of a product version in a look. Goal: at most
// 15 µs.
//
//	go test -run '^$' -bench 'ColdRender' -benchmem ./widget/
func BenchmarkColdRender(b *testing.B) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	st := &client.ProductStatus{
		Key:    client.ProductKey{GTIN: "06910000100003"},
		Listed: true,
		Commitment: &client.Commitment{
			ID: "cmt_0000001_1", Status: client.CommitmentActive,
			EffectiveAt: now.AddDate(-1, 0, 0), ExpiresAt: now.AddDate(2, 0, 0),
			VerifyURL: "https://" + DefaultVerifyHost + "/commitments/cmt_0000001_1",
		},
		Inspections: []client.Inspection{{ID: "ins_1", Result: client.InspectionPass, PublishedAt: now.AddDate(0, -1, 0)}},
		Version:     30,
	}
	w := &Widget{verifyHost: DefaultVerifyHost}
	d := client.Decide(st, now, 0)
	v := &verdict{st: st, d: &d}
	for _, c := range []struct {
		name   string
		render renderFunc
	}{{"html", w.renderHTML}, {"svg", w.renderSVG}, {"jsonld", w.renderJSONLD}} {
		b.Run("kind="+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkText = c.render(v, Look{})
			}
			if sinkText == "" {
				b.Fatal("empty rendering")
			}
		})
	}
}

// BenchmarkColdRenderJSON is a .json badge, and a JSON-LD, rendered from
// scratch for a committed product of the sandbox (its maker, commitment
// and a passed inspection, as the registry answers them), without and
// with the proof its status carries. bytes/badge is the rendering's size.
//
//	go test -run '^$' -bench 'ColdRenderJSON' -benchmem ./widget/
func BenchmarkColdRenderJSON(b *testing.B) {
	srv := sandbox.NewServer(b)
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	st, _, err := api.Products.ByGTIN(context.Background(), "06910000100003", nil)
	if err != nil {
		b.Fatal(err)
	}
	if st.Proof == nil || len(st.Inspections) == 0 {
		b.Fatalf("the status of a committed product: proof %v, %d inspections", st.Proof, len(st.Inspections))
	}
	bare := *st
	bare.Proof = nil
	w := &Widget{verifyHost: DefaultVerifyHost}
	now := srv.ReferenceTime().Add(12 * time.Hour)
	for _, c := range []struct {
		name   string
		st     *client.ProductStatus
		render renderFunc
	}{
		{"kind=json/proof=none", &bare, w.renderJSON}, {"kind=json/proof=carried", st, w.renderJSON},
		{"kind=jsonld/proof=none", &bare, w.renderJSONLD}, {"kind=jsonld/proof=carried", st, w.renderJSONLD},
	} {
		b.Run(c.name, func(b *testing.B) {
			v := decidedVerdict(c.st, now)
			if v.d.Verdict != client.VerdictCommitted {
				b.Fatalf("verdict %s", v.d.Verdict)
			}
			b.ReportAllocs()
			for b.Loop() {
				sinkText = c.render(v, Look{})
			}
			if strings.Contains(sinkText, `proof":{"checkpoint":`) != (c.st.Proof != nil) {
				b.Fatalf("proof carried %v:\n%s", c.st.Proof != nil, sinkText)
			}
			b.ReportMetric(float64(len(sinkText)), "bytes/badge")
		})
	}
}
