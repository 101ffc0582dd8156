package client_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
)

// allInspections walks every inspection matching opts, in pages of 100.
func allInspections(t *testing.T, c *client.Client, opts client.InspectionListOptions) []client.Inspection {
	t.Helper()
	opts.Limit = 100
	var out []client.Inspection
	for in, err := range c.Inspections.All(ctxT(t), &opts) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, in)
	}
	return out
}

func TestInspectionsAllWalksEveryPage(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	want := allInspections(t, c, client.InspectionListOptions{})
	if len(want) < 30 {
		t.Fatalf("demo set has %d inspections; too few to page", len(want))
	}
	before := srv.Requests("GET /v1/inspections")
	var got []client.Inspection
	for in, err := range c.Inspections.All(ctxT(t), &client.InspectionListOptions{ListOptions: client.ListOptions{Limit: 7}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, in)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pages of 7 (-pages of 100 +pages of 7):\n%s", diff)
	}
	if n, pages := srv.Requests("GET /v1/inspections")-before, (len(want)+6)/7; n != int64(pages) {
		t.Errorf("%d pages fetched, want %d", n, pages)
	}
}

func TestInspectionsListFilters(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	all := allInspections(t, c, client.InspectionListOptions{})
	ent := all[len(all)/2].EnterpriseID
	var entUSCC client.USCC
	if e, _, err := c.Enterprises.Get(ctxT(t), ent, nil); err != nil {
		t.Fatal(err)
	} else {
		entUSCC = e.USCC
	}
	since := all[len(all)/3].PublishedAt.Add(time.Nanosecond) // sub-second: rounded down, never excludes

	tests := []struct {
		name string
		opts client.InspectionListOptions
		want func(client.Inspection) bool
	}{
		{"result", client.InspectionListOptions{Result: client.InspectionFail}, func(in client.Inspection) bool {
			return in.Result == client.InspectionFail
		}},
		{"enterprise id", client.InspectionListOptions{Enterprise: ent}, func(in client.Inspection) bool {
			return in.EnterpriseID == ent
		}},
		{"enterprise USCC", client.InspectionListOptions{Enterprise: string(entUSCC)}, func(in client.Inspection) bool {
			return in.EnterpriseID == ent
		}},
		{"category", client.InspectionListOptions{Category: "household_appliances"}, func(in client.Inspection) bool {
			return in.Category == "household_appliances"
		}},
		{"published since", client.InspectionListOptions{PublishedSince: since.In(time.FixedZone("CST", 8*3600))}, func(in client.Inspection) bool {
			return !in.PublishedAt.Before(since.Truncate(time.Second))
		}},
	}
	for _, tt := range tests {
		got := allInspections(t, c, tt.opts)
		var want []client.Inspection
		for _, in := range all {
			if tt.want(in) {
				want = append(want, in)
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

func TestInspectionsGetAndPublish(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	page, _, err := c.Inspections.List(ctx, &client.InspectionListOptions{ListOptions: client.ListOptions{Limit: 3}})
	if err != nil || len(page.Data) != 3 {
		t.Fatalf("List: %d, %v", len(page.Data), err)
	}
	got, resp, err := c.Inspections.Get(ctx, page.Data[1].ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&page.Data[1], got); diff != "" {
		t.Errorf("Get (-listed +got):\n%s", diff)
	}
	if same, r, err := c.Inspections.Get(ctx, got.ID, &client.GetOptions{ETag: resp.ETag}); err != nil || same != nil || !r.NotModified {
		t.Errorf("conditional Get: %v, %+v, %v; want 304", same, r, err)
	}

	published, err := srv.PublishInspection(srv.Demo()[0].GTIN, client.InspectionFail)
	if err != nil {
		t.Fatal(err)
	}
	freshPage, _, err := c.Inspections.List(ctx, &client.InspectionListOptions{PublishedSince: published.PublishedAt, Result: client.InspectionFail})
	fresh := freshPage.Data
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range fresh {
		found = found || in.ID == published.ID
	}
	if !found {
		t.Errorf("a new inspection %s is not listed since its publication: %d listed", published.ID, len(fresh))
	}
}

func TestInspectionsErrors(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := ctxT(t)
	_, _, err := c.Inspections.Get(ctx, "ins_99999999", nil)
	if !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown inspection: err = %v, want ErrNotFound", err)
	}
	requireAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	_, _, err = c.Inspections.List(ctx, &client.InspectionListOptions{ListOptions: client.ListOptions{Cursor: "bogus"}})
	requireAPIError(t, err, http.StatusBadRequest, client.CodeInvalidCursor)

	before := srv.Requests("")
	if _, _, err := c.Inspections.Get(ctx, "cmt_0000001_1", nil); !errors.Is(err, client.ErrInvalidInput) {
		t.Errorf("Get(commitment id) err = %v, want ErrInvalidInput", err)
	}
	if _, _, err := c.Inspections.List(ctx, &client.InspectionListOptions{Enterprise: "91350100M000100Y44"}); !errors.Is(err, client.ErrInvalidID) {
		t.Errorf("List(bad USCC) err = %v, want ErrInvalidID", err)
	}
	for _, err := range c.Inspections.All(ctx, &client.InspectionListOptions{ListOptions: client.ListOptions{Limit: 1000}}) {
		if !errors.Is(err, client.ErrInvalidInput) {
			t.Errorf("All(limit 1000) yielded %v, want ErrInvalidInput", err)
		}
	}
	noRequests(t, srv, before)
}
