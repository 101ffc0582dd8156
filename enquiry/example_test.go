package enquiry_test

import (
	"fmt"
	"html/template"
	"log"
	"net/http/httptest"
	"regexp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// The enquiry entry inside a platform's own layout, against the sandbox.
func Example() {
	sb, err := sandbox.New()
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()
	api, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer api.CloseIdleConnections()
	qc, err := cache.New(api)
	if err != nil {
		log.Fatal(err)
	}
	defer qc.Close()
	badges, err := widget.New(qc)
	if err != nil {
		log.Fatal(err)
	}

	layout := template.Must(template.New("shop").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><title>{{.Title}} · Shop</title>{{.Head}}</head>
<body><header>Shop</header>{{.Body}}<footer>© Shop</footer></body></html>`))
	entry, err := enquiry.New(qc, badges, enquiry.WithLayout(enquiry.Layout{Template: layout}), enquiry.WithPlatformName("Qingxuan Market"))
	if err != nil {
		log.Fatal(err)
	}
	h := entry.Handler("/quality/") // mux.Handle("/quality/", h) in a real server

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/quality/cases?locale=en", nil))
	page := rec.Body.String()
	fmt.Println(rec.Code)
	fmt.Println(regexp.MustCompile(`<title>.*</title>`).FindString(page))
	fmt.Println(regexp.MustCompile(`<h1>.*</h1>`).FindString(page))
	fmt.Println(regexp.MustCompile(`<footer>.*</footer>`).FindString(page))
	// Output:
	// 200
	// <title>Typical cases · Quality commitment registry · Shop</title>
	// <h1>Typical cases</h1>
	// <footer>© Shop</footer>
}
