package widget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// BenchmarkWarmBadge compares a warm badge with the floor: a go-cache Get
// of the badge's bytes and writing them out.
//
//	go test -run '^$' -bench 'Badge' -benchmem -count 10 ./widget/
func BenchmarkWarmBadge(b *testing.B) {
	e := setup(b, nil)
	ctx := context.Background()
	g := string(e.srv.Demo()[0].GTIN)
	look := widget.Look{}
	var buf bytes.Buffer
	if err := e.w.WriteBadge(ctx, &buf, g, look); err != nil {
		b.Fatal(err)
	}
	html := buf.String()
	if len(html) == 0 {
		b.Fatal("empty badge")
	}
	floor := gocache.New(gocache.NoExpiration, 0)
	floor.Set(g, html, time.Hour)

	b.Run("impl=gocache/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			v, _ := floor.Get(g)
			buf.WriteString(v.(string))
		}
	})
	b.Run("impl=widget/mode=seq", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			_ = e.w.WriteBadge(ctx, &buf, g, look)
		}
	})
	b.Run("impl=gocache/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var out bytes.Buffer
			for pb.Next() {
				out.Reset()
				v, _ := floor.Get(g)
				out.WriteString(v.(string))
			}
		})
	})
	b.Run("impl=widget/mode=parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var out bytes.Buffer
			for pb.Next() {
				out.Reset()
				_ = e.w.WriteBadge(ctx, &out, g, look)
			}
		})
	})
	if buf.String() != html {
		b.Fatal("the warm badge changed")
	}
}

// BenchmarkNaiveIntegration compares the SDK's badge with what a platform
// would otherwise write for each product page view: an HTTP GET to the
// API, a JSON decode, the verdict, and an html/template render — both
// against the sandbox on loopback.
//
//	go test -run '^$' -bench NaiveIntegration -benchmem ./widget/
func BenchmarkNaiveIntegration(b *testing.B) {
	e := setup(b, nil)
	ctx := context.Background()
	g := string(e.srv.Demo()[0].GTIN)
	naive := template.Must(template.New("badge").Parse(
		`<a class="badge badge-{{.Verdict}}" href="{{.URL}}">{{.Title}}{{with .Since}} {{.}}{{end}}</a>`))
	hc := &http.Client{}
	b.Cleanup(hc.CloseIdleConnections)
	var buf bytes.Buffer
	b.Run("impl=naive", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			resp, err := hc.Get(e.srv.URL + "/v1/products/" + g)
			if err != nil {
				b.Fatal(err)
			}
			var st client.ProductStatus
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			d := client.Decide(&st, time.Now(), 0)
			data := map[string]any{"Verdict": d.Verdict, "Title": "质量承诺", "Since": d.Since.Format(time.DateOnly), "URL": st.Commitment.VerifyURL}
			if err := naive.Execute(&buf, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=qcsdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := e.w.WriteBadge(ctx, &buf, g, widget.Look{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	if e.srv.Requests("GET /v1/products/{gtin}") < 2 {
		b.Fatal("the naive integration did not call the API")
	}
}

// BenchmarkWarmBadgeEndpoint is a warm badge through the Handler, as an
// <img> asks for it: the lookup limits must cost it nothing.
//
//	go test -run '^$' -bench 'Badge' -benchmem -count 10 ./widget/
func BenchmarkWarmBadgeEndpoint(b *testing.B) {
	e := setup(b, nil)
	h := e.w.Handler("/quality/")
	req := httptest.NewRequest(http.MethodGet, "/quality/badge/"+string(e.srv.Demo()[0].GTIN)+".svg?locale=en", nil)
	rw := &discardWriter{h: make(http.Header)}
	h.ServeHTTP(rw, req)
	if rw.code != http.StatusOK || rw.h.Get("Cache-Control") == "no-store" {
		b.Fatalf("the warm badge: %d, %q", rw.code, rw.h.Get("Cache-Control"))
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(rw, req)
	}
}

// discardWriter is a ResponseWriter that keeps only the status and
// headers, so that the benchmark measures the handler.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header  { return d.h }
func (d *discardWriter) WriteHeader(code int) { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	return len(p), nil
}

// WriteString is what net/http's ResponseWriter has too.
func (d *discardWriter) WriteString(s string) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	return len(s), nil
}
