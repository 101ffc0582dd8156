package client

import (
	"context"
	"iter"
	"net/url"
	"time"
)

// InspectionListOptions filter and page the list of inspections.
type InspectionListOptions struct {
	ListOptions
	// Enterprise names the inspected maker by id (ent_…) or USCC.
	Enterprise string
	// Category is a category code.
	Category string
	// Result keeps only inspections with this result.
	Result InspectionResult
	// PublishedSince keeps only inspections published at or after it.
	PublishedSince time.Time
}

func (o *InspectionListOptions) query() (url.Values, error) {
	q := url.Values{}
	if o == nil {
		return q, nil
	}
	if err := o.ListOptions.query(q); err != nil {
		return nil, err
	}
	if o.Enterprise != "" {
		ref, err := enterpriseRef(o.Enterprise)
		if err != nil {
			return nil, err
		}
		q.Set("enterprise", ref)
	}
	if o.Category != "" {
		q.Set("category", o.Category)
	}
	if o.Result != "" {
		q.Set("result", string(o.Result))
	}
	if !o.PublishedSince.IsZero() {
		// Whole seconds, rounded down: the filter then keeps an
		// inspection published within the second rather than drop it.
		q.Set("published_since", o.PublishedSince.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	return q, nil
}

// Get answers one inspection by its id (ins_…). A malformed id matches
// ErrInvalidInput and is not sent; an unknown one is an *APIError
// matching ErrNotFound.
func (s *InspectionsService) Get(ctx context.Context, id string, opts *GetOptions) (*Inspection, *Response, error) {
	if err := checkID("inspection", "ins_", id); err != nil {
		return nil, nil, err
	}
	return getRecord[Inspection](ctx, s.client, "/v1/inspections/"+url.PathEscape(id), nil, opts)
}

// List answers one page of published inspections; its NextCursor names
// the next page and is empty on the last.
func (s *InspectionsService) List(ctx context.Context, opts *InspectionListOptions) (List[Inspection], *Response, error) {
	q, err := opts.query()
	if err != nil {
		return List[Inspection]{}, nil, err
	}
	return getPage[Inspection](ctx, s.client, "/v1/inspections", q)
}

// All iterates over every inspection List would page through, from
// opts.Cursor on; see EnterprisesService.All.
func (s *InspectionsService) All(ctx context.Context, opts *InspectionListOptions) iter.Seq2[Inspection, error] {
	var o InspectionListOptions
	if opts != nil {
		o = *opts
	}
	return paginate(o.Cursor, func(cursor string) (List[Inspection], *Response, error) {
		o.Cursor = cursor
		return s.List(ctx, &o)
	})
}
