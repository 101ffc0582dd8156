package client_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func TestCategoriesList(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	catsPage, resp, err := c.Categories.List(ctxT(t))
	cats := catsPage.Data
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, cat := range cats {
		codes = append(codes, cat.Code)
		if cat.Name.ZH == "" || cat.Version == 0 || cat.UpdatedAt.IsZero() {
			t.Errorf("category %+v lacks a name, version or date", cat)
		}
	}
	want := []string{"childrens_clothing", "furniture", "household_appliances", "stationery", "toys", "washing_products"}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	if resp.StatusCode != http.StatusOK || resp.ETag == "" || resp.NextCursor != "" {
		t.Errorf("response %+v", resp)
	}
}

func TestCategoriesListError(t *testing.T) {
	t.Parallel()
	_, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithAPIKeys("another-key")},
	})
	catsPage, resp, err := c.Categories.List(ctxT(t))
	cats := catsPage.Data
	if cats != nil || resp == nil {
		t.Errorf("List = %v, %v with an error", cats, resp)
	}
	requireAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthorized)
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("err = %v, want ErrUnauthorized", err)
	}
}
