package audit_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/spill"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// BenchmarkAudit audits catalogues of 100,000 and 1,000,000 listings, 20
// listings per product on average in a shuffled order (and 1,000,000 over
// the 5,000 products of the first), against an unthrottled sandbox of as
// many products. The audit runs in a child
// process that streams the catalogue from a CSV file, so that its peak
// resident memory (VmHWM) is the audit's alone: the sandbox serving it is
// the parent's. It reports listings/s, the API calls against the minimum
// (distinct products / 100) and the peak RSS.
//
//	go test -run '^$' -bench Audit -benchtime 1x -count 3 ./audit/
func BenchmarkAudit(b *testing.B) {
	for _, size := range []struct{ listings, products int }{
		{100_000, 5_000}, {1_000_000, 50_000},
		// As many products as the first, ten times the listings: what
		// grows with the listings alone.
		{1_000_000, 5_000},
	} {
		n, products := size.listings, size.products
		b.Run(fmt.Sprintf("listings=%d/products=%d", n, products), func(b *testing.B) {
			srv := sandbox.NewServer(b, sandbox.WithSize(products/20, products), sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(refTime))
			path := filepath.Join(b.TempDir(), "catalogue.csv")
			writeBigCatalogue(b, srv, path, n, products)
			benchAuditChild(b, srv, path, n, products)
		})
	}
}

// BenchmarkAuditSpill audits catalogues of more distinct products than
// the 100,000 answers a run holds in memory (QCSDK_BENCH_LISTINGS and
// QCSDK_BENCH_PRODUCTS, default 1,000,000 over 300,000), in a shuffled
// order, twice in the same run: remembering only what memory holds (the
// baseline: answers past it forgotten and looked up again), and with the
// answers past it spilled to disk (audit/spill).
//
//	go test -run '^$' -bench AuditSpill -benchtime 1x ./audit/
func BenchmarkAuditSpill(b *testing.B) {
	n, products := envInt("QCSDK_BENCH_LISTINGS", 1_000_000), envInt("QCSDK_BENCH_PRODUCTS", 300_000)
	srv := sandbox.NewServer(b, sandbox.WithSize(products/20, products), sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(refTime))
	path := filepath.Join(b.TempDir(), "catalogue.csv")
	writeBigCatalogue(b, srv, path, n, products)
	for _, spilled := range []bool{false, true} {
		b.Run(fmt.Sprintf("listings=%d/products=%d/spill=%v", n, products, spilled), func(b *testing.B) {
			var env []string
			if spilled {
				env = append(env, "QCSDK_AUDIT_SPILL=1")
			}
			benchAuditChild(b, srv, path, n, products, env...)
		})
	}
}

