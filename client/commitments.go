package client

import (
	"context"
	"iter"
	"net/url"
)

// Get answers one commitment by its id (cmt_…). A malformed id matches
// ErrInvalidInput and is not sent; an unknown one is an *APIError
// matching ErrNotFound.
func (s *CommitmentsService) Get(ctx context.Context, id string, opts *GetOptions) (*Commitment, *Response, error) {
	if err := checkID("commitment", "cmt_", id); err != nil {
		return nil, nil, err
	}
	return getRecord[Commitment](ctx, s.client, "/v1/commitments/"+url.PathEscape(id), nil, opts)
}

// ListByEnterprise answers one page of an enterprise's commitments, one
// per category it signed for. The enterprise is named as in
// EnterprisesService.Get, by id or USCC.
func (s *CommitmentsService) ListByEnterprise(ctx context.Context, enterprise string, opts *ListOptions) (List[Commitment], *Response, error) {
	ref, err := enterpriseRef(enterprise)
	if err != nil {
		return List[Commitment]{}, nil, err
	}
	q := url.Values{}
	if err := opts.query(q); err != nil {
		return List[Commitment]{}, nil, err
	}
	return getPage[Commitment](ctx, s.client, "/v1/enterprises/"+url.PathEscape(ref)+"/commitments", q)
}

// AllByEnterprise iterates over every commitment of an enterprise, from
// opts.Cursor on; see EnterprisesService.All.
func (s *CommitmentsService) AllByEnterprise(ctx context.Context, enterprise string, opts *ListOptions) iter.Seq2[Commitment, error] {
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	return paginate(o.Cursor, func(cursor string) (List[Commitment], *Response, error) {
		o.Cursor = cursor
		return s.ListByEnterprise(ctx, enterprise, &o)
	})
}
