package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// LogService reads the registry's log: its signed checkpoints, the keys
// that sign them, proofs and leaves. It fetches; the functions of log.go
// (VerifyCheckpoint, VerifyInclusion, VerifyConsistency) judge what it
// fetched, so that nothing the network brings is trusted before them.

// textBody is an answer read as bytes, not decoded: what is signed or
// hashed must reach the verifier exactly as the registry sent it.
type textBody []byte

// Checkpoint answers the log's latest signed checkpoint, as served: pass
// it to VerifyCheckpoint before believing a word of it.
func (s *LogService) Checkpoint(ctx context.Context) ([]byte, *Response, error) {
	return s.text(ctx, "/v1/log/checkpoint", nil)
}

// Keys answers the keys that sign the log's checkpoints, oldest first,
// each with when it verifies.
func (s *LogService) Keys(ctx context.Context) ([]LogKey, *Response, error) {
	var out struct {
		Data []LogKey `json:"data"`
	}
	resp, err := s.client.do(ctx, request{method: http.MethodGet, path: "/v1/keys", idempotent: true}, &out)
	if err != nil {
		return nil, resp, err
	}
	return out.Data, resp, nil
}

// Inclusion answers the proof that leaf index is in the tree of size
// leaves. An index not below size, or a negative one, matches
// ErrInvalidInput and is not sent.
func (s *LogService) Inclusion(ctx context.Context, index, size int64) (*InclusionProof, *Response, error) {
	if index < 0 || index >= size {
		return nil, nil, invalidInput("leaf %d is not in a tree of %d", index, size)
	}
	q := url.Values{"index": {strconv.FormatInt(index, 10)}, "size": {strconv.FormatInt(size, 10)}}
	out := new(InclusionProof)
	resp, err := s.client.do(ctx, request{method: http.MethodGet, path: "/v1/log/proof/inclusion", query: q, idempotent: true}, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// Consistency answers the proof that the tree of to leaves extends the
// tree of from. A from past to, or a negative one, matches
// ErrInvalidInput and is not sent.
func (s *LogService) Consistency(ctx context.Context, from, to int64) (*ConsistencyProof, *Response, error) {
	if from < 0 || from > to {
		return nil, nil, invalidInput("no tree of %d extends a tree of %d", to, from)
	}
	q := url.Values{"from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)}}
	out := new(ConsistencyProof)
	resp, err := s.client.do(ctx, request{method: http.MethodGet, path: "/v1/log/proof/consistency", query: q, idempotent: true}, out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// Leaf answers leaf index's bytes: compare them with LogLeaf of the
// change at position index+1, and check them with an inclusion proof. A
// negative index matches ErrInvalidInput and is not sent.
func (s *LogService) Leaf(ctx context.Context, index int64) ([]byte, *Response, error) {
	if index < 0 {
		return nil, nil, invalidInput("leaf %d is not in any tree", index)
	}
	return s.text(ctx, "/v1/log/leaf", url.Values{"index": {strconv.FormatInt(index, 10)}})
}

func (s *LogService) text(ctx context.Context, path string, q url.Values) ([]byte, *Response, error) {
	var out textBody
	resp, err := s.client.do(ctx, request{
		method: http.MethodGet, path: path, query: q, idempotent: true,
		header: http.Header{"Accept": {"text/plain"}},
	}, &out)
	if err != nil {
		return nil, resp, err
	}
	return []byte(out), resp, nil
}
