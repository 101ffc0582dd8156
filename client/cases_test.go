package client_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
)

func TestCasesListGetAndAll(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	allPage, resp, err := c.Cases.List(ctx, &client.CaseListOptions{ListOptions: client.ListOptions{Limit: 100}})
	all := allPage.Data
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 3 || resp.NextCursor != "" {
		t.Fatalf("%d cases (next %q); want a few on one page", len(all), resp.NextCursor)
	}

	before := srv.Requests("GET /v1/cases")
	var walked []client.Case
	for cs, err := range c.Cases.All(ctx, &client.CaseListOptions{ListOptions: client.ListOptions{Limit: 2}}) {
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, cs)
	}
	if diff := cmp.Diff(all, walked); diff != "" {
		t.Errorf("pages of 2 (-one page +pages):\n%s", diff)
	}
	if n := srv.Requests("GET /v1/cases") - before; n != int64((len(all)+1)/2) {
		t.Errorf("%d pages fetched for %d cases by 2", n, len(all))
	}

	got, _, err := c.Cases.Get(ctx, all[0].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&all[0], got); diff != "" {
		t.Errorf("Get (-listed +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name string
		opts client.CaseListOptions
		keep func(client.Case) bool
	}{
		{"brand", client.CaseListOptions{Brand: all[0].Brand}, func(cs client.Case) bool { return cs.Brand == all[0].Brand }},
		{"category", client.CaseListOptions{Category: all[0].Category}, func(cs client.Case) bool { return cs.Category == all[0].Category }},
	} {
		gotPage, _, err := c.Cases.List(ctx, &tt.opts)
		got := gotPage.Data
		if err != nil {
			t.Fatal(err)
		}
		var want []client.Case
		for _, cs := range all {
			if tt.keep(cs) {
				want = append(want, cs)
			}
		}
		if len(want) == len(all) {
			t.Fatalf("%s: every case matches; the filter tests nothing", tt.name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestCasesSeesAPublishedCase(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	pub := srv.PublishCase(client.Case{
		Title: client.Text{ZH: "销售假冒围巾案"}, Summary: client.Text{ZH: "当事人在平台销售假冒品牌围巾。"},
		Brand: "测试品牌", Platform: "某电商平台", Authority: client.Text{ZH: "某市市场监督管理局"},
	})
	gotPage, _, err := c.Cases.List(ctx, &client.CaseListOptions{Brand: "测试品牌"})
	got := gotPage.Data
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]client.Case{pub}, got); diff != "" {
		t.Errorf("published case (-want +got):\n%s", diff)
	}
}

func TestCasesErrors(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	_, _, err := c.Cases.Get(ctx, "case_999999", nil)
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown case: err = %v, want ErrNotFound", err)
	}
	requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	n := 0
	for _, err := range c.Cases.All(ctx, &client.CaseListOptions{ListOptions: client.ListOptions{Cursor: "bogus"}}) {
		n++
		requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidCursor)
	}
	if n != 1 {
		t.Errorf("a bad cursor yielded %d times, want once", n)
	}

	before := srv.Requests("")
	for _, id := range []string{"", "case_", "ent_0000001", "case_a b"} {
		if _, _, err := c.Cases.Get(ctx, id, nil); !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("Get(%q) err = %v, want ErrInvalidInput", id, err)
		}
	}
	if _, _, err := c.Cases.List(ctx, &client.CaseListOptions{ListOptions: client.ListOptions{Limit: 101}}); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("List(limit 101) err = %v, want ErrInvalidInput", err)
	}
	noRequests(t, srv, before)
}
