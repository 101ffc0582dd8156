package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/sandbox"
)

const (
	secretKey  = "sk_test_SECRET123"
	secretPart = "SECRET123" // what must never show, whatever quoting does to the rest
)

// wire records where the key travelled in every request the sandbox
// received.
type wire struct {
	mu       sync.Mutex
	requests int
	auth     map[string]int // Authorization values seen
	leaks    []string       // places other than Authorization holding the key
}

func (w *wire) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.requests++
		if w.auth == nil {
			w.auth = map[string]int{}
		}
		w.auth[r.Header.Get("Authorization")]++
		for where, v := range map[string]string{"URL": r.URL.String(), "RequestURI": r.RequestURI} {
			if strings.Contains(v, secretPart) {
				w.leaks = append(w.leaks, where+": "+v)
			}
		}
		for name, vs := range r.Header {
			if name == "Authorization" {
				continue
			}
			for _, v := range vs {
				if strings.Contains(v, secretPart) {
					w.leaks = append(w.leaks, "header "+name+": "+v)
				}
			}
		}
		w.mu.Unlock()
		next.ServeHTTP(rw, r)
	})
}

// requireNoSecret fails the test if err, or any error it wraps, shows
// the key however it is printed.
func requireNoSecret(t *testing.T, what string, err error) {
	t.Helper()
	var walk func(e error)
	walk = func(e error) {
		if e == nil {
			return
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			if s := fmt.Sprintf(verb, e); strings.Contains(s, secretPart) {
				t.Errorf("%s: the key shows in the error printed with %s (%T): %s", what, verb, e, s)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
}

// TestAPIKeyStaysSecret drives every error path of the client with a key
// and a debug logger, and checks that the key shows in no error and no
// log line, and travels only in the Authorization header.
func TestAPIKeyStaysSecret(t *testing.T) {
	t.Parallel()
	var logs testio.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var w wire
	opts := []client.Option{
		client.WithAPIKey(secretKey),
		client.WithLogger(logger),
		client.WithRetryPolicy(fastPolicy(1)),
		client.WithMaxResponseSize(matrixMaxBody),
	}
	srv, c := setupWith(t, fixture{
		client: opts,
		wrap:   func(h http.Handler) http.Handler { return w.wrap(withZeroRetryAfter(h)) },
	})
	// A sandbox that knows another key: every call is a 401.
	_, locked := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithAPIKeys("other")},
		client:  opts,
		wrap:    w.wrap,
	})
	ctx := ctxT(t)
	demo := srv.Demo()
	gtin := demo[0].GTIN
	params := reportOf(srv)

	var errs int
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		errs++
		requireNoSecret(t, what, err)
	}
	second := func(_ any, _ *client.Response, err error) error { return err }

	// Every fault kind, on a read, a batch and a create.
	for _, fc := range faultCases() {
		for _, route := range []string{"GET /v1/products/{gtin}", "POST /v1/products/batch", "POST /v1/reports"} {
			f := fc.fault
			f.Route = route
			if err := srv.SetFaults(f); err != nil {
				t.Fatal(err)
			}
			check(fc.name+" ByGTIN", second(c.Products.ByGTIN(ctx, gtin, nil)))
			_, _, err := c.Products.Batch(ctx, []client.ProductKey{{GTIN: demo[0].GTIN}, {GTIN: demo[1].GTIN}})
			check(fc.name+" Batch", err)
			check(fc.name+" Reports.Create", second(c.Reports.Create(ctx, params, nil)))
		}
	}
	if err := srv.SetFaults(); err != nil {
		t.Fatal(err)
	}

	// 401, 404, the API's 400, and input refused before sending.
	for what, err := range map[string]error{
		"401 ByGTIN":          second(locked.Products.ByGTIN(ctx, gtin, nil)),
		"401 Reports.Create":  second(locked.Reports.Create(ctx, params, nil)),
		"404 Enterprises.Get": second(c.Enterprises.Get(ctx, "ent_doesnotexist", nil)),
		"404 Reports.Get":     second(c.Reports.Get(ctx, "rpt_doesnotexist", "tok_0123456789abcdef")),
		"400 Cases.List":      second(c.Cases.List(ctx, &client.CaseListOptions{ListOptions: client.ListOptions{Cursor: "not-a-cursor"}})),
		"400 Changes.List":    second(c.Changes.List(ctx, &client.ChangesOptions{After: "not-a-cursor"})),
		"local GTIN":          second(c.Products.ByGTIN(ctx, "6901234567890", nil)),
		"local key":           second(c.Products.ByKey(ctx, client.ProductKey{Brand: "Acme"}, nil)),
		"local limit":         second(c.Enterprises.List(ctx, &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 500}})),
		"local report id":     second(c.Reports.Get(ctx, "rpt_../etc", "tok_0123456789abcdef")),
	} {
		if err == nil {
			t.Errorf("%s: no error", what)
		}
		check(what, err)
	}
	if _, _, err := locked.Products.ByGTIN(ctx, gtin, nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("a key the API does not know: err = %v, want ErrUnauthorized", err)
	}

	// A done context, and an API that is not there at all.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	check("cancelled", second(c.Products.ByGTIN(cancelled, gtin, nil)))
	down, err := client.New(append(opts, client.WithBaseURL("http://127.0.0.1:1"), client.WithTimeout(2*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.CloseIdleConnections)
	_, _, err = down.Products.ByGTIN(ctx, gtin, nil)
	var te *client.TransportError
	if !errors.As(err, &te) {
		t.Errorf("refused connection: err = %v, want a *TransportError", err)
	}
	check("refused", err)

	// Options that refuse the key, or a URL holding it, do not echo it.
	for what, opt := range map[string]client.Option{
		"key with a line break":    client.WithAPIKey(secretKey + "\r\nX: y"),
		"key with a control byte":  client.WithAPIKey(secretKey + "\x00"),
		"key in a base URL":        client.WithBaseURL("https://user:" + secretKey + "@api.example.org"),
		"key in a non-http URL":    client.WithBaseURL("ftp://user:" + secretKey + "@api.example.org"),
		"key in an unparsable URL": client.WithBaseURL("http://user:" + secretKey + "@[::1"),
	} {
		_, err := client.New(opt)
		if err == nil {
			t.Errorf("%s: New accepted it", what)
		}
		check(what, err)
	}
	if errs < 40 {
		t.Errorf("only %d errors checked; the error paths were not driven", errs)
	}

	// The log: busy, and without the key.
	out := logs.String()
	for _, want := range []string{`"msg":"qcsdk call"`, `"msg":"request failed"`, `"msg":"retrying request"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the debug log has no %s line; is the logger wired?", want)
		}
	}
	for i, line := range strings.Split(out, "\n") {
		if strings.Contains(line, secretPart) {
			t.Errorf("log line %d shows the key: %s", i+1, line)
		}
	}

	// The wire: the key in the Authorization header of every request,
	// and nowhere else.
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.requests < 50 {
		t.Errorf("only %d requests reached the sandboxes", w.requests)
	}
	for auth, n := range w.auth {
		if auth != "Bearer "+secretKey {
			t.Errorf("%d request(s) had Authorization %q, want the bearer key", n, auth)
		}
	}
	for _, l := range w.leaks {
		t.Errorf("the key travelled outside the Authorization header: %s", l)
	}
}
