package widget

import (
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
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
