package sandbox

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qualitycommit/qcsdk/client"
)

// FaultKind names a way the sandbox can misbehave.
type FaultKind string

// The faults the sandbox can inject. Each hits a request with its own
// probability, on one route or on all of /v1.
const (
	// FaultLatency holds the request for Latency before answering it.
	FaultLatency FaultKind = "latency"
	// FaultError answers Status (default 503) with a problem document and,
	// for 503, a Retry-After of RetryAfter (default 1 s).
	FaultError FaultKind = "error"
	// FaultRateLimit answers 429 with Retry-After, whatever the real limit.
	FaultRateLimit FaultKind = "rate_limit"
	// FaultReset resets the TCP connection without answering.
	FaultReset FaultKind = "reset"
	// FaultMalformed answers 200 with a body that is not valid JSON.
	FaultMalformed FaultKind = "malformed"
	// FaultTruncated announces the whole body, sends half and closes.
	FaultTruncated FaultKind = "truncated"
	// FaultOversized answers with a JSON body of Size bytes (default 4 MiB).
	FaultOversized FaultKind = "oversized"
	// FaultSlowBody sends the body in ten pieces spread over Latency.
	FaultSlowBody FaultKind = "slow_body"
)

// Fault is one injected misbehaviour.
type Fault struct {
	// Route is a route pattern such as "GET /v1/products/{gtin}" (see
	// Sandbox.Routes); "" or "*" means every /v1 route.
	Route string
	Kind  FaultKind
	// Probability is the chance a request is hit, in (0, 1]; 0 means 1.
	Probability float64
	Latency     time.Duration // FaultLatency, FaultSlowBody
	Status      int           // FaultError
	RetryAfter  time.Duration // FaultError (503), FaultRateLimit
	Size        int           // FaultOversized
}

// ParseFault reads a fault written as
//
//	KIND[=PARAM][@PROBABILITY][ METHOD /route]
//
// for example "error=503@0.2", "latency=300ms", "reset@0.05 GET
// /v1/products/{gtin}", "oversized=8388608" or "rate_limit=2s@0.5". PARAM is
// the status for error, a duration for latency, slow_body and rate_limit,
// and a byte count for oversized.
func ParseFault(s string) (Fault, error) {
	spec, route, _ := strings.Cut(strings.TrimSpace(s), " ")
	f := Fault{Route: strings.TrimSpace(route)}
	if at := strings.LastIndexByte(spec, '@'); at >= 0 {
		p, err := strconv.ParseFloat(spec[at+1:], 64)
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: probability %q is not a number", s, spec[at+1:])
		}
		f.Probability, spec = p, spec[:at]
	}
	kind, param, hasParam := strings.Cut(spec, "=")
	f.Kind = FaultKind(kind)
	if hasParam {
		var err error
		switch f.Kind {
		case FaultError:
			f.Status, err = strconv.Atoi(param)
		case FaultLatency, FaultSlowBody:
			f.Latency, err = time.ParseDuration(param)
		case FaultRateLimit:
			f.RetryAfter, err = time.ParseDuration(param)
		case FaultOversized:
			f.Size, err = strconv.Atoi(param)
		default:
			err = fmt.Errorf("takes no parameter")
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: parameter %q: %v", s, param, err)
		}
	}
	if err := f.validate(); err != nil {
		return Fault{}, err
	}
	return f, nil
}

// String writes f in the form ParseFault reads.
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(string(f.Kind))
	switch {
	case f.Kind == FaultError && f.Status != 0:
		b.WriteString("=" + strconv.Itoa(f.Status))
	case (f.Kind == FaultLatency || f.Kind == FaultSlowBody) && f.Latency != 0:
		b.WriteString("=" + f.Latency.String())
	case f.Kind == FaultRateLimit && f.RetryAfter != 0:
		b.WriteString("=" + f.RetryAfter.String())
	case f.Kind == FaultOversized && f.Size != 0:
		b.WriteString("=" + strconv.Itoa(f.Size))
	}
	if f.Probability != 0 {
		b.WriteString("@" + strconv.FormatFloat(f.Probability, 'g', -1, 64))
	}
	if f.Route != "" {
		b.WriteString(" " + f.Route)
	}
	return b.String()
}

func (f Fault) validate() error {
	switch f.Kind {
	case FaultLatency, FaultError, FaultRateLimit, FaultReset, FaultMalformed, FaultTruncated, FaultOversized, FaultSlowBody:
	default:
		return fmt.Errorf("fault kind %q is not one of latency, error, rate_limit, reset, malformed, truncated, oversized, slow_body", f.Kind)
	}
	if f.Probability < 0 || f.Probability > 1 {
		return fmt.Errorf("fault %s: probability %v not in [0, 1]", f.Kind, f.Probability)
	}
	if f.Kind == FaultError && f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("fault error: status %d is not an error status", f.Status)
	}
	if f.Latency < 0 || f.RetryAfter < 0 || f.Size < 0 {
		return fmt.Errorf("fault %s: negative parameter", f.Kind)
	}
	if f.Route != "" && f.Route != "*" {
		method, path, ok := strings.Cut(f.Route, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/v1/") {
			return fmt.Errorf("fault %s: route %q is not \"METHOD /v1/...\"", f.Kind, f.Route)
		}
	}
	return nil
}

