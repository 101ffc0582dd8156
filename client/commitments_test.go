package client_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
)

// multiCategoryEnterprise finds an enterprise that signed for more than
// one category, so that its commitments fill more than one page of one.
func multiCategoryEnterprise(t *testing.T, c *client.Client) client.Enterprise {
	t.Helper()
	for _, e := range allEnterprises(t, c) {
		if len(e.Categories) > 1 {
			return e
		}
	}
	t.Fatal("no enterprise of the demo set signed for two categories")
	return client.Enterprise{}
}

func TestCommitmentsListByEnterpriseAndGet(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := ctxT(t)
	ent := multiCategoryEnterprise(t, c)

	byIDPage, resp, err := c.Commitments.ListByEnterprise(ctx, ent.ID, nil)
	byID := byIDPage.Data
	if err != nil {
		t.Fatal(err)
	}
	if len(byID) != len(ent.Categories) || resp.NextCursor != "" {
		t.Fatalf("%d commitments (next %q) for %d categories", len(byID), resp.NextCursor, len(ent.Categories))
	}
	byUSCCPage, _, err := c.Commitments.ListByEnterprise(ctx, string(ent.USCC), nil)
	byUSCC := byUSCCPage.Data
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(byID, byUSCC); diff != "" {
		t.Errorf("by USCC (-by id +by USCC):\n%s", diff)
	}
	for _, want := range byID {
		if want.EnterpriseID != ent.ID {
			t.Errorf("commitment %s is of %s, want %s", want.ID, want.EnterpriseID, ent.ID)
		}
		got, resp, err := c.Commitments.Get(ctx, want.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Get(%s) (-listed +got):\n%s", want.ID, diff)
		}
		if resp.ETag == "" {
			t.Errorf("Get(%s): no ETag", want.ID)
		}
	}
}

func TestCommitmentsAllByEnterprisePages(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	ent := multiCategoryEnterprise(t, c)
	wantPage, _, err := c.Commitments.ListByEnterprise(ctx, ent.ID, nil)
	want := wantPage.Data
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Requests("GET /v1/enterprises/{id}/commitments")
	var got []client.Commitment
	for cm, err := range c.Commitments.AllByEnterprise(ctx, string(ent.USCC), &client.ListOptions{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cm)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages of one (-one page +pages):\n%s", diff)
	}
	if n := srv.Requests("GET /v1/enterprises/{id}/commitments") - before; n != int64(len(want)) {
		t.Errorf("%d pages fetched for %d commitments by one, want %d", n, len(want), len(want))
	}

	n := 0
	for _, err := range c.Commitments.AllByEnterprise(ctx, ent.ID, &client.ListOptions{Cursor: "bogus"}) {
		n++
		requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidCursor)
	}
	if n != 1 {
		t.Errorf("a bad cursor yielded %d times, want once", n)
	}
}

func TestCommitmentsErrors(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)

	_, _, err := c.Commitments.Get(ctx, "cmt_does_not_exist", nil)
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown commitment: err = %v, want ErrNotFound", err)
	}
	requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	_, _, err = c.Commitments.ListByEnterprise(ctx, "ent_9999999", nil)
	requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	before := srv.Requests("")
	for _, id := range []string{"", "ins_00000001", "cmt_", "cmt_1/2", "cmt_é"} {
		if _, _, err := c.Commitments.Get(ctx, id, nil); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("Get(%q) err = %v, want ErrInvalidInput", id, err)
		}
	}
	if _, _, err := c.Commitments.ListByEnterprise(ctx, "not a uscc", nil); !errors.Is(err, client.ErrInvalidID) {
		t.Errorf("ListByEnterprise(bad USCC) err = %v, want ErrInvalidID", err)
	}
	if _, _, err := c.Commitments.ListByEnterprise(ctx, "ent_0000001", &client.ListOptions{Limit: 500}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("ListByEnterprise(limit 500) err = %v, want ErrInvalidInput", err)
	}
	noRequests(t, srv, before)
}

func TestCommitmentsConditionalGetSeesARevocation(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	cmsPage, _, err := c.Commitments.ListByEnterprise(ctx, "ent_0000001", nil)
	cms := cmsPage.Data
	if err != nil || len(cms) == 0 {
		t.Fatalf("ListByEnterprise: %v, %v", cms, err)
	}
	id := cms[0].ID
	_, resp, err := c.Commitments.Get(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	same, resp2, err := c.Commitments.Get(ctx, id, &client.GetOptions{ETag: resp.ETag})
	if err != nil || same != nil || !resp2.NotModified {
		t.Fatalf("unchanged: %v, %+v, %v; want 304", same, resp2, err)
	}
	if _, err := srv.Revoke(id); err != nil {
		t.Fatal(err)
	}
	got, resp3, err := c.Commitments.Get(ctx, id, &client.GetOptions{ETag: resp.ETag})
	if err != nil || got == nil || resp3.ETag == resp.ETag {
		t.Fatalf("revoked: %v, %+v, %v; want a new answer", got, resp3, err)
	}
	if got.Status != client.CommitmentRevoked || got.StatusReason == nil {
		t.Errorf("revoked commitment: status %s reason %v", got.Status, got.StatusReason)
	}
}
