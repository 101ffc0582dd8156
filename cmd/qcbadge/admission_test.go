package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// coldGTINs is n distinct valid GTINs nobody sells, as a flood of random
// barcodes sends them.
func coldGTINs(seed uint64, n int) []string {
	rnd := rand.New(rand.NewPCG(seed, seed))
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		g := fmt.Sprintf("0698%09d", rnd.IntN(1_000_000_000))
		sum := 0
		for i := range len(g) {
			d := int(g[len(g)-1-i] - '0')
			if i%2 == 0 {
				d *= 3
			}
			sum += d
		}
		g += fmt.Sprint((10 - sum%10) % 10)
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// batchOf asks the batch endpoint for gtins, with the request headers in
// header (name, value, …), and returns its badges.
func batchOf(t *testing.T, hs *httptest.Server, gtins []string, header ...string) []badgeItem {
	t.Helper()
	url := hs.URL + "/quality/badges?gtin=" + strings.Join(gtins, "&gtin=")
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Badges []badgeItem }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("batch of %d: %d %v", len(gtins), resp.StatusCode, err)
	}
	if len(got.Badges) != len(gtins) {
		t.Fatalf("%d badges for %d products", len(got.Badges), len(gtins))
	}
	return got.Badges
}

func countUnknown(badges []badgeItem) int {
	n := 0
	for _, b := range badges {
		if strings.Contains(b.HTML, "qcb-unknown") {
			n++
		}
	}
	return n
}

// The batch endpoint is public: a flood of listings of random barcodes
// from one address has its cold products looked up within that
// address's limit, as the single badge endpoint's are, and the rest are
// the unknown badge at once, counted. Before, each batch looked all of
// its cold products up at the platform's priority.
func TestBatchColdLookupsAreAdmittedPerAddress(t *testing.T) {
	s, hs := newTestService(t)
	const batches = 3
	before := s.qc.Stats().Misses
	start := time.Now()
	unknown := 0
	for i := range batches {
		unknown += countUnknown(batchOf(t, hs, coldGTINs(uint64(i)+1, maxBatch)))
	}
	// The address's budget refills as the test runs, by the real clock:
	// what it may have admitted is bounded by the time the test took.
	admissible := widget.DefaultBadgeLookupBurstPerAddress + int(widget.DefaultBadgeLookupRatePerAddress*time.Since(start).Seconds()) + 1
	looked := int(s.qc.Stats().Misses - before)
	if looked > admissible {
		t.Errorf("%d listings of %d cold products from one address: %d looked up; want at most %d (the address's burst, and its refill while the test ran)",
			batches, maxBatch, looked, admissible)
	}
	if want := batches*maxBatch - admissible; unknown < want {
		t.Errorf("%d badges unknown; want at least %d", unknown, want)
	}
	if th := s.badges.Stats().BadgesThrottled; int(th) != batches*maxBatch-looked {
		t.Errorf("BadgesThrottled = %d; want %d, every cold product not looked up", th, batches*maxBatch-looked)
	}
	if m := scrapeMetrics(t, hs)["qcbadge_badges_rate_limited_total"]; m != float64(s.badges.Stats().BadgesThrottled) {
		t.Errorf("qcbadge_badges_rate_limited_total is %v; want %d", m, s.badges.Stats().BadgesThrottled)
	}
}

// Warm badges are served in a batch whatever the address's budget says.
func TestBatchServesWarmBadgesWithTheBudgetSpent(t *testing.T) {
	s, hs := newTestService(t)
	var warm []string
	var args []client.GTIN
	for _, p := range demo(t) {
		warm = append(warm, string(p.GTIN))
		args = append(args, p.GTIN)
	}
	look, err := s.badges.RequestLook(httptest.NewRequest(http.MethodGet, "/quality/badges", nil))
	if err != nil {
		t.Fatal(err)
	}
	words := []string{look.Locale.String(), look.Theme.String(), look.Size.String()}
	own := s.badges.Page(context.Background(), args...) // the platform's own page warms them
	want := make(map[string]string)
	for _, g := range warm {
		b, _ := own.Badge(g, words...)
		want[g] = string(b)
	}
	own.Close()

	// Spend the address's budget, and more.
	for i := range 2 {
		batchOf(t, hs, coldGTINs(uint64(10+i), maxBatch))
	}
	throttled := s.badges.Stats().BadgesThrottled
	if throttled == 0 {
		t.Fatal("two listings of cold products from one address: nothing throttled")
	}
	got := batchOf(t, hs, append(warm, coldGTINs(20, 1)...))
	for i, g := range warm {
		if got[i].HTML != want[g] {
			t.Errorf("warm %s with the budget spent:\n%s\nwant\n%s", g, got[i].HTML, want[g])
		}
	}
	if !strings.Contains(got[len(warm)].HTML, "qcb-unknown") {
		t.Errorf("a cold product with the budget spent: %s; want the unknown badge", got[len(warm)].HTML)
	}
}
