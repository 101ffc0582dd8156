package sandbox_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/sandbox"
)

// The sandbox plays the regulator's public enquiry platform: a record's
// verify_url path answers an HTML page of the record.
func TestRecordPages(t *testing.T) {
	srv := sandbox.NewServer(t, sandbox.WithHostileText())
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct{ path, has string }{
		{"/commitments/cmt_0000001_1", "cmt_0000001_1"},
		{"/enterprises/ent_0000001", "ent_0000001"},
		{"/inspections/ins_00000001", "ins_00000001"},
	} {
		code, b := get(c.path)
		if code != 200 || !strings.Contains(b, c.has) || !strings.Contains(b, `<h1 id="record">`) {
			t.Errorf("GET %s: %d\n%s", c.path, code, b)
		}
		if strings.Contains(b, "<script>") {
			t.Errorf("GET %s: hostile text reached the page unescaped", c.path)
		}
	}
	if code, _ := get("/commitments/cmt_nobody"); code != http.StatusNotFound {
		t.Errorf("an unknown record: %d; want 404", code)
	}
}
