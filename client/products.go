package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// KeyError is the error for a ProductKey the client refuses to send: one
// that sets both forms or neither, a USCC without a brand, a brand or model
// out of the contract's bounds, or a malformed GTIN or USCC. It matches
// ErrInvalidInput, like the API's own 400 for such a key; when a GTIN or
// USCC is malformed it wraps the *IDError, so it matches ErrInvalidID too
// and errors.As finds the identifier's problem.
type KeyError struct {
	Key    ProductKey // the key as given
	Reason string     // what is wrong with it
	Err    error      // the *IDError of a malformed GTIN or USCC, or nil
}

// Error says what is wrong with the key, quoting at most 32 bytes of a
// malformed identifier and none of the brand or model, which may be
// anything a page was given.
func (e *KeyError) Error() string {
	if e.Err != nil {
		// The identifier's own message says more than the Reason.
		return "qcsdk: invalid product key: " + strings.TrimPrefix(e.Err.Error(), "qcsdk: ")
	}
	return "qcsdk: invalid product key: " + e.Reason
}

// Unwrap returns the identifier's error, if the key has a malformed one.
func (e *KeyError) Unwrap() error { return e.Err }

// Is makes every KeyError match ErrInvalidInput.
func (e *KeyError) Is(target error) bool { return target == ErrInvalidInput }

// canonKey validates a product key and returns its canonical form: the
// 14-digit GTIN alone, or the upper-case USCC with brand and model as
// given. Two keys naming one product the same way canonicalise alike, so
// a batch can send them once and a cache can store them once.
func canonKey(k ProductKey) (ProductKey, error) {
	bad := func(reason string, err error) (ProductKey, error) {
		return ProductKey{}, &KeyError{Key: k, Reason: reason, Err: err}
	}
	switch {
	case k.GTIN != "" && (k.USCC != "" || k.Brand != "" || k.Model != ""):
		return bad("a key is either a GTIN or a USCC with a brand, not both", nil)
	case k.GTIN != "":
		g, err := ParseGTIN(string(k.GTIN))
		if err != nil {
			return bad("malformed GTIN", err)
		}
		return ProductKey{GTIN: g}, nil
	case k.USCC != "":
		u, err := ParseUSCC(string(k.USCC))
		if err != nil {
			return bad("malformed USCC", err)
		}
		if msg := textProblem("brand", k.Brand, 1, 100); msg != "" {
			return bad(msg, nil)
		}
		if msg := textProblem("model", k.Model, 0, 100); msg != "" {
			return bad(msg, nil)
		}
		return ProductKey{USCC: u, Brand: k.Brand, Model: k.Model}, nil
	case k.Brand != "" || k.Model != "":
		return bad("a brand or model needs the maker's USCC", nil)
	}
	return bad("a key needs a GTIN, or a USCC with a brand", nil)
}

// ByGTIN answers the status of the product with that GTIN (8, 12, 13 or
// 14 digits; a constant converts, a string read at run time goes through
// ParseGTIN first). A product whose maker is not on the list is an answer
// (Listed false), not an error. A malformed GTIN — a conversion that was
// never parsed — is an *IDError and no request is sent.
//
// The status is verified before it is returned: its proof's checkpoint
// must be signed by a registry key (see WithLogKeys), extend the latest
// checkpoint the client verified (the request names its size, and the
// answer carries the consistency proof), and each of its records must be
// the leaf its inclusion proof shows. One that does not verify is a
// *VerifyError, counted in Stats, and no status is returned.
func (s *ProductsService) ByGTIN(ctx context.Context, gtin GTIN, opts *GetOptions) (*ProductStatus, *Response, error) {
	g, err := ParseGTIN(string(gtin))
	if err != nil {
		return nil, nil, err
	}
	return s.byGTIN(ctx, g, opts)
}

