package client_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// allEnterprises reads the demo set's 50 enterprises in one page, the
// reference the paged walks are compared with.
func allEnterprises(t *testing.T, c *client.Client) []client.Enterprise {
	t.Helper()
	entsPage, resp, err := c.Enterprises.List(ctxT(t), &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 100}})
	ents := entsPage.Data
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != sandbox.DefaultEnterprises || resp.NextCursor != "" {
		t.Fatalf("one page of 100: %d enterprises, next cursor %q; want all %d and none", len(ents), resp.NextCursor, sandbox.DefaultEnterprises)
	}
	return ents
}

func TestEnterprisesGetByIDAndByUSCC(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := ctxT(t)
	want := allEnterprises(t, c)[3]
	for _, ref := range []string{want.ID, string(want.USCC), strings.ToLower(string(want.USCC))} {
		got, resp, err := c.Enterprises.Get(ctx, ref, nil)
		if err != nil {
			t.Fatalf("Get(%q): %v", ref, err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Get(%q) (-listed +got):\n%s", ref, diff)
		}
		if resp.StatusCode != http.StatusOK || resp.ETag == "" {
			t.Errorf("Get(%q): status %d ETag %q", ref, resp.StatusCode, resp.ETag)
		}
	}
}

func TestEnterprisesGetNotFound(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := ctxT(t)
	unknown, err := client.CompleteUSCC("91110000MA0000000")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"ent_9999999", string(unknown)} {
		ent, resp, err := c.Enterprises.Get(ctx, ref, nil)
		if !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Get(%q) err = %v, want ErrNotFound", ref, err)
		}
		apiErr := requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)
		if ent != nil || resp == nil || resp.RequestID != apiErr.RequestID {
			t.Errorf("Get(%q) = %v, %+v; want no model and the answer's Response", ref, ent, resp)
		}
	}
}

func TestEnterprisesGetRefusesMalformedLocally(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	before := srv.Requests("")
	for _, ref := range []string{"", "ent_", "ent_a/b", "ent_../x", "ent_" + strings.Repeat("a", 65), "acme", "91350100M0O0100Y43", "91350100M000100Y44"} {
		_, _, err := c.Enterprises.Get(ctx, ref, nil)
		if !errors.Is(err, client.ErrInvalidInput) && !errors.Is(err, client.ErrInvalidID) {
			t.Errorf("Get(%q) err = %v, want a local refusal", ref, err)
		}
		// Anything not an ent_ id is read as a USCC, and refused as one.
		var idErr *client.IDError
		if !strings.HasPrefix(ref, "ent_") && !errors.As(err, &idErr) {
			t.Errorf("Get(%q) err = %v, want an *IDError", ref, err)
		}
	}
	noRequests(t, srv, before)
}

func TestEnterprisesConditionalGet(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	ent, resp, err := c.Enterprises.Get(ctx, "ent_0000005", nil)
	if err != nil {
		t.Fatal(err)
	}
	same, resp2, err := c.Enterprises.Get(ctx, ent.ID, &client.GetOptions{ETag: resp.ETag})
	if err != nil || same != nil || !resp2.NotModified {
		t.Fatalf("unchanged: %v, %+v, %v; want a 304", same, resp2, err)
	}
	name := client.Text{ZH: "新名字有限公司", EN: "New Name Co., Ltd."}
	if _, err := srv.RenameEnterprise(ent.ID, name); err != nil {
		t.Fatal(err)
	}
	renamed, resp3, err := c.Enterprises.Get(ctx, ent.ID, &client.GetOptions{ETag: resp.ETag})
	if err != nil || renamed == nil || resp3.NotModified || resp3.ETag == resp.ETag {
		t.Fatalf("renamed: %v, %+v, %v; want a new answer with a new ETag", renamed, resp3, err)
	}
	if diff := cmp.Diff(name, renamed.Name); diff != "" {
		t.Errorf("name (-want +got):\n%s", diff)
	}
}

