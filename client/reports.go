package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
)

// ReportOptions are the options of ReportsService.Create.
type ReportOptions struct {
	// IdempotencyKey names the report for retries: the API stores one
	// report per key and answers a repeat with it (Response.Replayed), so
	// a platform that resubmits after a crash files nothing twice. 1 to
	// 255 visible ASCII characters. Empty means one generated for the call,
	// which makes the client's own retries safe but not a resubmission.
	IdempotencyKey string
}

// Create forwards a shopper's report of a suspected fake or sub-standard
// listing to the regulator. The product key is checked as ByKey checks it
// and sent in canonical form; a key the client refuses is a *KeyError and
// nothing is sent. The call carries an Idempotency-Key, so the client
// retries it after a failure like any read. The same key with another
// report is an *APIError with Code CodeIdempotencyConflict.
func (s *ReportsService) Create(ctx context.Context, p ReportParams, opts *ReportOptions) (*Report, *Response, error) {
	k, err := canonKey(p.Product)
	if err != nil {
		return nil, nil, err
	}
	p.Product = k
	var key string
	if opts != nil {
		key = opts.IdempotencyKey
	}
	if key == "" {
		key = newIdempotencyKey()
	} else if !validIdempotencyKey(key) {
		return nil, nil, invalidInput("idempotency key %q is not 1 to 255 visible ASCII characters", cut(key))
	}
	out := new(Report)
	resp, err := s.client.do(ctx, request{
		method: http.MethodPost, path: "/v1/reports", body: p, idemKey: key, idempotent: true,
	}, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// Get answers the state of a report by its id (rpt_…). A malformed id
// matches ErrInvalidInput and is not sent; an unknown one is an *APIError
// matching ErrNotFound.
func (s *ReportsService) Get(ctx context.Context, id string) (*Report, *Response, error) {
	if err := checkID("report", "rpt_", id); err != nil {
		return nil, nil, err
	}
	return getRecord[Report](ctx, s.client, "/v1/reports/"+url.PathEscape(id), nil, nil)
}

// Replayed reports whether the API answered a create with the record an
// earlier call with the same Idempotency-Key stored, rather than storing a
// new one.
func (r *Response) Replayed() bool {
	return r != nil && r.Header.Get("Idempotent-Replayed") == "true"
}

// newIdempotencyKey returns 128 random bits in hex: enough that two
// reports never share a key by chance.
func newIdempotencyKey() string {
	var b [16]byte
	rand.Read(b[:]) // never fails, per crypto/rand's documentation
	return hex.EncodeToString(b[:])
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