func (s *ProductsService) byGTIN(ctx context.Context, g GTIN, opts *GetOptions) (*ProductStatus, *Response, error) {
	path := "/v1/products/" + url.PathEscape(string(g))
	base := s.client.trust.latest.Load()
	st, resp, err := getRecord[ProductStatus](ctx, s.client, path, logSize(nil, base), opts)
	st, resp, err = checkAnswer(st, resp, err, ProductKey{GTIN: g}, path)
	return s.verified(ctx, st, resp, err, base)
}

// verified returns a status only once it has verified against the
// registry's log (see verifyAnswer); asked when base was the latest
// checkpoint the client verified.
func (s *ProductsService) verified(ctx context.Context, st *ProductStatus, resp *Response, err error, base *Checkpoint) (*ProductStatus, *Response, error) {
	if err != nil || st == nil {
		return st, resp, err
	}
	var (
		signed string
		cons   *ConsistencyProof
	)
	if st.Proof != nil {
		signed, cons = st.Proof.Checkpoint, st.Proof.Consistency
	}
	if errs := s.client.verifyAnswer(ctx, []*ProductStatus{st}, base, signed, cons); errs[0] != nil {
		return nil, resp, errs[0]
	}
	return st, resp, nil
}

// checkAnswer refuses a 200 that is not the status of the key asked for —
// a body of another shape decodes into an empty status, which would read
// as "not listed": a guess no badge may show.
func checkAnswer(st *ProductStatus, resp *Response, err error, want ProductKey, path string) (*ProductStatus, *Response, error) {
	if err != nil || st == nil {
		return st, resp, err
	}
	if st.Key != want || st.Version < 0 || st.Listed && st.Enterprise == nil {
		return nil, resp, &DecodeError{Method: http.MethodGet, Path: path, StatusCode: resp.StatusCode,
			Err: errors.New("the answer is not the status of the product asked for")}
	}
	return st, resp, nil
}

// ByKey answers the status of a product named by either form of key: a
// GTIN, as ByGTIN, or the maker's USCC with the brand and, optionally, the
// model. A key the client refuses is a *KeyError and no request is sent.
//
// Like ByGTIN, it returns a status only once it has verified against the
// registry's log: one that does not is a *VerifyError, and no status.
func (s *ProductsService) ByKey(ctx context.Context, key ProductKey, opts *GetOptions) (*ProductStatus, *Response, error) {
	k, err := canonKey(key)
	if err != nil {
		return nil, nil, err
	}
	if k.GTIN != "" {
		return s.byGTIN(ctx, k.GTIN, opts)
	}
	q := url.Values{"uscc": {string(k.USCC)}, "brand": {k.Brand}}
	if k.Model != "" {
		q.Set("model", k.Model)
	}
	base := s.client.trust.latest.Load()
	st, resp, err := getRecord[ProductStatus](ctx, s.client, "/v1/products/lookup", logSize(q, base), opts)
	st, resp, err = checkAnswer(st, resp, err, k, "/v1/products/lookup")
	return s.verified(ctx, st, resp, err, base)
}

// BatchItem is the answer for one key of a Batch lookup: a status, or the
// error that kept the key from having one.
type BatchItem struct {
	// Key is the key as given; Status.Key is its canonical form.
	Key ProductKey
	// Status is the registry's answer, nil when Err is set. Keys that name
	// one product the same way share one Status; treat it as read-only.
	Status *ProductStatus
	// Err is why the key has no status: a *KeyError or *IDError for a key
	// refused before sending, an *APIError (with the problem's status,
	// code and detail) for a key the API refused, or the error of the
	// call that carried the key, or a *VerifyError for a status that did
	// not verify against the registry's log.
	Err error
	// AsOf is the registry's position in its change sequence that Status
	// reflects (see Response.AsOf).
	AsOf int64
}

// batchConcurrency bounds the calls one Batch has in flight: enough to
// hide the latency of a 1,000-key page, few enough not to spend a
// caller's rate limit in a burst.
const batchConcurrency = 4

const batchPath = "/v1/products/batch"

