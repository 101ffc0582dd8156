package enquiry_test

import (
	"context"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/enquiry"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
)

// The platform's own request context: who is signed in, and the nonce
// its CSP middleware drew for the page.
type (
	shopperKey struct{}
	cspKey     struct{}
)

// The layout shows the signed-in shopper and their cart, and loads the
// platform's script under its per-request CSP nonce.
func ExampleLayout() {
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

	type header struct {
		Shopper string // "" when nobody is signed in
		Cart    int
	}
	layout := template.Must(template.New("shop").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><title>{{.Title}} · Shop</title>{{.Head}}<script nonce="{{.Nonce}}" src="/shop.js"></script></head>
<body><header>{{with .Data.Shopper}}Hello, {{.}}{{else}}<a href="/signin">Sign in</a>{{end}} · cart {{.Data.Cart}}</header>
{{.Body}}</body></html>`))
	entry, err := enquiry.New(qc, badges, enquiry.WithLayout(enquiry.Layout{
		Template: layout,
		Data: func(r *http.Request) any {
			name, _ := r.Context().Value(shopperKey{}).(string)
			return header{Shopper: name, Cart: 2}
		},
		Nonce: func(r *http.Request) string {
			nonce, _ := r.Context().Value(cspKey{}).(string)
			return nonce
		},
	}))
	if err != nil {
		log.Fatal(err)
	}
	h := entry.Handler("/quality/")

	// What the platform's middleware does before the entry sees the
	// request: it signs the shopper in, and sets its policy and nonce.
	req := httptest.NewRequest("GET", "/quality/cases?locale=en", nil)
	ctx := context.WithValue(req.Context(), shopperKey{}, "Li Lei")
	ctx = context.WithValue(ctx, cspKey{}, "rAnd0m")
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Security-Policy", "script-src 'nonce-rAnd0m'; style-src 'nonce-rAnd0m'")
	h.ServeHTTP(rec, req.WithContext(ctx))
	page := rec.Body.String()
	fmt.Println(rec.Code)
	fmt.Println(regexp.MustCompile(`<header>.*</header>`).FindString(page))
	fmt.Println(regexp.MustCompile(`<link [^>]*>`).FindString(page))
	fmt.Println(regexp.MustCompile(`<script [^>]*>`).FindString(page))

	// A layout that names what the View lacks fails New, not every page.
	broken := template.Must(template.New("shop").Parse(`<html>{{.User.Name}}{{.Body}}</html>`))
	_, err = enquiry.New(qc, badges, enquiry.WithLayout(enquiry.Layout{Template: broken}))
	fmt.Println(err)
	// Output:
	// 200
	// <header>Hello, Li Lei · cart 2</header>
	// <link rel="stylesheet" href="/quality/enquiry.css" nonce="rAnd0m" />
	// <script nonce="rAnd0m" src="/shop.js">
	// qcsdk/enquiry: the layout cannot render a page: template: shop:1:13: executing "shop" at <.User.Name>: can't evaluate field User in type *enquiry.View
}
