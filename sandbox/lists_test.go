package sandbox_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, x := range items {
		out[i] = id(x)
	}
	return out
}

func entID(e client.Enterprise) string  { return e.ID }
func insID(in client.Inspection) string { return in.ID }
func caseID(c client.Case) string       { return c.ID }

func filter[T any](items []T, keep func(T) bool) []T {
	var out []T
	for _, x := range items {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func TestEnterprisesPaging(t *testing.T) {
	t.Parallel()
	srv, c := start(t)
	n, _ := srv.Size()

	var all []client.Enterprise
	cursor, pages := "", 0
	for {
		pages++
		if pages > n {
			t.Fatalf("more pages than enterprises; the cursor goes round")
		}
		q := url.Values{"limit": {"7"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		page := getJSON[client.List[client.Enterprise]](t, c, "/v1/enterprises?"+q.Encode())
		all = append(all, page.Data...)
		if page.NextCursor == "" {
			if len(page.Data) == 0 || len(page.Data) > 7 {
				t.Errorf("last page holds %d enterprises, want 1 to 7", len(page.Data))
			}
			break
		}
		if len(page.Data) != 7 {
			t.Errorf("page %d holds %d enterprises and has a next_cursor, want 7", pages, len(page.Data))
		}
		cursor = page.NextCursor
	}

	got := ids(all, entID)
	if len(got) != n {
		t.Errorf("walked %d enterprises, want %d", len(got), n)
	}
	if want := (n + 6) / 7; pages != want {
		t.Errorf("%d pages of 7, want %d", pages, want)
	}
	if !slices.IsSorted(got) {
		t.Errorf("enterprises not in id order: %v", got)
	}
	if len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("an enterprise was served twice: %v", got)
	}
	// One big page says the same.
	big := getJSON[client.List[client.Enterprise]](t, c, "/v1/enterprises?limit=100")
	if diff := cmp.Diff(big.Data, all); diff != "" {
		t.Errorf("pages of 7 differ from one page of 100 (-100 +7):\n%s", diff)
	}
	if big.NextCursor != "" {
		t.Errorf("one page of 100 over %d enterprises has a next_cursor", n)
	}
	// The default page is 20.
	if def := getJSON[client.List[client.Enterprise]](t, c, "/v1/enterprises"); len(def.Data) != min(20, n) || def.NextCursor == "" {
		t.Errorf("default page: %d enterprises, next_cursor %q; want 20 and a cursor", len(def.Data), def.NextCursor)
	}
}

func TestEnterpriseFilters(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	all, _ := walk[client.Enterprise](t, c, "/v1/enterprises", url.Values{"limit": {"100"}})
	if len(all) == 0 {
		t.Fatal("no enterprises")
	}

	check := func(name string, q url.Values, keep func(client.Enterprise) bool) []client.Enterprise {
		t.Helper()
		got, _ := walk[client.Enterprise](t, c, "/v1/enterprises", q)
		want := filter(all, keep)
		if diff := cmp.Diff(ids(want, entID), ids(got, entID)); diff != "" {
			t.Errorf("%s (%s): enterprises (-want +got):\n%s", name, q.Encode(), diff)
		}
		if len(want) == 0 {
			t.Errorf("%s (%s): the demo set has no match; the test proves nothing", name, q.Encode())
		}
		return got
	}

	cats := getJSON[client.List[client.Category]](t, c, "/v1/categories").Data
	for _, cat := range cats {
		got, _ := walk[client.Enterprise](t, c, "/v1/enterprises", url.Values{"category": {cat.Code}, "limit": {"3"}})
		want := filter(all, func(e client.Enterprise) bool { return slices.Contains(e.Categories, cat.Code) })
		if diff := cmp.Diff(ids(want, entID), ids(got, entID)); diff != "" {
			t.Errorf("category=%s (-want +got):\n%s", cat.Code, diff)
		}
	}
	check("household appliances", url.Values{"category": {"household_appliances"}}, func(e client.Enterprise) bool {
		return slices.Contains(e.Categories, "household_appliances")
	})

	zhejiang := func(e client.Enterprise) bool { return strings.HasPrefix(e.RegionCode, "33") }
	check("province prefix", url.Values{"region": {"33"}}, zhejiang)
	check("province code", url.Values{"region": {"330000"}}, zhejiang)
	check("province as a city prefix", url.Values{"region": {"3300"}}, zhejiang)
	check("city prefix", url.Values{"region": {"3301"}}, func(e client.Enterprise) bool { return strings.HasPrefix(e.RegionCode, "3301") })
	check("city code", url.Values{"region": {"330100"}}, func(e client.Enterprise) bool { return e.RegionCode == "330100" })

	zh := "清源"
	check("Chinese substring", url.Values{"q": {zh}}, func(e client.Enterprise) bool { return strings.Contains(e.Name.ZH, zh) })
	lower := func(e client.Enterprise) bool { return strings.Contains(strings.ToLower(e.Name.EN), "qingyuan") }
	a := check("English, lower case", url.Values{"q": {"qingyuan"}}, lower)
	b := check("English, upper case", url.Values{"q": {"QINGYUAN"}}, lower)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("q is case-sensitive (-qingyuan +QINGYUAN):\n%s", diff)
	}
	// The contract: q is matched against the names and the USCC.
	u := all[len(all)-1].USCC
	check("USCC", url.Values{"q": {string(u)}}, func(e client.Enterprise) bool { return e.USCC == u })

	got, _ := walk[client.Enterprise](t, c, "/v1/enterprises", url.Values{"q": {"没有这个名字的企业"}})
	if len(got) != 0 {
		t.Errorf("q matching nothing: %d enterprises", len(got))
	}
}

func TestInspectionFilters(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	all, _ := walk[client.Inspection](t, c, "/v1/inspections", url.Values{"limit": {"100"}})
	if len(all) == 0 {
		t.Fatal("no inspections")
	}
	// The contract: newest published first.
	for i := 1; i < len(all); i++ {
		if all[i].PublishedAt.After(all[i-1].PublishedAt) {
			t.Errorf("inspection %s (published %v) after %s (published %v): want newest published first",
				all[i].ID, all[i].PublishedAt, all[i-1].ID, all[i-1].PublishedAt)
		}
	}
	if got := ids(all, insID); len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
		t.Errorf("an inspection was served twice: %v", got)
	}
	ents, _ := walk[client.Enterprise](t, c, "/v1/enterprises", url.Values{"limit": {"100"}})
	usccOf := map[string]client.USCC{}
	for _, e := range ents {
		usccOf[e.ID] = e.USCC
	}

	check := func(name string, q url.Values, keep func(client.Inspection) bool) {
		t.Helper()
		q.Set("limit", "5")
		got, _ := walk[client.Inspection](t, c, "/v1/inspections", q)
		want := filter(all, keep)
		if diff := cmp.Diff(ids(want, insID), ids(got, insID)); diff != "" {
			t.Errorf("%s (%s) (-want +got):\n%s", name, q.Encode(), diff)
		}
		if len(want) == 0 || len(want) == len(all) {
			t.Errorf("%s: %d of %d inspections match; the filter is not tested", name, len(want), len(all))
		}
	}

	ent := all[len(all)/2].EnterpriseID
	byEnt := func(in client.Inspection) bool { return in.EnterpriseID == ent }
	check("enterprise id", url.Values{"enterprise": {ent}}, byEnt)
	check("enterprise USCC", url.Values{"enterprise": {string(usccOf[ent])}}, byEnt)
	check("result=fail", url.Values{"result": {"fail"}}, func(in client.Inspection) bool { return in.Result == client.InspectionFail })

	since := refTime.Add(-90 * day)
	recent := func(in client.Inspection) bool { return !in.PublishedAt.Before(since) }
	check("published_since RFC 3339", url.Values{"published_since": {since.Format(time.RFC3339)}}, recent)
	check("published_since date", url.Values{"published_since": {since.Format(time.DateOnly)}}, recent)
	check("fail and category", url.Values{"result": {"fail"}, "category": {"childrens_clothing"}}, func(in client.Inspection) bool {
		return in.Result == client.InspectionFail && in.Category == "childrens_clothing"
	})

	for _, in := range all[:min(len(all), 10)] {
		got := getJSON[client.Inspection](t, c, "/v1/inspections/"+in.ID)
		if diff := cmp.Diff(in, got); diff != "" {
			t.Errorf("GET /v1/inspections/%s differs from the list (-list +get):\n%s", in.ID, diff)
		}
	}
}

func TestCases(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	all, _ := walk[client.Case](t, c, "/v1/cases", url.Values{"limit": {"4"}})
	if len(all) == 0 {
		t.Fatal("no cases")
	}
	for i := 1; i < len(all); i++ {
		if all[i].PublishedAt.After(all[i-1].PublishedAt) {
			t.Errorf("case %s after %s is newer: want newest published first", all[i].ID, all[i-1].ID)
		}
	}
	for _, tc := range []struct {
		q    url.Values
		keep func(client.Case) bool
	}{
		{url.Values{"category": {"childrens_clothing"}}, func(x client.Case) bool { return x.Category == "childrens_clothing" }},
		{url.Values{"brand": {all[0].Brand}}, func(x client.Case) bool { return x.Brand == all[0].Brand }},
	} {
		got, _ := walk[client.Case](t, c, "/v1/cases", tc.q)
		want := filter(all, tc.keep)
		if len(want) == 0 || len(want) == len(all) {
			t.Errorf("%s: %d of %d cases match; the filter is not tested", tc.q.Encode(), len(want), len(all))
		}
		if diff := cmp.Diff(ids(want, caseID), ids(got, caseID)); diff != "" {
			t.Errorf("cases %s (-want +got):\n%s", tc.q.Encode(), diff)
		}
	}
	for _, x := range all {
		got := getJSON[client.Case](t, c, "/v1/cases/"+x.ID)
		if diff := cmp.Diff(x, got); diff != "" {
			t.Errorf("GET /v1/cases/%s differs from the list (-list +get):\n%s", x.ID, diff)
		}
	}
}

func TestCategories(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	cats := getJSON[client.List[client.Category]](t, c, "/v1/categories")
	if cats.NextCursor != "" {
		t.Errorf("categories come in one page, got next_cursor %q", cats.NextCursor)
	}
	codes := map[string]bool{}
	for _, cat := range cats.Data {
		if codes[cat.Code] {
			t.Errorf("category %s listed twice", cat.Code)
		}
		codes[cat.Code] = true
		if cat.Name.ZH == "" || cat.Version <= 0 || cat.UpdatedAt.IsZero() {
			t.Errorf("category %+v lacks a Chinese name, a version or a date", cat)
		}
	}
	for _, want := range []string{"household_appliances", "washing_products", "childrens_clothing"} {
		if !codes[want] {
			t.Errorf("the registry's launch category %s is missing from %v", want, codes)
		}
	}
}

func TestEnterprisesAndCommitmentsByID(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	all, _ := walk[client.Enterprise](t, c, "/v1/enterprises", url.Values{"limit": {"100"}})
	for _, e := range all[:min(len(all), 12)] {
		byID := getJSON[client.Enterprise](t, c, "/v1/enterprises/"+e.ID)
		if diff := cmp.Diff(e, byID); diff != "" {
			t.Errorf("GET /v1/enterprises/%s differs from the list (-list +get):\n%s", e.ID, diff)
		}
		byUSCC := getJSON[client.Enterprise](t, c, "/v1/enterprises/"+string(e.USCC))
		if diff := cmp.Diff(e, byUSCC); diff != "" {
			t.Errorf("GET /v1/enterprises/%s (USCC) differs from the list (-list +get):\n%s", e.USCC, diff)
		}

		cmts, _ := walk[client.Commitment](t, c, "/v1/enterprises/"+e.ID+"/commitments", url.Values{"limit": {"1"}})
		if len(cmts) == 0 {
			t.Errorf("enterprise %s on the list has no commitment", e.ID)
		}
		cats := map[string]bool{}
		for _, cm := range cmts {
			if cm.EnterpriseID != e.ID {
				t.Errorf("commitment %s of %s says enterprise %s", cm.ID, e.ID, cm.EnterpriseID)
			}
			cats[cm.Category] = true
			got := getJSON[client.Commitment](t, c, "/v1/commitments/"+cm.ID)
			if diff := cmp.Diff(cm, got); diff != "" {
				t.Errorf("GET /v1/commitments/%s differs from the list (-list +get):\n%s", cm.ID, diff)
			}
		}
		for _, cat := range e.Categories {
			if !cats[cat] {
				t.Errorf("enterprise %s is listed in %s but has no commitment for it", e.ID, cat)
			}
		}
		viaUSCC, _ := walk[client.Commitment](t, c, "/v1/enterprises/"+string(e.USCC)+"/commitments", nil)
		if diff := cmp.Diff(cmts, viaUSCC); diff != "" {
			t.Errorf("commitments by USCC differ from by id (-id +uscc):\n%s", diff)
		}
	}
}

// A product's status lists its newest inspections first, at most five:
// inspections published within the same second (the registry's times are
// to the second) are newest by their order of publication, so that the
// latest one published is the first shown, however many came before it
// that second.
func TestAStatusListsTheLatestInspectionPublishedWithinASecond(t *testing.T) {
	t.Parallel()
	second := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	srv, c := start(t, sandbox.WithClock(func() time.Time { return second }))
	g := srv.Demo()[0].GTIN
	for i := range 7 {
		in, err := srv.PublishInspection(g, client.InspectionPass)
		if err != nil {
			t.Fatal(err)
		}
		st := getJSON[client.ProductStatus](t, c, "/v1/products/"+string(g))
		if len(st.Inspections) == 0 || st.Inspections[0].ID != in.ID {
			t.Fatalf("after the %d-th inspection published in one second, %s, the status lists %v first; want it", i+1, in.ID, ids(st.Inspections, insID))
		}
	}
}
