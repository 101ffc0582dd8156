package client

import "context"

// List answers every category of the registry. The list is short and
// grows only when the regulator opens a new category, so it is one page.
func (s *CategoriesService) List(ctx context.Context) (List[Category], *Response, error) {
	return getPage[Category](ctx, s.client, "/v1/categories", nil)
}
