package client_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// referenceLeaf is LogLeaf's leaf written out the straightforward way,
// its digest from client.ReferenceDigest.
func referenceLeaf(t *testing.T, ev client.Event) []byte {
	t.Helper()
	var (
		kind, id string
		rec      any
	)
	switch {
	case ev.Enterprise != nil:
		kind, id, rec = "enterprise", ev.Enterprise.ID, ev.Enterprise
	case ev.Commitment != nil:
		kind, id, rec = "commitment", ev.Commitment.ID, ev.Commitment
	case ev.Inspection != nil:
		kind, id, rec = "inspection", ev.Inspection.ID, ev.Inspection
	case ev.Case != nil:
		kind, id, rec = "case", ev.Case.ID, ev.Case
	case ev.Category != nil:
		kind, id, rec = "category", ev.Category.Code, ev.Category
	case ev.Report != nil:
		kind, id, rec = "report", ev.Report.ID, ev.Report
	}
	d, err := client.ReferenceDigest(rec)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, "qcsdk record v1\nseq %d\nkind %s\nid %s\nsha256 %s\n",
		ev.Seq, kind, id, base64.StdEncoding.EncodeToString(d[:]))
}

// hostile is text that tests every rule of the canonical form: HTML
// characters encoding/json escapes by default, quotes and backslashes,
// control characters short and long, DEL and C1, U+2028 and U+2029 (which
// encoding/json escapes and RFC 8785 does not), a character beyond the
// BMP (a surrogate pair in UTF-16), a bidirectional override, a BOM, and
// broken UTF-8 (which encoding/json writes as U+FFFD).
const hostile = "<b>&amp;</b> \"q\" \\ / \b\f\n\r\t \x00\x01\x1f\x7f\u0080\u009f \u2028\u2029 😀𝄞 \u202e\ufeff 中文 é \xff\xe4\xb8 end"

// hostileEvents are records of every kind whose text is hostile, with
// the optional parts present and absent, empty and nil lists.
func hostileEvents() []client.Event {
	at := time.Date(2026, 12, 7, 8, 30, 15, 123456789, time.FixedZone("CST", 8*3600))
	done := at.Add(48 * time.Hour)
	txt := client.Text{ZH: hostile, EN: hostile + "!"}
	return []client.Event{
		{Seq: 1, Enterprise: &client.Enterprise{
			ID: "ent_1", USCC: "91330100MAAAWN1T5U", Name: txt, RegionCode: "330100",
			Region: client.Text{ZH: "浙江"}, Categories: []string{}, ListedAt: at,
			Version: 1, UpdatedAt: at, VerifyURL: "https://verify.example/e?a=1&b=<2>",
		}},
		{Seq: 2, Enterprise: &client.Enterprise{ID: "ent_2 <é😀\u2028\t\x00>", Name: client.Text{ZH: ""}, Version: 2}},
		{Seq: 3, Commitment: &client.Commitment{
			ID: "cmt_1", EnterpriseID: "ent_1", Category: hostile,
			Scope: client.Scope{Brands: []string{hostile, ""}, Models: []string{}, GTINPrefixes: []string{"0691"}},
			Items: []client.CommitmentItem{
				{Kind: "standard", Standard: "GB 4706.1-2005", Text: txt},
				{Kind: hostile},
			},
			EffectiveAt: at, Status: client.CommitmentRevoked, StatusChangedAt: at,
			StatusReason: &client.Text{ZH: hostile}, Version: 3, UpdatedAt: at, VerifyURL: hostile,
		}},
		{Seq: 4, Commitment: &client.Commitment{ID: "cmt_2", Items: []client.CommitmentItem{}}},
		{Seq: 5, Inspection: &client.Inspection{
			ID: "ins_1", EnterpriseID: "ent_1", Category: "toys",
			Product: client.SampledProduct{
				Name: txt, Brand: hostile, Model: "M\u2028", Batch: "\x00", GTIN: "06910000100003",
			},
			Authority: txt, SampledAt: at, PublishedAt: done, Result: client.InspectionFail,
			FailedItems: []client.FailedItem{
				{Item: txt, Requirement: "≥ 5 \"mm\"", Measured: "<3>"},
				{},
			},
			ReportNo: hostile,
			Rectification: &client.Rectification{
				Status: "completed", Deadline: done, CompletedAt: &done, Note: &txt,
			},
			Version: 5, UpdatedAt: done, VerifyURL: "https://v.example/" + hostile,
		}},
		{Seq: 6, Inspection: &client.Inspection{
			ID: "ins_2", FailedItems: []client.FailedItem{}, Rectification: &client.Rectification{},
		}},
		{Seq: 7, Case: &client.Case{
			ID: "case_1", Title: txt, Summary: txt, Brand: hostile, Platform: hostile, Authority: txt,
			PublishedAt: at, Clues: client.ClueCounts{Consumer: 3, RightsHolder: -1},
			Version: 7, UpdatedAt: at, VerifyURL: hostile,
		}},
		{Seq: 8, Category: &client.Category{Code: "toys", Name: txt, Version: 8, UpdatedAt: at}},
		{Seq: 9, Report: &client.ReportChange{
			ID: "rep_1", ReporterKind: client.ReporterConsumer, Status: client.ReportStatus(hostile),
			Outcome: client.ReportOutcome(hostile), CaseID: "case_1", At: at,
		}},
		{Seq: 1 << 62, Category: &client.Category{Code: "c", Version: -1 << 62}},
	}
}