// batchAnswer is the answer for one distinct canonical key.
type batchAnswer struct {
	status *ProductStatus
	asOf   int64
	err    error
}

// Batch answers the status of many products at once, with one result per
// key, in the order of keys.
//
// Keys the client refuses (see ByKey) get their error without being sent.
// The others are sent once per canonical form, so that duplicates cost
// nothing and share one answer, in calls of at most MaxBatchKeys keys, up
// to four of them at a time. A call that fails gives its error to each of
// its keys; a key the API refuses gets an *APIError. Every goroutine Batch
// starts has ended when it returns.
//
// The returned error is nil unless
//
//   - ctx ended before every call was answered: the error matches
//     ctx.Err(), and the keys that were not answered carry an error too;
//   - or every key failed: the error wraps the first call's error if a
//     call failed, and the first key's error otherwise, so that a caller
//     can tell an outage (ErrUnavailable) from bad input (ErrInvalidInput).
//
// The *Response is that of the call answered last, whose rate-limit
// figures are the freshest (each item's AsOf says the position its own
// call reflects); nil when no call was answered: no key to send, or ctx
// ended first.
//
// Each call's statuses are verified as ByGTIN's are, against the
// checkpoint the call's answer carries once for all of them, its
// signature checked once and a record several statuses share (their
// maker's) once. A status that does not verify leaves its key with a
// *VerifyError and no status.
//
// An empty keys is answered with an empty result and no call.
func (s *ProductsService) Batch(ctx context.Context, keys []ProductKey) ([]BatchItem, *Response, error) {
	items := make([]BatchItem, len(keys))
	if len(keys) == 0 {
		return items, nil, nil
	}
	slot := make([]int, len(keys)) // index into unique, or -1 for a refused key
	var unique []ProductKey
	seen := make(map[ProductKey]int, len(keys))
	for i, k := range keys {
		items[i].Key = k
		ck, err := canonKey(k)
		if err != nil {
			items[i].Err, slot[i] = err, -1
			continue
		}
		u, ok := seen[ck]
		if !ok {
			u = len(unique)
			seen[ck] = u
			unique = append(unique, ck)
		}
		slot[i] = u
	}

	answers := make([]batchAnswer, len(unique))
	callErrs := make([]error, (len(unique)+MaxBatchKeys-1)/MaxBatchKeys)
	sem := make(chan struct{}, batchConcurrency)
	var (
		wg       sync.WaitGroup
		lastMu   sync.Mutex
		lastResp *Response // of the call answered last
	)
	for n := range callErrs {
		start := n * MaxBatchKeys
		end := min(start+MaxBatchKeys, len(unique))
		chunk, out := unique[start:end], answers[start:end]
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if err := ctx.Err(); err != nil {
			// Not sent: the caller stopped waiting.
			callErrs[n] = fmt.Errorf("qcsdk: %s %s: %w", http.MethodPost, batchPath, err)
			for i := range out {
				out[i].err = callErrs[n]
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			var resp *Response
			resp, callErrs[n] = s.batchCall(ctx, chunk, out)
			if resp != nil {
				lastMu.Lock()
				lastResp = resp
				lastMu.Unlock()
			}
		})
	}
	wg.Wait()

	failed := 0
	for i := range items {
		if u := slot[i]; u >= 0 {
			items[i].Status, items[i].Err, items[i].AsOf = answers[u].status, answers[u].err, answers[u].asOf
		}
		if items[i].Err != nil {
			failed++
		}
	}
	var firstCallErr error
	for _, err := range callErrs {
		if err != nil {
			firstCallErr = err
			break
		}
	}
	if err := ctx.Err(); err != nil && firstCallErr != nil {
		return items, lastResp, fmt.Errorf("qcsdk: batch lookup: %w", err)
	}
	if failed == len(items) {
		cause := firstCallErr
		if cause == nil {
			cause = items[0].Err
		}
		return items, lastResp, fmt.Errorf("qcsdk: batch lookup: all %d keys failed: %w", len(items), cause)
	}
	return items, lastResp, nil
}

