package client

import (
	"context"
	"iter"
	"net/url"
)

// CaseListOptions filter and page the list of typical enforcement cases.
type CaseListOptions struct {
	ListOptions
	// Category is a category code.
	Category string
	// Brand keeps only cases about this brand, spelt exactly as published.
	Brand string
}

func (o *CaseListOptions) query() (url.Values, error) {
	q := url.Values{}
	if o == nil {
		return q, nil
	}
	if err := o.ListOptions.query(q); err != nil {
		return nil, err
	}
	if o.Category != "" {
		q.Set("category", o.Category)
	}
	if o.Brand != "" {
		q.Set("brand", o.Brand)
	}
	return q, nil
}

// Get answers one case by its id (case_…). A malformed id matches
// ErrInvalidInput and is not sent; an unknown one is an *APIError
// matching ErrNotFound.
func (s *CasesService) Get(ctx context.Context, id string, opts *GetOptions) (*Case, *Response, error) {
	if err := checkID("case", "case_", id); err != nil {
		return nil, nil, err
	}
	return getRecord[Case](ctx, s.client, "/v1/cases/"+url.PathEscape(id), nil, opts)
}

// List answers one page of published cases; its NextCursor names the next
// page and is empty on the last.
func (s *CasesService) List(ctx context.Context, opts *CaseListOptions) (List[Case], *Response, error) {
	q, err := opts.query()
	if err != nil {
		return List[Case]{}, nil, err
	}
	return getPage[Case](ctx, s.client, "/v1/cases", q)
}

// All iterates over every case List would page through, from opts.Cursor
// on; see EnterprisesService.All.
func (s *CasesService) All(ctx context.Context, opts *CaseListOptions) iter.Seq2[Case, error] {
	var o CaseListOptions
	if opts != nil {
		o = *opts
	}
	return paginate(o.Cursor, func(cursor string) (List[Case], *Response, error) {
		o.Cursor = cursor
		return s.List(ctx, &o)
	})
}
