package enquiry

import (
	"bytes"
	"context"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
)

// A LayoutError is New's error for a platform's layout (WithLayout) that
// cannot render a page: Err is the template's error, which names the
// layout, the line and the field at fault.
type LayoutError struct {
	Err error
}

func (e *LayoutError) Error() string {
	return "qcsdk/enquiry: the layout cannot render a page: " + e.Err.Error()
}

func (e *LayoutError) Unwrap() error { return e.Err }

// checkLayout renders the platform's layout as a shopper's first visit
// would be: an ordinary page and a private one (a report's status page),
// with the platform's data for a request without cookies. The pages'
// content is the entry's own, tested here; what can fail is the layout.
func (e *Entry) checkLayout() error {
	if e.layout == nil {
		return nil
	}
	r, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "/", nil)
	if err != nil {
		return &LayoutError{Err: err}
	}
	look, _ := e.badges.RequestLook(r) // the widget's: the request names none
	loc := look.Locale
	t := &pageVocab[loc]
	body := template.HTML(`<div class="qce" lang="` + loc.String() + `"></div>`)
	for _, private := range []bool{false, true} {
		v := e.view(r, "/", loc.String(), t.SearchTitle, t, body, private)
		var out bytes.Buffer
		if err := e.layout.Execute(&out, v); err != nil {
			return &LayoutError{Err: err}
		}
	}
	return nil
}

// view is what a layout is given of a page: the page, and what the
// platform knows of the request.
func (e *Entry) view(r *http.Request, prefix, lang, title string, t *pageWords, body template.HTML, private bool) *View {
	if title != t.Entry {
		// A page of the entry names the page, then the entry; the home
		// page, which is the entry, names it once.
		title += " · " + t.Entry
	}
	v := &View{Lang: lang, Title: title, Body: body, Private: private}
	if e.nonce != nil && r != nil {
		if n := e.nonce(r); validNonce(n) {
			v.Nonce = n
		}
	}
	head := `<link rel="stylesheet" href="` + template.HTMLEscapeString(prefix) + `enquiry.css"`
	if v.Nonce != "" {
		head += ` nonce="` + v.Nonce + `"`
	}
	v.Head = template.HTML(head + ` />`)
	if private {
		v.Head = `<meta name="referrer" content="no-referrer" /><meta name="robots" content="noindex, nofollow" />` + v.Head
	}
	if e.data != nil && r != nil {
		v.Data = e.data(r)
	}
	return v
}

// validNonce says whether n can be a CSP nonce: base64 in either
// alphabet, as the CSP grammar's base64-value is, and short. Nothing else
// is written into a page.
func validNonce(n string) bool {
	if n == "" || len(n) > 128 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '+' || c == '/' || c == '-' || c == '_':
		case c == '=' && i > 0:
		default:
			return false
		}
	}
	return true
}

// renderFailures remembers which failures to render a page have been
// logged, so that a layout that fails on every page says so once, not
// once a request.
type renderFailures struct {
	mu     sync.Mutex
	logged map[string]bool
}

// maxLoggedFailures bounds the distinct failures remembered; past it they
// are no longer logged.
const maxLoggedFailures = 64

// renderFailed logs a page that could not be rendered, unless the same
// error has been logged before.
func (e *Entry) renderFailed(what, page string, err error) {
	msg := err.Error()
	f := &e.failures
	f.mu.Lock()
	fresh := !f.logged[msg] && len(f.logged) < maxLoggedFailures
	if fresh {
		if f.logged == nil {
			f.logged = make(map[string]bool)
		}
		f.logged[msg] = true
	}
	f.mu.Unlock()
	if !fresh {
		return
	}
	l := e.logger
	if l == nil {
		l = slog.Default()
	}
	l.Error("qcsdk/enquiry: "+what+" could not be rendered; the shopper was answered 500", "page", page, "error", msg)
}