// intercepts reports whether the fault answers instead of the handler.
func (f *Fault) intercepts() bool {
	return f.Kind == FaultError || f.Kind == FaultRateLimit || f.Kind == FaultReset
}

type faultSet struct {
	mu     sync.Mutex
	rng    *rand.Rand
	faults []Fault
}

func newFaultSet(seed uint64, faults []Fault) *faultSet {
	return &faultSet{rng: rand.New(rand.NewPCG(seed, 0x5eed)), faults: append([]Fault(nil), faults...)}
}

func (fs *faultSet) set(faults []Fault) {
	fs.mu.Lock()
	fs.faults = append([]Fault(nil), faults...)
	fs.mu.Unlock()
}

// draw decides which faults hit a request to route: the latency of every
// latency fault that fires, and the first other fault that fires.
func (fs *faultSet) draw(route string) (time.Duration, *Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var delay time.Duration
	var hit *Fault
	for i := range fs.faults {
		f := &fs.faults[i]
		if f.Route != "" && f.Route != "*" && f.Route != route {
			continue
		}
		if p := f.Probability; p != 0 && p < 1 && fs.rng.Float64() >= p {
			continue
		}
		if f.Kind == FaultLatency {
			delay += f.Latency
			continue
		}
		if hit == nil {
			c := *f
			hit = &c
		}
	}
	return delay, hit
}

func seconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// injectStatus answers a request with the fault instead of the handler.
func (s *Sandbox) injectStatus(w http.ResponseWriter, r *http.Request, b *buffer, f *Fault) {
	switch f.Kind {
	case FaultReset:
		resetConn(w)
		return
	case FaultRateLimit:
		retry := f.RetryAfter
		if retry == 0 {
			retry = time.Second
		}
		b.header.Set("Retry-After", seconds(retry))
		b.problem(http.StatusTooManyRequests, client.CodeRateLimited, "rate limit exceeded (injected fault)")
	case FaultError:
		status := f.Status
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		code := client.CodeInternal
		if status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout {
			code = client.CodeUnavailable
		}
		if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
			retry := f.RetryAfter
			if retry == 0 {
				retry = time.Second
			}
			b.header.Set("Retry-After", seconds(retry))
		}
		if status == http.StatusTooManyRequests {
			code = client.CodeRateLimited
		}
		if status == http.StatusUnauthorized {
			b.header.Set("WWW-Authenticate", wwwAuthenticate)
		}
		b.problem(status, code, "injected fault")
	}
	s.write(w, r, b, nil)
}

// resetConn closes the connection with SO_LINGER 0, so the peer sees a
// reset rather than an orderly close.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// injectBody sends a handler's answer damaged as the fault says.
func (s *Sandbox) injectBody(w http.ResponseWriter, status int, body []byte, f *Fault) {
	h := w.Header()
	switch f.Kind {
	case FaultMalformed:
		// A NUL is refused inside a string and outside one alike, so the
		// body is malformed where it was cut, wherever that is, and never
		// reads as merely cut short.
		bad := append(append([]byte(nil), body[:len(body)/2]...), "\x00\"}{]"...)
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(bad)))
		w.WriteHeader(http.StatusOK)
		w.Write(bad)
	case FaultTruncated:
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		// Aborting makes net/http close the connection short of the
		// announced length, which is what a cut link looks like.
		panic(http.ErrAbortHandler)
	case FaultOversized:
		size := f.Size
		if size == 0 {
			size = s.cfg.oversizeBytes
		}
		h.Del("Content-Length")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		if _, err := w.Write([]byte(`{"data":"`)); err != nil {
			return
		}
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), size-sent)]); err != nil {
				return
			}
		}
		w.Write([]byte(`"}`))
	case FaultSlowBody:
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		const pieces = 10
		step := f.Latency / pieces
		fl, _ := w.(http.Flusher)
		for i := range pieces {
			lo, hi := len(body)*i/pieces, len(body)*(i+1)/pieces
			if _, err := w.Write(body[lo:hi]); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			if i < pieces-1 && step > 0 {
				t := time.NewTimer(step)
				select {
				case <-t.C:
				case <-s.done:
					t.Stop()
				}
			}
		}
	default:
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		w.Write(body)
	}
}
