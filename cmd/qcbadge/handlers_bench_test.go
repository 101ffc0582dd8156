package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkWarmRoutes measures qcbadge's warm answers in the process,
// without a network: the handler from routing to the written answer, so
// that what a change to the service costs shows apart from loopback's
// noise on a shared machine.
//
//	go test -run '^$' -bench WarmRoutes -benchmem -count 8 ./cmd/qcbadge/
func BenchmarkWarmRoutes(b *testing.B) {
	cfg, err := parseConfig(nil, envOf("QC_FOLLOW", "false"), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	s, err := newService(context.Background(), cfg, discardLog())
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	h := s.routes()
	listing := "/quality/badges?locale=en"
	for _, p := range demo(b) {
		listing += "&gtin=" + string(p.GTIN)
	}
	for _, route := range []struct{ name, path string }{
		{"badge", "/quality/badge/06910000100003.svg"},
		{"batch", listing},
	} {
		req := httptest.NewRequest(http.MethodGet, route.path, nil)
		for range 3 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if !strings.Contains(rec.Body.String(), "qcb-committed") {
				b.Fatalf("%s is not warm: %d %s", route.name, rec.Code, rec.Body)
			}
		}
		b.Run("route="+route.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", route.path, rec.Code)
				}
			}
		})
	}
}
