package sandbox

import (
	"net/http/httptest"
	"testing"
)

// Server is a sandbox listening on a loopback port, for tests, like an
// httptest.Server. URL is its base URL, without a trailing slash.
type Server struct {
	*Sandbox
	URL string
	srv *httptest.Server
}

// NewServer starts a sandbox on a loopback port and stops it when the test
// ends. It fails the test if the options are invalid.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	sb, err := New(opts...)
	if err != nil {
		t.Fatalf("sandbox.NewServer: %v", err)
	}
	srv := httptest.NewServer(sb)
	s := &Server{Sandbox: sb, URL: srv.URL, srv: srv}
	t.Cleanup(s.Close)
	return s
}

// Close stops the sandbox and its listener. It is safe to call more than
// once; NewServer's cleanup calls it too.
func (s *Server) Close() {
	s.Sandbox.Close()
	s.srv.Close()
}
