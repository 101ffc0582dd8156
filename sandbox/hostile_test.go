package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// stringsIn collects every string of a decoded JSON value.
func stringsIn(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			stringsIn(e, out)
		}
	case map[string]any:
		for k, e := range x {
			*out = append(*out, k)
			stringsIn(e, out)
		}
	}
}

func TestHostileText(t *testing.T) {
	t.Parallel()
	srv, c := start(t, sandbox.WithHostileText())

	var texts []string
	read := func(path string) []byte {
		t.Helper()
		resp, body := c.get(path)
		wantStatus(t, resp, body, http.StatusOK)
		if !utf8.Valid(body) {
			t.Errorf("GET %s: the body is not valid UTF-8", path)
		}
		if !json.Valid(body) {
			t.Errorf("GET %s: the body is not valid JSON", path)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		stringsIn(v, &texts)
		return body
	}

	ents := decode[client.List[client.Enterprise]](t, read("/v1/enterprises?limit=100"))
	for j := range 8 {
		p, ok := srv.Product(0, j)
		if !ok {
			t.Fatalf("Product(0, %d) missing", j)
		}
		read(productPath(p.GTIN))
	}
	for _, d := range srv.Demo() {
		st := decode[client.ProductStatus](t, read(productPath(d.GTIN)))
		// Hostile text changes the words, never the facts.
		if v := verdictAt(srv.ReferenceTime(), &st); v != d.Verdict {
			t.Errorf("hostile set, %s (%s): verdict %s, demo says %s", d.GTIN, d.About, v, d.Verdict)
		}
	}
	read("/v1/cases")
	read("/v1/inspections?limit=100")

	for _, want := range []string{"<script>", `onerror=`, "javascript:", "\u202e", "</style>", "{{", "\ufffd"} {
		found := false
		for _, s := range texts {
			if strings.Contains(s, want) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no decoded text contains %q: the hostile set is not hostile", want)
		}
	}

	// Enterprise index 1 has a name of about 10 KB.
	if len(ents.Data) < 2 {
		t.Fatalf("%d enterprises", len(ents.Data))
	}
	long := ents.Data[1]
	if n := len(long.Name.ZH); n < 10_000 {
		t.Errorf("enterprise %s: name of %d bytes, want about 10 KB", long.ID, n)
	}
	if !utf8.ValidString(long.Name.ZH) {
		t.Errorf("enterprise %s: the long name is not valid UTF-8", long.ID)
	}
	got := decode[client.Enterprise](t, read("/v1/enterprises/"+long.ID))
	if diff := cmp.Diff(long, got); diff != "" {
		t.Errorf("GET /v1/enterprises/%s differs from the list (-list +get):\n%s", long.ID, diff)
	}
}
