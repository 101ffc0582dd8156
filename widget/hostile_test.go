package widget

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// hostile are strings an attacker (or a broken upstream) could put in
// any text field of the registry's answer.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`</script><script>alert(1)</script>`,
	`javascript:alert(document.cookie)`,
	`data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==`,
	"\u2028\u2029 line separators",
	"\u202e RTL override",
	"broken \xff\xfe utf-8",
	`{{ .Secret }} ${7*7}`,
	`' onmouseover='alert(1)`,
	strings.Repeat("长", 5000),
}

func hostileStatus() *client.ProductStatus {
	now := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	return &client.ProductStatus{
		Key:        client.ProductKey{GTIN: "06910000100003"},
		Listed:     true,
		Product:    &client.Product{Name: client.Text{ZH: "电水壶", EN: "Kettle"}, Brand: "清源", Model: "K1"},
		Enterprise: &client.Enterprise{ID: "ent_1", Name: client.Text{ZH: "清源", EN: "Qingyuan"}},
		Commitment: &client.Commitment{ID: "cmt_1", Status: client.CommitmentActive, EffectiveAt: now.AddDate(-1, 0, 0),
			VerifyURL: "https://" + DefaultVerifyHost + "/commitments/cmt_1"},
		Inspections: []client.Inspection{{ID: "ins_1", Result: client.InspectionFail, PublishedAt: now.AddDate(0, 0, -3),
			VerifyURL: "https://" + DefaultVerifyHost + "/inspections/ins_1"}},
		Version: 9,
		Proof: &client.StatusProof{Checkpoint: "registry.example/log\n12\nAAAA\n\n— registry.example sig\n", Records: []client.RecordProof{
			{Kind: "enterprise", ID: "ent_1", Seq: 3, Proof: []client.LogHash{{1}}},
			{Kind: "commitment", ID: "cmt_1", Seq: 7, Proof: []client.LogHash{{2}}},
			{Kind: "inspection", ID: "ins_1", Seq: 9, Proof: []client.LogHash{{3}}},
		}},
	}
}

// withVersions gives st's records the positions its proof names, so that
// its badge carries the proof.
func withVersions(st *client.ProductStatus) *client.ProductStatus {
	st.Enterprise.Version, st.Commitment.Version, st.Inspections[0].Version = 3, 7, 9
	return st
}

// decidedVerdict is the verdict on st at now, kept in its own renderings
// as the widget keeps it, so that its .json badge carries its proof.
func decidedVerdict(st *client.ProductStatus, now time.Time) *verdict {
	rs := &renderSlots{st: st}
	p := &decided{d: client.Decide(st, now, 0), from: now}
	rs.decided.Store(p)
	return &verdict{st: st, d: &p.d, slots: rs}
}

