package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

const batchRoute = "POST /v1/products/batch"

var refTime = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// now is the clock of every run: noon on the sandbox's reference day.
func now() time.Time { return refTime.Add(12 * time.Hour) }

type env struct {
	srv *sandbox.Server
	api *client.Client
}

func newEnv(t *testing.T, opts ...sandbox.Option) *env {
	t.Helper()
	srv := sandbox.NewServer(t, append([]sandbox.Option{sandbox.WithReferenceTime(refTime)}, opts...)...)
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	return &env{srv: srv, api: api}
}

// keys names distinct products of the sandbox: the curated demo ones, by
// GTIN and by USCC, brand and model, a product whose maker is not
// listed, and generated ones, n in all.
func (e *env) keys(t *testing.T, n int) []client.ProductKey {
	t.Helper()
	var ks []client.ProductKey
	for i, d := range e.srv.Demo() {
		if i%2 == 0 {
			ks = append(ks, client.ProductKey{GTIN: d.GTIN})
		} else {
			ks = append(ks, client.ProductKey{USCC: d.USCC, Brand: d.Brand, Model: d.Model})
		}
	}
	ks = append(ks, client.ProductKey{GTIN: e.srv.NotListedGTIN()})
	ents, _ := e.srv.Size()
	for j := 0; len(ks) < n; j++ {
		for en := 12; en < ents && len(ks) < n; en++ {
			if p, ok := e.srv.Product(en, j); ok {
				ks = append(ks, client.ProductKey{GTIN: p.GTIN})
			}
		}
	}
	return ks[:n]
}

// catalogue is a generated catalogue: CSV text, the listings it holds,
// and the lines of its malformed rows.
type catalogue struct {
	csv      []byte
	listings []audit.Listing
	bad      []int
}

var hostileTitles = []string{"=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcr",
	"x;=cmd|' /C calc'!A0", "  =1+1", "\x00=NUL", "\uFF1D1+1", "\uFF0B1", "\uFF0D1", "\uFF20SUM(A1)",
	"kettle, =1+1", "a;\"=2+2", "a;  \"\"@x", "tab\t-3"}

// makeCatalogue writes n listings over keys, each key used about n/len
// times in a shuffled order, and a malformed row of each kind every
// badEvery rows (0: none).
func makeCatalogue(t *testing.T, keys []client.ProductKey, n, badEvery int) catalogue {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	order := make([]int, n)
	for i := range order {
		order[i] = i % len(keys)
	}
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

	var b bytes.Buffer
	b.WriteString("Listing ID,Shop,Title,EAN,USCC,Brand,Model\n")
	line := 1
	var c catalogue
	bads := []string{
		"bad-gtin,s,t,6901234567893,,,\n",             // wrong check digit
		"bad-uscc,s,t,,91350100M0O0100Y43,Brand,M1\n", // letter O
		"bad-cols,s,t,6901234567892\n",                // 4 cells
		"bad-quote,s,ti\"tle,6901234567892,,,\n",      // bare quote
		"bad-utf8,s,t\xff\xfe,6901234567892,,,\n",     // invalid UTF-8
		"no-key,s,t,,,,\n",                            // nothing to look up
		"no-brand,s,t,,91350100M000100Y43,,\n",        // USCC without a brand
	}
	bi := 0
	for i, k := range order {
		if badEvery > 0 && i%badEvery == badEvery-1 {
			line++
			b.WriteString(bads[bi%len(bads)])
			c.bad = append(c.bad, line)
			bi++
		}
		key := keys[k]
		title := fmt.Sprintf("Listing %d of product %d", i, k)
		if i%97 == 0 {
			title = hostileTitles[(i/97)%len(hostileTitles)]
		}
		l := audit.Listing{ID: fmt.Sprintf("L%05d", i), Seller: fmt.Sprintf("seller-%d", i%13), Title: title, Key: key}
		line++
		l.Line = line
		cw := csv.NewWriter(&b)
		if err := cw.Write([]string{l.ID, l.Seller, l.Title, string(key.GTIN), string(key.USCC), key.Brand, key.Model}); err != nil {
			t.Fatal(err)
		}
		cw.Flush()
		c.listings = append(c.listings, l)
	}
	c.csv = b.Bytes()
	return c
}

// expected is what a run must find, decided here key by key with
// client.Decide on the registry's own answer.
func (e *env) expected(t *testing.T, c catalogue, all bool) []audit.Finding {
	t.Helper()
	type decided struct {
		d    client.Decision
		code audit.ReasonCode
	}
	verdicts := map[client.ProductKey]decided{}
	var out []audit.Finding
	for _, l := range c.listings {
		dc, ok := verdicts[l.Key]
		if !ok {
			st, _, err := e.api.Products.ByKey(context.Background(), l.Key, nil)
			if err != nil {
				t.Fatal(err)
			}
			dc.d = client.Decide(st, now(), 0)
			// The reason codes' rules, said again from the decision.
			switch dc.d.Verdict {
			case client.VerdictCommitted:
				dc.code = audit.CodeCommitted
			case client.VerdictInspectionFailed:
				dc.code = audit.CodeFailedInspection
			case client.VerdictWithdrawn:
				dc.code = audit.ReasonCode(dc.d.Status) // revoked, suspended, expired
			case client.VerdictNotListed:
				switch {
				case !st.Listed:
					dc.code = audit.CodeMakerNotListed
				case dc.d.Commitment == nil:
					dc.code = audit.CodeNotCovered
				default:
					dc.code = audit.CodeNotInForce
				}
			default:
				dc.code = audit.CodeUnreadable
			}
			verdicts[l.Key] = dc
		}
		d := dc.d
		if d.Verdict == client.VerdictCommitted && !all {
			continue
		}
		f := audit.Finding{Listing: l, Verdict: d.Verdict, Code: dc.code}
		if d.Commitment != nil {
			f.CommitmentID = d.Commitment.ID
		}
		if d.Inspection != nil {
			f.InspectionID = d.Inspection.ID
		}
		out = append(out, f)
	}
	return out
}

// sink is a FindingWriter that keeps findings.
type sink struct{ got []audit.Finding }

func (s *sink) Write(f audit.Finding) error { s.got = append(s.got, f); return nil }
func (s *sink) Flush() error                { return nil }

// memCheckpoint is a CheckpointStore in memory.
type memCheckpoint struct {
	cp      audit.Checkpoint
	ok      bool
	answers []audit.Answer
	saves   int
}

func (m *memCheckpoint) Load(answer func(audit.Answer)) (audit.Checkpoint, bool, error) {
	for _, a := range m.answers {
		answer(a)
	}
	return m.cp, m.ok, nil
}

func (m *memCheckpoint) Save(cp audit.Checkpoint, answers []audit.Answer) error {
	m.cp, m.ok = cp, true
	m.answers = append(m.answers, answers...)
	m.saves++
	return nil
}
