package testio

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Get serves a GET of target through h, with headers in name, value pairs.
func Get(t testing.TB, h http.Handler, target string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// Body reads a response's body.
func Body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// CheckXML parses markup as XML (the SDK's HTML is well-formed XML too, so
// a strict parser finds any unbalanced or broken markup), and fails on
// script, event handlers, inline style, and links anywhere but https pages
// of host; with relative, links within the site ("/…", "?…") are allowed
// too.
func CheckXML(t testing.TB, what, doc, host string, relative bool) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: not well-formed: %v\n%s", what, err, doc)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if n := strings.ToLower(se.Name.Local); n == "script" || n == "iframe" || n == "object" || n == "foreignobject" {
			t.Errorf("%s: has a <%s> element", what, se.Name.Local)
		}
		for _, a := range se.Attr {
			n, v := strings.ToLower(a.Name.Local), strings.ToLower(strings.TrimSpace(a.Value))
			if strings.HasPrefix(n, "on") {
				t.Errorf("%s: has an event handler %s=%q", what, a.Name.Local, a.Value)
			}
			if n == "style" {
				t.Errorf("%s: has inline style %q", what, a.Value)
			}
			if n == "href" || n == "src" || n == "xlink:href" {
				local := relative && (strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//") || strings.HasPrefix(v, "?"))
				if strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || !local && !strings.HasPrefix(v, "https://"+host+"/") {
					t.Errorf("%s: links off the allow-list: %s=%q", what, a.Name.Local, a.Value)
				}
			}
		}
	}
}
