package client_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

const transportKey = "qc_live_transport_secret_7f3a"

// fastRetries retries three times with waits of a millisecond or two, so
// that a test sees every attempt a failure would get without waiting.
func fastRetries() client.Option {
	p := client.DefaultRetryPolicy()
	p.BaseDelay, p.MaxDelay = time.Millisecond, 2*time.Millisecond
	return client.WithRetryPolicy(p)
}

// countingTransport counts the round trips its client sends, redirects
// included, before passing them on.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// newTransportClient builds a client with fast retries, the key, and an
// HTTP client over tr, closed at the end of the test.
func newTransportClient(t *testing.T, base string, rt http.RoundTripper, tr *http.Transport) *client.Client {
	t.Helper()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(
		client.WithBaseURL(base),
		client.WithAPIKey(transportKey),
		client.WithHTTPClient(&http.Client{Transport: rt}),
		fastRetries(),
	)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

// requireNotRetried asserts err is a *TransportError after one attempt
// that says why it was not retried, and does not show the key.
func requireNotRetried(t *testing.T, err error) {
	t.Helper()
	var te *client.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want a *TransportError", err, err)
	}
	if te.Attempts != 1 {
		t.Errorf("TransportError.Attempts = %d, want 1", te.Attempts)
	}
	if !errors.Is(err, client.ErrCannotSucceed) {
		t.Errorf("err = %v, want one matching ErrCannotSucceed", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "not retrying") || !strings.Contains(msg, "cannot succeed") {
		t.Errorf("err = %q, want it to say it was not retried because it cannot succeed", msg)
	}
	if strings.Contains(err.Error(), transportKey) {
		t.Errorf("err shows the API key: %v", err)
	}
	if !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("err = %v, want it to match ErrUnavailable as any failure to get an answer", err)
	}
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// A transport that does not trust the test server's certificate.
	tr := &http.Transport{}
	ct := &countingTransport{next: tr}
	c := newTransportClient(t, srv.URL, ct, tr)
	_, _, err := c.Products.ByGTIN(ctxT(t), "4006381333931", nil)
	if n := ct.n.Load(); n != 1 {
		t.Errorf("%d attempts against an untrusted certificate, want 1", n)
	}
	if n := served.Load(); n != 0 {
		t.Errorf("%d requests got through the handshake, want 0", n)
	}
	requireNotRetried(t, err)
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %q, want it to name the certificate", err)
	}
}

func TestRedirectLoopIsNotRetried(t *testing.T) {
	t.Parallel()
	var attempts, hops atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			attempts.Add(1) // an attempt's first request; the loop follows
		} else {
			hops.Add(1)
		}
		http.Redirect(w, r, "/loop", http.StatusFound)
	}))
	t.Cleanup(srv.Close)

	tr := &http.Transport{}
	c := newTransportClient(t, srv.URL, tr, tr)
	_, _, err := c.Products.ByGTIN(ctxT(t), "4006381333931", nil)
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts into a redirect loop, want 1", n)
	}
	if hops.Load() == 0 {
		t.Error("the redirect was never followed; the test does not test a loop")
	}
	requireNotRetried(t, err)
	if !strings.Contains(err.Error(), "redirects") {
		t.Errorf("err = %q, want it to name the redirects", err)
	}
}

func TestUnknownHostIsNotRetried(t *testing.T) {
	t.Parallel()
	var dials atomic.Int64
	tr := &http.Transport{
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			dials.Add(1)
			host, _, _ := net.SplitHostPort(addr)
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
	}
	c := newTransportClient(t, "https://api.qualitycommit.invalid", tr, tr)
	_, _, err := c.Products.ByGTIN(ctxT(t), "4006381333931", nil)
	if n := dials.Load(); n != 1 {
		t.Errorf("%d attempts at a host that does not exist, want 1", n)
	}
	requireNotRetried(t, err)
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("err = %v, want it to unwrap to the not-found *net.DNSError", err)
	}
}

func TestRefusedAndResetConnectionsAreRetried(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: take one, then let it go.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()

	// A server that resets every connection it accepts.
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := rl.Accept()
			if err != nil {
				return
			}
			conn.(*net.TCPConn).SetLinger(0) // close with an RST
			conn.Close()
		}
	}()
	t.Cleanup(func() { rl.Close(); <-done })

	for _, tc := range []struct {
		name string
		addr string
		dial func(ctx context.Context, network, addr string) (net.Conn, error)
	}{
		{"refused", refused, (&net.Dialer{}).DialContext},
		{"reset", rl.Addr().String(), (&net.Dialer{}).DialContext},
		{"temporary DNS failure", refused, func(_ context.Context, _, addr string) (net.Conn, error) {
			return nil, &net.DNSError{Err: "server misbehaving", Name: addr, IsTemporary: true}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var dials atomic.Int64
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
					dials.Add(1)
					return tc.dial(ctx, network, a)
				},
			}
			c := newTransportClient(t, "http://"+tc.addr, tr, tr)
			_, _, err := c.Products.ByGTIN(ctxT(t), "4006381333931", nil)
			want := int64(client.DefaultRetryPolicy().MaxRetries + 1)
			if n := dials.Load(); n != want {
				t.Errorf("%d attempts, want %d: a failure that may pass is retried", n, want)
			}
			var te *client.TransportError
			if !errors.As(err, &te) || te.Attempts != int(want) {
				t.Errorf("err = %v, want a *TransportError after %d attempts", err, want)
			}
			if errors.Is(err, client.ErrCannotSucceed) {
				t.Errorf("err = %v matches ErrCannotSucceed; it was retried", err)
			}
		})
	}
}
