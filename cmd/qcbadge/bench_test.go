package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkServe measures qcbadge's warm answers over loopback HTTP against
// a handler that writes the same bytes with the same headers, in the same
// run: what the SDK, its routing and its metrics cost on top of serving
// bytes. p99-µs is the 99th percentile of a request's round trip.
//
//	go test -run '^$' -bench Serve -count 8 ./cmd/qcbadge/ > serve.txt
//	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da -col /impl serve.txt
func BenchmarkServe(b *testing.B) {
	cfg, err := parseConfig(nil, envOf("QC_FOLLOW", "false"), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	s, err := newService(context.Background(), cfg, discardLog())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	real := httptest.NewServer(s.routes())
	defer real.Close()

	listing := "/quality/badges?locale=en"
	for _, p := range demo(b) {
		listing += "&gtin=" + string(p.GTIN)
	}
	for _, route := range []struct{ name, path string }{
		{"badge", "/quality/badge/06910000100003.svg"},
		{"batch", listing},
	} {
		// Warm, and keep what qcbadge answers for the static handler.
		var body []byte
		var header http.Header
		for range 3 {
			resp, err := http.Get(real.URL + route.path)
			if err != nil {
				b.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			header = resp.Header
		}
		if !strings.Contains(string(body), "qcb-committed") {
			b.Fatalf("%s is not warm: %s", route.name, body)
		}
		static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, k := range []string{"Content-Type", "Cache-Control", "ETag", "X-Content-Type-Options"} {
				if v := header.Get(k); v != "" {
					w.Header().Set(k, v)
				}
			}
			w.Write(body)
		}))
		for _, impl := range []struct {
			name string
			url  string
		}{{"static", static.URL}, {"qcbadge", real.URL}} {
			b.Run("route="+route.name+"/impl="+impl.name, func(b *testing.B) {
				hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				defer hc.CloseIdleConnections()
				var mu sync.Mutex
				var lat []time.Duration
				b.SetBytes(int64(len(body)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					mine := make([]time.Duration, 0, 1024)
					for pb.Next() {
						start := time.Now()
						resp, err := hc.Get(impl.url + route.path)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("%s: %d", route.path, resp.StatusCode)
							return
						}
						mine = append(mine, time.Since(start))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
				b.StopTimer()
				if len(lat) > 0 {
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
		static.Close()
	}
}

// BenchmarkProcess starts the qcbadge binary on its embedded sandbox and
// measures, per start, the time until /readyz answers 200 (ns/op), and the
// process's resident memory idle after it and after a load of warm badges
// and batches.
//
//	go test -run '^$' -bench Process -benchtime 5x -count 3 ./cmd/qcbadge/
func BenchmarkProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "qcbadge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	var idle, loaded float64
	for range b.N {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "QC_ADDR=127.0.0.1:0")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		var url string
		for lines.Scan() {
			var l struct{ Msg, URL string }
			if json.Unmarshal(lines.Bytes(), &l) == nil && l.Msg == "qcbadge: serving" {
				url = l.URL
				break
			}
		}
		go io.Copy(io.Discard, out)
		root := strings.TrimSuffix(url, "/quality/")
		for {
			resp, err := http.Get(root + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("not ready within 30 s")
			}
			time.Sleep(time.Millisecond) // polling for readiness: what is measured
		}
		b.StopTimer()
		idle = rss(b, cmd.Process.Pid)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range 2000 {
					path := "quality/badge/06910000100003.svg"
					if i%10 == 0 {
						path = "quality/badges?gtin=06910000100003&gtin=06910002100001&gtin=06910001100002"
					}
					if resp, err := http.Get(root + "/" + path); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
		wg.Wait()
		loaded = rss(b, cmd.Process.Pid)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(idle, "rss-idle-MB")
	b.ReportMetric(loaded, "rss-loaded-MB")
}

// rss is a process's resident memory in MB, from /proc.
func rss(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skip("no /proc: ", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