// batchCall sends one call of a Batch and fills out, one answer per key.
// It returns the call's Response, if it was answered, and its error when
// the call as a whole failed.
func (s *ProductsService) batchCall(ctx context.Context, keys []ProductKey, out []batchAnswer) (*Response, error) {
	var page BatchResponse
	base := s.client.trust.latest.Load()
	// A lookup only reads, so it is safe to retry although it is a POST.
	resp, err := s.client.do(ctx, request{
		method: http.MethodPost, path: batchPath, query: logSize(nil, base), body: BatchRequest{Keys: keys}, idempotent: true,
	}, &page)
	if err == nil && len(page.Data) != len(keys) {
		err = &DecodeError{Method: http.MethodPost, Path: batchPath, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("%d results for %d keys", len(page.Data), len(keys))}
	}
	if err != nil {
		for i := range out {
			out[i].err = err
		}
		return resp, err
	}
	for i, r := range page.Data {
		switch {
		case r.Error != nil:
			out[i].err = batchProblem(resp, r.Error)
		case r.Status == nil:
			out[i].err = &DecodeError{Method: http.MethodPost, Path: batchPath, StatusCode: resp.StatusCode,
				Err: fmt.Errorf("result %d has neither a status nor an error", i)}
		case r.Key != keys[i]:
			// Results are matched to keys by position; one that names
			// another key would put a product's verdict on another.
			out[i].err = &DecodeError{Method: http.MethodPost, Path: batchPath, StatusCode: resp.StatusCode,
				Err: errors.New("result answers another key than the one sent at its position")}
		default:
			out[i].status, out[i].asOf = r.Status, r.AsOf
			if r.AsOf <= 0 || r.AsOf > resp.AsOf && resp.AsOf > 0 {
				// A result may not claim more than the answer it came in.
				out[i].asOf = resp.AsOf
			}
		}
	}
	s.verifyBatch(ctx, page, base, out)
	return resp, nil
}

// verifyBatch verifies the statuses of one batch answer, asked when base
// was the latest checkpoint verified, and takes those that fail out of
// out. The answer's checkpoint goes into each status's proof, one string
// shared by all, so that each status carries what verifies it.
func (s *ProductsService) verifyBatch(ctx context.Context, page BatchResponse, base *Checkpoint, out []batchAnswer) {
	sts := make([]*ProductStatus, 0, len(out))
	at := make([]int, 0, len(out))
	for i := range out {
		st := out[i].status
		if st == nil {
			continue
		}
		if p := st.Proof; p != nil {
			switch p.Checkpoint {
			case "":
				p.Checkpoint = page.Checkpoint
			case page.Checkpoint:
			default:
				out[i].status, out[i].err = nil, s.client.refuse(st.Key,
					fmt.Errorf("%w: result %d names a checkpoint other than its answer's", ErrLogProof, i))
				continue
			}
		}
		sts, at = append(sts, st), append(at, i)
	}
	for j, err := range s.client.verifyAnswer(ctx, sts, base, page.Checkpoint, page.Consistency) {
		if err != nil {
			out[at[j]].status, out[at[j]].err = nil, err
		}
	}
}

// batchProblem is the *APIError for one key the API refused in a batch
// whose call as a whole succeeded.
func batchProblem(resp *Response, p *Problem) *APIError {
	e := &APIError{
		Method: http.MethodPost, Path: batchPath, StatusCode: p.Status,
		Code: p.Code, Title: p.Title, Detail: p.Detail, Fields: p.Errors, RequestID: p.RequestID,
	}
	if e.StatusCode < 400 || e.StatusCode > 599 {
		// The contract's per-key problems are all refusals of the key; a
		// problem without an error status is still one, not a success.
		e.StatusCode = http.StatusBadRequest
	}
	if e.RequestID == "" {
		e.RequestID = resp.RequestID
	}
	return e
}
