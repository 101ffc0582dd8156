package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// The flood harness: off unless -flood names how long to flood.
//
//	go test ./cmd/qcbadge -run TestBatchFlood -v -flood 20s [-flood-rate 119] [-flood-addrs 1000] [-flood-quota 200] [-flood-cold-pages=false]
var (
	floodFor   = flag.Duration("flood", 0, "run TestBatchFlood: flood the batch endpoint this long")
	floodRate  = flag.Float64("flood-rate", 119, "TestBatchFlood: batch requests a second, each of 100 random valid GTINs")
	floodAddrs = flag.Int("flood-addrs", 1000, "TestBatchFlood: client addresses the flood comes from (X-Forwarded-For through a trusted proxy)")
	floodQuota = flag.Float64("flood-quota", 200, "TestBatchFlood: the registry's quota, calls a second")
	floodCold  = flag.Bool("flood-cold-pages", true, "TestBatchFlood: the platform views cold pages too (each brings 60 new products into the cache)")
)

// TestBatchFlood floods GET /quality/badges with listings of random valid
// barcodes while the platform's own pages (60 badges, through
// Widget.Page) are viewed warm and cold in turn, and reports the
// registry calls a second against the quota, the share of unknown badges
// on the platform's pages, and the memory before, during and after.
// The registry is the sandbox, answering 429 past -flood-quota.
func TestBatchFlood(t *testing.T) {
	if *floodFor <= 0 {
		t.Skip("a measurement, not a test: run with -flood 20s")
	}
	sb, err := sandbox.New(sandbox.WithRateLimit(*floodQuota, int(*floodQuota)))
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := sb.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	defer stop()
	cfg, err := parseConfig(nil, envOf("QC_API_URL", base, "QC_API_KEY", "flood-test", "QC_VERIFY_HOST", widget.DefaultVerifyHost,
		"QC_TRUSTED_PROXIES", "127.0.0.0/8,::1", "QC_FOLLOW", "false"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newService(context.Background(), cfg, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	srv := &http.Server{Handler: s.routes()}
	hs := newListener(t, srv)

	// The platform's warm products: viewed once before the flood.
	const perPage = 60
	warm := coldGTINs(900, 10*perPage)
	for i := 0; i < len(warm); i += perPage {
		s.badges.Page(context.Background(), gtinsOf(warm[i:i+perPage])...).Close()
	}
	if m := s.qc.Stats().Misses; m != int64(len(warm)) {
		t.Logf("warmed %d of %d products", m, len(warm))
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore, rssBefore := ms.HeapAlloc, selfRSS()
	upBefore, missBefore := upstreamCalls(s), s.qc.Stats().Misses
	thBefore := s.badges.Stats().BadgesThrottled

	ctx, cancel := context.WithTimeout(context.Background(), *floodFor)
	defer cancel()
	var wg sync.WaitGroup
	var sent, answered, failed, missed atomic.Int64
	// The flood: open loop, a request every 1/rate, at most 512 in flight.
	wg.Go(func() {
		slots := make(chan struct{}, 512)
		tick := time.NewTicker(time.Duration(float64(time.Second) / *floodRate))
		defer tick.Stop()
		rnd := rand.New(rand.NewPCG(1, 2))
		var n uint64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case slots <- struct{}{}:
			default:
				missed.Add(1)
				continue
			}
			n++
			gtins := coldGTINs(n*7919+rnd.Uint64N(1<<30), maxBatch)
			addr := fmt.Sprintf("198.%d.%d.%d", 18+rnd.IntN(2), rnd.IntN(*floodAddrs)/250, rnd.IntN(*floodAddrs)%250)
			if *floodAddrs == 1 {
				addr = "198.18.0.1"
			}
			sent.Add(1)
			wg.Go(func() {
				defer func() { <-slots }()
				req, _ := http.NewRequest(http.MethodGet, hs+"/quality/badges?gtin="+strings.Join(gtins, "&gtin="), nil)
				req.Header.Set("X-Forwarded-For", addr)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					failed.Add(1)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					answered.Add(1)
				} else {
					failed.Add(1)
				}
			})
		}
	})
	// The platform's own pages, 10 a second, warm and cold in turn.
	var warmPages, warmUnknown, coldPages, coldUnknown atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := uint64(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var gtins []string
			if i%2 == 1 && !*floodCold {
				continue
			}
			if i%2 == 0 {
				off := int(i/2%10) * perPage
				gtins = warm[off : off+perPage]
			} else {
				gtins = coldGTINs(5_000_000+i, perPage)
			}
			page := s.badges.Page(context.Background(), gtinsOf(gtins)...)
			unknown := 0
			for _, g := range gtins {
				if b, _ := page.Badge(g); strings.Contains(string(b), "qcb-unknown") {
					unknown++
				}
			}
			page.Close()
			if i%2 == 0 {
				warmPages.Add(1)
				warmUnknown.Add(int64(unknown))
			} else {
				coldPages.Add(1)
				coldUnknown.Add(int64(unknown))
			}
		}
	})
	// Memory while the flood runs, each second.
	var heapPeak, rssPeak uint64
	var rssSeries []string
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heapPeak = max(heapPeak, ms.HeapInuse)
			r := selfRSS()
			rssPeak = max(rssPeak, r)
			rssSeries = append(rssSeries, strconv.FormatUint(r>>20, 10))
		}
	})
	start := time.Now()
	wg.Wait()
	secs := time.Since(start).Seconds()
	up, looked := upstreamCalls(s)-upBefore, s.qc.Stats().Misses-missBefore
	runtime.GC()
	runtime.ReadMemStats(&ms)

	pct := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return 100 * float64(a) / float64(b)
	}
	t.Logf("flood: %.0f batches/s of %d random GTINs from %d addresses for %.0fs: %d sent, %d answered 200, %d failed, %d not sent (512 in flight)",
		*floodRate, maxBatch, *floodAddrs, secs, sent.Load(), answered.Load(), failed.Load(), missed.Load())
	t.Logf("registry: %.1f calls/s for products (quota %.0f/s), %.0f products looked up a second (the platform's cold pages' included); cold badges refused by the lookup limits: %d",
		float64(up)/secs, *floodQuota, float64(looked)/secs, s.badges.Stats().BadgesThrottled-thBefore)
	t.Logf("platform pages (60 badges): warm %.2f %% unknown (%d pages), cold %.2f %% unknown (%d pages)",
		pct(warmUnknown.Load(), warmPages.Load()*perPage), warmPages.Load(), pct(coldUnknown.Load(), coldPages.Load()*perPage), coldPages.Load())
	t.Logf("memory: heap after GC %.1f MiB before, %.1f MiB after; heap in use at most %.1f MiB during; RSS %d MiB before, at most %d MiB during, each second: %s MiB",
		float64(heapBefore)/(1<<20), float64(ms.HeapAlloc)/(1<<20), float64(heapPeak)/(1<<20), rssBefore>>20, rssPeak>>20, strings.Join(rssSeries, " "))
}

func gtinsOf(ss []string) []client.GTIN {
	out := make([]client.GTIN, len(ss))
	for i, s := range ss {
		out[i] = client.GTIN(s)
	}
	return out
}

// upstreamCalls is the calls for products the service sent to the
// registry: each attempt, whatever it was answered.
func upstreamCalls(s *service) int64 {
	var n int64
	mfs, _ := s.m.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "qcbadge_upstream_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" && (l.GetValue() == "batchProducts" || l.GetValue() == "getProductByGTIN") {
					n += int64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return n
}

// selfRSS is this process's resident set, in bytes (0 where /proc is not).
func selfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// newListener serves srv on a loopback port until the test ends, and
// returns its URL.
func newListener(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
