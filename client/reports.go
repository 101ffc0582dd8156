package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"iter"
	"net/http"
	"net/url"

	"github.com/qualitycommit/qcsdk/internal/idem"
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
	} else if !idem.ValidKey(key) {
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

// Get answers a report's lifecycle by its id (rpt_…) and the access token
// its filing answered (Report.AccessToken). A malformed id, or an empty or
// malformed token, matches ErrInvalidInput and is not sent. An unknown id
// and a wrong token are the same *APIError matching ErrNotFound: the
// registry says nothing more, so the answer cannot be used to find ids.
// Lookups are rate limited (ErrRateLimited) more tightly than reads, on a
// limit of their own: until its 429's Retry-After runs out Get fails at
// once without sending, while the client's other calls go on, unpaused.
func (s *ReportsService) Get(ctx context.Context, id string, token ReportToken) (*Report, *Response, error) {
	if err := checkID("report", "rpt_", id); err != nil {
		return nil, nil, err
	}
	if !validReportToken(token) {
		// The token itself is never quoted: it is a secret, even a wrong one.
		return nil, nil, invalidInput("report access token is not 16 to 128 letters, digits, _ or -")
	}
	out := new(Report)
	resp, err := s.client.do(ctx, request{
		method: http.MethodGet, path: "/v1/reports/" + url.PathEscape(id), idempotent: true, ownLimit: true,
		header: http.Header{ReportTokenHeader: {string(token)}},
	}, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// validReportToken checks a token's shape: the registry's tokens are
// URL-safe base64 of at least 128 bits.
func validReportToken(t ReportToken) bool {
	if len(t) < 16 || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ReportListOptions filter and page the platform's own reports.
type ReportListOptions struct {
	ListOptions
	// Status keeps only reports in this status; empty means all.
	Status ReportStatus
	// ReporterKind keeps only reports of this kind of reporter; empty
	// means all.
	ReporterKind ReporterKind
}

func (o *ReportListOptions) query() (url.Values, error) {
	q := url.Values{}
	if o == nil {
		return q, nil
	}
	if err := o.ListOptions.query(q); err != nil {
		return nil, err
	}
	if o.Status != "" {
		q.Set("status", string(o.Status))
	}
	if o.ReporterKind != "" {
		q.Set("reporter_kind", string(o.ReporterKind))
	}
	return q, nil
}

// List answers one page of the reports this API key filed, newest first,
// without their access tokens and without the reporters' contacts.
func (s *ReportsService) List(ctx context.Context, opts *ReportListOptions) (List[Report], *Response, error) {
	q, err := opts.query()
	if err != nil {
		return List[Report]{}, nil, err
	}
	return getPage[Report](ctx, s.client, "/v1/reports", q)
}

// All iterates over every report List would page through, from
// opts.Cursor on; see EnterprisesService.All.
func (s *ReportsService) All(ctx context.Context, opts *ReportListOptions) iter.Seq2[Report, error] {
	var o ReportListOptions
	if opts != nil {
		o = *opts
	}
	return paginate(o.Cursor, func(cursor string) (List[Report], *Response, error) {
		o.Cursor = cursor
		return s.List(ctx, &o)
	})
}

// ClueParams is one clue of a rights holder's batch: a product and the
// listings on the platform that sell a suspected fake of it.
type ClueParams struct {
	// IdempotencyKey names the clue, such as the rights holder's own case
	// number: the registry files one report per key and answers a repeat
	// with it, so a batch sent again files nothing twice. Empty means one
	// generated for the call (safe for the client's retries only).
	IdempotencyKey string     `json:"idempotency_key"`
	Product        ProductKey `json:"product"`
	Kind           ReportKind `json:"kind"`
	// ListingIDs are the platform's ids of the listings, 1 to 100.
	ListingIDs []string `json:"listing_ids"`
	// EvidenceURLs are https links to the evidence (test reports,
	// purchase records, photos), 1 to 20.
	EvidenceURLs []string `json:"evidence_urls"`
	Description  string   `json:"description"`
}

// ClueBatch is a rights holder's clues, filed in one call.
type ClueBatch struct {
	// RightsHolder names the owner of the brand or right, as registered.
	RightsHolder string `json:"rights_holder"`
	// Platform names the platform the listings are on.
	Platform string `json:"platform"`
	// EvidenceHosts, when set, are the only hosts an evidence link may
	// name (exact host names, no ports); a link elsewhere fails its clue.
	EvidenceHosts []string     `json:"evidence_hosts,omitempty"`
	Clues         []ClueParams `json:"clues"`
}

// Clue results: what became of each clue of a batch.
const (
	ClueCreated  = "created"
	ClueReplayed = "replayed"
	ClueFailed   = "failed"
)

// ClueResult is what became of one clue of a batch, in the batch's order.
type ClueResult struct {
	Index  int    `json:"index"`
	Status string `json:"status"` // ClueCreated, ClueReplayed or ClueFailed
	// Report is the filed report (with its AccessToken), unless the clue
	// failed.
	Report *Report `json:"report,omitempty"`
	// Problem says why a clue failed; its fields are JSON pointers into
	// the clue ("/evidence_urls/1").
	Problem *Problem `json:"problem,omitempty"`
}

// Err is the clue's failure as an *APIError (ErrInvalidInput for a bad
// clue, as a 400 would be), or nil when it was filed.
func (r ClueResult) Err() error {
	if r.Problem == nil {
		return nil
	}
	return &APIError{
		Method: http.MethodPost, Path: "/v1/reports/batch", StatusCode: r.Problem.Status,
		Code: r.Problem.Code, Title: r.Problem.Title, Detail: r.Problem.Detail, Fields: r.Problem.Errors,
		RequestID: r.Problem.RequestID,
	}
}

// CreateBatch files a rights holder's clues, up to MaxClues in one call.
// Each clue is filed or fails on its own: a bad clue fails with its
// reason in its ClueResult and the others are filed all the same, so the
// call's error is only for the call as a whole (an empty or oversized
// batch, which is not sent; a refused call; a network failure). Every
// clue carries an idempotency key, so the client retries the call like a
// read.
func (s *ReportsService) CreateBatch(ctx context.Context, b ClueBatch) ([]ClueResult, *Response, error) {
	if len(b.Clues) == 0 || len(b.Clues) > MaxClues {
		return nil, nil, invalidInput("a clue batch has %d clues; it takes 1 to %d", len(b.Clues), MaxClues)
	}
	clues := make([]ClueParams, len(b.Clues))
	copy(clues, b.Clues)
	for i := range clues {
		if clues[i].IdempotencyKey == "" {
			clues[i].IdempotencyKey = newIdempotencyKey()
		}
	}
	b.Clues = clues
	var out struct {
		Results []ClueResult `json:"results"`
	}
	resp, err := s.client.do(ctx, request{method: http.MethodPost, path: "/v1/reports/batch", body: b, idempotent: true}, &out)
	if err != nil {
		return nil, resp, err
	}
	if len(out.Results) != len(b.Clues) {
		return nil, resp, fmt.Errorf("qcsdk: POST /v1/reports/batch: %d results for %d clues", len(out.Results), len(b.Clues))
	}
	return out.Results, resp, nil
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