func TestEnterprisesListFilters(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := ctxT(t)
	all := allEnterprises(t, c)

	page, resp, err := c.Enterprises.List(ctx, &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 7}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all[:7], page.Data); diff != "" || page.NextCursor == "" || page.NextCursor != resp.NextCursor {
		t.Errorf("first page of 7 (next %q, Response's %q) (-want +got):\n%s", page.NextCursor, resp.NextCursor, diff)
	}

	tests := []struct {
		name string
		opts client.EnterpriseListOptions
		want func(client.Enterprise) bool
	}{
		{"category", client.EnterpriseListOptions{Category: "toys"}, func(e client.Enterprise) bool {
			return strings.Contains(strings.Join(e.Categories, ","), "toys")
		}},
		{"region", client.EnterpriseListOptions{Region: all[0].RegionCode[:2]}, func(e client.Enterprise) bool {
			return e.RegionCode[:2] == all[0].RegionCode[:2]
		}},
		{"query by USCC", client.EnterpriseListOptions{Query: string(all[9].USCC)}, func(e client.Enterprise) bool {
			return e.USCC == all[9].USCC
		}},
		{"query by English name", client.EnterpriseListOptions{Query: all[2].Name.EN}, func(e client.Enterprise) bool {
			return e.Name.EN == all[2].Name.EN
		}},
	}
	for _, tt := range tests {
		tt.opts.Limit = 100
		gotPage, _, err := c.Enterprises.List(ctx, &tt.opts)
		got := gotPage.Data
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var want []client.Enterprise
		for _, e := range all {
			if tt.want(e) {
				want = append(want, e)
			}
		}
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("%s: %d of %d match; the filter tests nothing", tt.name, len(want), len(all))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestEnterprisesListRefusesBadOptionsLocally(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	before := srv.Requests("")
	for _, o := range []client.EnterpriseListOptions{
		{ListOptions: client.ListOptions{Limit: 101}},
		{ListOptions: client.ListOptions{Limit: -1}},
		{Region: "zj"},
		{Region: "3300001"},
		{Query: strings.Repeat("q", 101)},
	} {
		if _, _, err := c.Enterprises.List(ctx, &o); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("List(%+v) err = %v, want ErrInvalidInput", o, err)
		}
	}
	noRequests(t, srv, before)
}

func TestEnterprisesAllWalksEveryPage(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	want := allEnterprises(t, c)
	before := srv.Requests("GET /v1/enterprises")
	opts := &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 7}}
	var got []client.Enterprise
	for e, err := range c.Enterprises.All(ctxT(t), opts) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("walked (-one page +pages of 7):\n%s", diff)
	}
	if n := srv.Requests("GET /v1/enterprises") - before; n != 8 {
		t.Errorf("%d pages fetched for 50 enterprises by 7, want 8", n)
	}
	if opts.Cursor != "" {
		t.Errorf("All changed the caller's options: cursor %q", opts.Cursor)
	}
}

func TestEnterprisesAllFetchesOnlyPagesItIsAskedFor(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	for _, tt := range []struct{ take, pages int }{{1, 1}, {7, 1}, {8, 2}, {14, 2}, {15, 3}} {
		before := srv.Requests("GET /v1/enterprises")
		n := 0
		for _, err := range c.Enterprises.All(ctx, &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 7}}) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == tt.take {
				break
			}
		}
		if got := srv.Requests("GET /v1/enterprises") - before; got != int64(tt.pages) {
			t.Errorf("breaking after %d enterprises fetched %d pages, want %d", tt.take, got, tt.pages)
		}
	}
}

func TestEnterprisesAllResumesFromACursor(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := ctxT(t)
	want := allEnterprises(t, c)
	_, resp, err := c.Enterprises.List(ctx, &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 20}})
	if err != nil {
		t.Fatal(err)
	}
	var got []client.Enterprise
	for e, err := range c.Enterprises.All(ctx, &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 20, Cursor: resp.NextCursor}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if diff := cmp.Diff(want[20:], got); diff != "" {
		t.Errorf("resumed (-want +got):\n%s", diff)
	}
}

func TestEnterprisesAllYieldsABadCursorOnce(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := ctxT(t)
	_, resp, err := c.Enterprises.List(ctx, &client.EnterpriseListOptions{ListOptions: client.ListOptions{Limit: 5}})
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []*client.EnterpriseListOptions{
		{ListOptions: client.ListOptions{Cursor: "bogus"}},
		// A real cursor, but issued for another filter.
		{ListOptions: client.ListOptions{Cursor: resp.NextCursor}, Category: "toys"},
	} {
		var errs []error
		n := 0
		for e, err := range c.Enterprises.All(ctx, opts) {
			n++
			if err != nil {
				errs = append(errs, err)
				if e.ID != "" {
					t.Errorf("error yielded with enterprise %q", e.ID)
				}
			}
		}
		if n != 1 || len(errs) != 1 {
			t.Fatalf("cursor %q: %d yields, %d errors; want one error and nothing else", opts.Cursor, n, len(errs))
		}
		requireAPIError(t, errs[0], http.StatusBadRequest, client.CodeInvalidCursor)
		if !errors.Is(errs[0], client.ErrInvalidInput) {
			t.Errorf("bad cursor err = %v, want ErrInvalidInput", errs[0])
		}
	}
}