// LogLeaf's digest is the reference's for records that exercise every
// escape and ordering rule: a faster canonical form that differs in one
// byte would make every leaf of the log another, and fail here.
func TestLogLeafMatchesReference(t *testing.T) {
	for _, ev := range hostileEvents() {
		got, err := client.LogLeaf(ev)
		if err != nil {
			t.Fatalf("change %d: %v", ev.Seq, err)
		}
		if want := referenceLeaf(t, ev); string(got) != string(want) {
			t.Errorf("change %d: leaf\n%s\nthe reference's\n%s", ev.Seq, got, want)
		}
	}
}

// The leaf of one hostile record is pinned, byte for byte, as the
// registry's logs hold it: neither LogLeaf nor the reference may drift.
func TestLogLeafPinned(t *testing.T) {
	ev := hostileEvents()[4]
	got, err := client.LogLeaf(ev)
	if err != nil {
		t.Fatal(err)
	}
	const want = "qcsdk record v1\nseq 5\nkind inspection\nid ins_1\nsha256 1a248mRiMvx8rACCUqQkZ/tbmBzVlx7jRZjWJznqyec=\n"
	if string(got) != want {
		t.Errorf("leaf\n%q\nwant\n%q", got, want)
	}
}

// Every record of the sandbox's data set, plain and hostile, has the
// reference's leaf.
func TestLogLeafMatchesReferenceOnSandbox(t *testing.T) {
	for _, hostileText := range []bool{false, true} {
		t.Run(fmt.Sprintf("hostile=%v", hostileText), func(t *testing.T) {
			opts := []sandbox.Option{sandbox.WithRateLimit(0, 0)}
			if hostileText {
				opts = append(opts, sandbox.WithHostileText())
			}
			_, c := setup(t, opts...)
			ctx := ctxT(t)
			evs := sandboxRecords(ctx, t, c)
			if len(evs) < 100 {
				t.Fatalf("the sandbox has %d records; want its data set", len(evs))
			}
			for _, ev := range evs {
				got, err := client.LogLeaf(ev)
				if err != nil {
					t.Fatal(err)
				}
				if want := referenceLeaf(t, ev); string(got) != string(want) {
					t.Fatalf("leaf\n%s\nthe reference's\n%s", got, want)
				}
			}
		})
	}
}

// sandboxRecords reads every enterprise, commitment, inspection, case and
// category the sandbox serves, each as the change that made it.
func sandboxRecords(ctx context.Context, t *testing.T, c *client.Client) []client.Event {
	t.Helper()
	var evs []client.Event
	for e, err := range c.Enterprises.All(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, client.Event{Seq: e.Version, Enterprise: &e})
		for cm, err := range c.Commitments.AllByEnterprise(ctx, e.ID, nil) {
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, client.Event{Seq: cm.Version, Commitment: &cm})
		}
	}
	for in, err := range c.Inspections.All(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, client.Event{Seq: in.Version, Inspection: &in})
	}
	for cs, err := range c.Cases.All(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, client.Event{Seq: cs.Version, Case: &cs})
	}
	catsPage, _, err := c.Categories.List(ctx)
	cats := catsPage.Data
	if err != nil {
		t.Fatal(err)
	}
	for i := range cats {
		evs = append(evs, client.Event{Seq: cats[i].Version, Category: &cats[i]})
	}
	return evs
}