// BenchmarkAuditSpillResume kills the audit of BenchmarkAuditSpill halfway
// and resumes it from its journal, spilling answers past memory to disk,
// and reports the lookups the resumed run repeated.
//
//	go test -run '^$' -bench AuditSpillResume -benchtime 1x ./audit/
func BenchmarkAuditSpillResume(b *testing.B) {
	n, products := envInt("QCSDK_BENCH_LISTINGS", 1_000_000), envInt("QCSDK_BENCH_PRODUCTS", 300_000)
	srv := sandbox.NewServer(b, sandbox.WithSize(products/20, products), sandbox.WithRateLimit(0, 0), sandbox.WithReferenceTime(refTime))
	path := filepath.Join(b.TempDir(), "catalogue.csv")
	writeBigCatalogue(b, srv, path, n, products)
	for _, spilled := range []bool{false, true} {
		b.Run(fmt.Sprintf("killed-at=%d/spill=%v", n/2, spilled), func(b *testing.B) {
			env := []string{"QCSDK_AUDIT_KILL_AT=" + strconv.Itoa(n/2)}
			if spilled {
				env = append(env, "QCSDK_AUDIT_SPILL=1")
			}
			var last childReport
			for range b.N {
				last = auditChild(b, srv.URL, path, env...)
			}
			if last.Listings != n {
				b.Fatalf("audited %d listings of %d", last.Listings, n)
			}
			b.ReportMetric(float64(last.Keys-products), "repeated-lookups")
			b.ReportMetric(float64(last.Calls), "calls")
			b.ReportMetric(float64(last.PeakKB)/1024, "peak-RSS-MB")
		})
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchAuditChild runs the audit of the catalogue at path in a child
// process and reports its figures.
func benchAuditChild(b *testing.B, srv *sandbox.Server, path string, n, products int, env ...string) {
	var last childReport
	b.ResetTimer()
	for range b.N {
		last = auditChild(b, srv.URL, path, env...)
	}
	b.StopTimer()
	if last.Listings != n {
		b.Fatalf("audited %d listings of %d", last.Listings, n)
	}
	b.ReportMetric(float64(last.Listings)/last.Seconds, "listings/s")
	b.ReportMetric(float64(last.Calls), "calls")
	b.ReportMetric(float64((products+99)/100), "min-calls")
	b.ReportMetric(float64(last.Calls)/float64((products+99)/100), "calls/min")
	b.ReportMetric(float64(last.Keys-products), "repeated-lookups")
	b.ReportMetric(float64(last.PeakKB)/1024, "peak-RSS-MB")
}

// writeBigCatalogue writes n listings over the sandbox's first products
// products, each about n/products times, shuffled.
func writeBigCatalogue(b *testing.B, srv *sandbox.Server, path string, n, products int) {
	ents, _ := srv.Size()
	gtins := make([]client.GTIN, 0, products)
	for j := 0; len(gtins) < products; j++ {
		for e := 0; e < ents && len(gtins) < products; e++ {
			if p, ok := srv.Product(e, j); ok {
				gtins = append(gtins, p.GTIN)
			}
		}
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i % len(gtins))
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	cw := csv.NewWriter(w)
	cw.Write([]string{"listing_id", "seller", "title", "gtin"})
	for i, p := range order {
		cw.Write([]string{"L" + strconv.Itoa(i), "shop" + strconv.Itoa(i%977), "listing " + strconv.Itoa(i), string(gtins[p])})
	}
	cw.Flush()
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// childReport is what the audit's child process measured.
type childReport struct {
	Listings, Keys, Calls, Findings int
	Seconds                         float64
	PeakKB                          int
}

func auditChild(b *testing.B, api, path string, env ...string) childReport {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAuditChild$")
	cmd.Env = append(append(os.Environ(), "QCSDK_AUDIT_CHILD="+api+" "+path), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("the audit child: %v\n%s", err, out)
	}
	_, line, ok := strings.Cut(string(out), "audit-child: ")
	if !ok {
		b.Fatalf("the audit child said nothing:\n%s", out)
	}
	line, _, _ = strings.Cut(line, "\n")
	var rep childReport
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		b.Fatalf("the audit child's report %q: %v", line, err)
	}
	return rep
}

// TestAuditChild is the audit BenchmarkAudit measures, run in a process
// of its own; it does nothing in an ordinary test run.
func TestAuditChild(t *testing.T) {
	arg := os.Getenv("QCSDK_AUDIT_CHILD")
	if arg == "" {
		t.Skip("run by BenchmarkAudit")
	}
	base, path, _ := strings.Cut(arg, " ")
	api, err := client.New(client.WithBaseURL(base))
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	var sum audit.Summary
	opts := func() *audit.Options {
		o := &audit.Options{Clock: now}
		if os.Getenv("QCSDK_AUDIT_SPILL") != "" {
			store, err := spill.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			o.Answers = store
		}
		return o
	}
	if killAt, _ := strconv.Atoi(os.Getenv("QCSDK_AUDIT_KILL_AT")); killAt > 0 {
		sum = killAndResume(t, api, f, killAt, opts)
	} else {
		sum, err = audit.Run(context.Background(), api, audit.ReadCSV(bufio.NewReaderSize(f, 1<<16), nil), audit.NewCSVWriter(io.Discard, false), opts())
		if err != nil {
			t.Fatal(err)
		}
	}
	rep := childReport{Listings: sum.Listings, Keys: sum.Keys, Calls: sum.Calls, Findings: int(sum.Findings), Seconds: time.Since(start).Seconds(), PeakKB: vmHWM(t)}
	j, _ := json.Marshal(rep)
	fmt.Printf("audit-child: %s\n", j)
}

// killAndResume runs an audit that is cancelled once killAt listings were
// read, then the same audit again from its checkpoint journal, and returns
// the resumed run's summary, which counts the whole audit.
func killAndResume(t *testing.T, api *client.Client, f *os.File, killAt int, opts func() *audit.Options) audit.Summary {
	dir := t.TempDir()
	journal := audit.FileCheckpoint{Path: filepath.Join(dir, "journal")}
	output := filepath.Join(dir, "findings.csv")
	pass := func(kill bool) (audit.Summary, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		cp, _, err := journal.Load(func(audit.Answer) {})
		if err != nil {
			t.Fatal(err)
		}
		out, err := audit.OpenOutput(output, cp)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		listings := audit.ReadCSV(bufio.NewReaderSize(f, 1<<16), nil)
		if kill {
			all := listings
			listings = func(yield func(audit.Listing, error) bool) {
				read := 0
				for l, err := range all {
					if read++; read == killAt {
						cancel() // the kill: nothing after it is written
					}
					if !yield(l, err) {
						return
					}
				}
			}
		}
		o := opts()
		o.Checkpoint = journal
		return audit.Run(ctx, api, listings, audit.NewCSVWriter(out, false), o)
	}
	if _, err := pass(true); err == nil {
		t.Fatal("the killed run finished")
	}
	sum, err := pass(false)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// vmHWM is this process's peak resident memory, in kB.
func vmHWM(t *testing.T) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}
