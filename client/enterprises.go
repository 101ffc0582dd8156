package client

import (
	"context"
	"iter"
	"net/url"
	"strings"
)

// EnterpriseListOptions filter and page the list of enterprises.
type EnterpriseListOptions struct {
	ListOptions
	// Category is a category code, such as "household_appliances".
	Category string
	// Region is a GB/T 2260 code or its leading digits: "330000" or "33"
	// is all of Zhejiang.
	Region string
	// Query matches the Chinese or English name, or the USCC (sent as q).
	Query string
}

func (o *EnterpriseListOptions) query() (url.Values, error) {
	q := url.Values{}
	if o == nil {
		return q, nil
	}
	if err := o.ListOptions.query(q); err != nil {
		return nil, err
	}
	if o.Region != "" {
		if len(o.Region) > 6 || strings.Trim(o.Region, "0123456789") != "" {
			return nil, invalidInput("region %q is not 1 to 6 digits of a GB/T 2260 code", cut(o.Region))
		}
		q.Set("region", o.Region)
	}
	if err := checkText("query", o.Query, 0, 100); err != nil {
		return nil, err
	}
	if o.Category != "" {
		q.Set("category", o.Category)
	}
	if o.Query != "" {
		q.Set("q", o.Query)
	}
	return q, nil
}

// Get answers one enterprise, named by its registry id (ent_…) or its
// USCC. A malformed USCC is an *IDError, and a malformed id an error
// matching ErrInvalidInput; neither is sent. An enterprise not on the list
// is an *APIError matching ErrNotFound.
func (s *EnterprisesService) Get(ctx context.Context, idOrUSCC string, opts *GetOptions) (*Enterprise, *Response, error) {
	ref, err := enterpriseRef(idOrUSCC)
	if err != nil {
		return nil, nil, err
	}
	return getRecord[Enterprise](ctx, s.client, "/v1/enterprises/"+url.PathEscape(ref), nil, opts)
}

// List answers one page of the enterprises on the list, in registry order;
// the page's NextCursor names the next page and is empty on the last.
func (s *EnterprisesService) List(ctx context.Context, opts *EnterpriseListOptions) (List[Enterprise], *Response, error) {
	q, err := opts.query()
	if err != nil {
		return List[Enterprise]{}, nil, err
	}
	return getPage[Enterprise](ctx, s.client, "/v1/enterprises", q)
}

// All iterates over every enterprise List would page through, from
// opts.Cursor on, fetching a page only when the loop reaches it. An error
// ends the iteration after it is yielded.
func (s *EnterprisesService) All(ctx context.Context, opts *EnterpriseListOptions) iter.Seq2[Enterprise, error] {
	var o EnterpriseListOptions
	if opts != nil {
		o = *opts // the caller's options stay as they were
	}
	return paginate(o.Cursor, func(cursor string) (List[Enterprise], *Response, error) {
		o.Cursor = cursor
		return s.List(ctx, &o)
	})
}