// Every hostile string in every field a rendering can show: the HTML and
// the SVG stay free of markup from the data, the JSON-LD and JSON stay
// valid JSON that cannot close their element, and links stay on the
// allow-list.
func TestHostileStringsInEveryField(t *testing.T) {
	fields := map[string]func(st *client.ProductStatus, s string){
		"product name zh":     func(st *client.ProductStatus, s string) { st.Product.Name.ZH = s },
		"product name en":     func(st *client.ProductStatus, s string) { st.Product.Name.EN = s },
		"brand":               func(st *client.ProductStatus, s string) { st.Product.Brand = s },
		"model":               func(st *client.ProductStatus, s string) { st.Product.Model = s },
		"product gtin":        func(st *client.ProductStatus, s string) { st.Product.GTIN = client.GTIN(s) },
		"enterprise name":     func(st *client.ProductStatus, s string) { st.Enterprise.Name.ZH = s; st.Enterprise.Name.EN = s },
		"commitment id":       func(st *client.ProductStatus, s string) { st.Commitment.ID = s },
		"commitment url":      func(st *client.ProductStatus, s string) { st.Commitment.VerifyURL = s },
		"commitment url path": func(st *client.ProductStatus, s string) { st.Commitment.VerifyURL += "/" + s },
		"inspection url":      func(st *client.ProductStatus, s string) { st.Inspections[0].VerifyURL = s },
		"commitment status":   func(st *client.ProductStatus, s string) { st.Commitment.Status = client.CommitmentStatus(s) },
		"inspection result":   func(st *client.ProductStatus, s string) { st.Inspections[0].Result = client.InspectionResult(s) },
	}
	// Fields that reach a badge only through its proof: the checkpoint
	// and the inclusion proofs as served, and every field of the records
	// the .json badge carries.
	proofFields := map[string]func(st *client.ProductStatus, s string){
		"checkpoint": func(st *client.ProductStatus, s string) { st.Proof.Checkpoint = s },
		"enterprise id": func(st *client.ProductStatus, s string) {
			st.Enterprise.ID, st.Proof.Records[0].ID = s, s
			st.Commitment.EnterpriseID, st.Inspections[0].EnterpriseID = s, s
		},
		"enterprise region": func(st *client.ProductStatus, s string) { st.Enterprise.Region.ZH = s },
		"commitment reason": func(st *client.ProductStatus, s string) { st.Commitment.StatusReason = &client.Text{ZH: s, EN: s} },
		"commitment item": func(st *client.ProductStatus, s string) {
			st.Commitment.Items = []client.CommitmentItem{{Kind: s, Standard: s, Text: client.Text{ZH: s}}}
		},
		"inspection authority": func(st *client.ProductStatus, s string) { st.Inspections[0].Authority.ZH = s },
		"inspection measured": func(st *client.ProductStatus, s string) {
			st.Inspections[0].FailedItems = []client.FailedItem{{Item: client.Text{ZH: s}, Requirement: s, Measured: s}}
		},
		"inspection id": func(st *client.ProductStatus, s string) { st.Inspections[0].ID, st.Proof.Records[2].ID = s, s },
	}
	for name, set := range proofFields {
		fields[name] = func(st *client.ProductStatus, s string) { withVersions(st); set(st, s) }
	}
	w := &Widget{verifyHost: DefaultVerifyHost}
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	for name, set := range fields {
		for _, h := range hostile {
			st := hostileStatus()
			set(st, h)
			v := decidedVerdict(st, now)
			d := *v.d
			for _, look := range []Look{{}, {Locale: LocaleEN, Theme: ThemeDark, Size: SizeCompact}} {
				for kind, out := range map[string]string{
					"html": w.renderHTML(v, look), "svg": w.renderSVG(v, look),
				} {
					low := strings.ToLower(out)
					if strings.Contains(low, "<script") || strings.Contains(low, "<img") || strings.Contains(low, " onerror=") ||
						strings.Contains(low, " onmouseover=") || strings.Contains(out, `href="javascript`) || strings.Contains(out, `href="data`) {
						t.Errorf("%s = %.40q: the %s carries markup from the data:\n%s", name, h, kind, out)
					}
					if i := strings.Index(out, `href="`); i >= 0 && !strings.HasPrefix(out[i+6:], "https://"+DefaultVerifyHost+"/") {
						t.Errorf("%s = %.40q: the %s links off the allow-list:\n%s", name, h, kind, out)
					}
					if len(out) > 2048 && kind == "html" {
						t.Errorf("%s = %.40q: the badge is %d bytes", name, h, len(out))
					}
				}
				for kind, out := range map[string]string{"jsonld": w.renderJSONLD(v, look), "json": w.renderJSON(v, look)} {
					if out == "" {
						continue
					}
					inner := strings.TrimSuffix(strings.TrimPrefix(out, `<script type="application/ld+json">`), `</script>`)
					if strings.ContainsAny(inner, "<>") || strings.Contains(inner, "\u2028") {
						t.Errorf("%s = %.40q: the %s has a raw < > or U+2028:\n%.300s", name, h, kind, inner)
					}
					var v map[string]any
					if err := json.Unmarshal([]byte(inner), &v); err != nil {
						t.Errorf("%s = %.40q: the %s is not JSON: %v", name, h, kind, err)
					}
					if strings.Contains(inner, "javascript:") && strings.Contains(inner, `"url":"javascript`) {
						t.Errorf("%s = %.40q: the %s names a script URL", name, h, kind)
					}
					// The proof's strings are in it, escaped: a test of
					// escaping that rendered no proof would prove nothing.
					_, proofField := proofFields[name]
					if proofField && d.Verdict != client.VerdictUnknown && !strings.Contains(inner, `proof":{"checkpoint":`) {
						t.Errorf("%s = %.40q: the %s carries no proof:\n%.300s", name, h, kind, inner)
					}
				}
			}
		}
	}
}
