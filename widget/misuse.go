package widget

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/locale"
)

// ErrTemplateMisuse is wrapped by the error a template call returns under
// WithStrictTemplates when it is given something it cannot use: a GTIN of
// another type than string, client.GTIN or fmt.Stringer, a malformed GTIN,
// or a look word it does not know.
var ErrTemplateMisuse = errors.New("qcsdk/widget: template misuse")

// WithStrictTemplates makes a template call's misuse (see
// ErrTemplateMisuse) an error of the template's execution, for tests; by
// default the call renders what it can (the unknown badge, or the
// widget's look), and the misuse is logged once and counted in
// Stats.TemplateMisuses.
func WithStrictTemplates() Option {
	return func(w *Widget) error { w.misuse.strict = true; return nil }
}

// WithLogger sets where the widget says what a platform should fix: a
// template's misuse (once per distinct misuse) and, at New, a
// configuration that cannot work. Nil, the default, is slog.Default():
// these are mistakes to see in the first hour, not noise.
func WithLogger(l *slog.Logger) Option {
	return func(w *Widget) error { w.logger = l; return nil }
}

// log is the widget's logger.
func (w *Widget) log() *slog.Logger {
	if w.logger != nil {
		return w.logger
	}
	return slog.Default()
}

// misuses counts the misuse of template calls and remembers which it has
// logged, so that a template rendered a million times logs its mistake
// once.
type misuses struct {
	strict bool
	count  atomic.Int64
	mu     sync.Mutex
	logged map[string]bool
}

// maxLoggedMisuses bounds the distinct misuses remembered: a page of
// hostile data must not grow the widget without bound. Past it, misuse is
// counted and no longer logged.
const maxLoggedMisuses = 64

// report counts a misuse, logs it if it is new, and returns the error a
// strict widget's template call fails with, nil otherwise.
func (w *Widget) report(call, what, shown string) error {
	w.misuse.count.Add(1)
	if len(shown) > 64 {
		shown = shown[:64] + "…"
	}
	key := call + "\x00" + what + "\x00" + shown
	w.misuse.mu.Lock()
	fresh := !w.misuse.logged[key] && len(w.misuse.logged) < maxLoggedMisuses
	if fresh {
		if w.misuse.logged == nil {
			w.misuse.logged = make(map[string]bool)
		}
		w.misuse.logged[key] = true
	}
	w.misuse.mu.Unlock()
	if fresh {
		w.log().Warn("qcsdk/widget: a template call was given something it cannot use; it rendered what it could",
			"call", call, "problem", what, "value", shown)
	}
	if w.misuse.strict {
		return fmt.Errorf("%w: %s: %s: %q", ErrTemplateMisuse, call, what, shown)
	}
	return nil
}

// templateGTIN reads a template's GTIN argument — a string, a client.GTIN,
// or anything that prints as one — parsed once, here at the edge. Anything
// else, or a malformed GTIN, is a misuse: "" is returned, and the badge is
// the unknown one.
func (w *Widget) templateGTIN(call string, v any) (client.GTIN, error) {
	var s string
	switch g := v.(type) {
	case string:
		s = g
	case client.GTIN:
		s = string(g)
	case fmt.Stringer:
		s = g.String()
	default:
		return "", w.report(call, fmt.Sprintf("a GTIN must be a string or a client.GTIN, not a %T", v), fmt.Sprint(v))
	}
	return w.checkGTIN(call, client.GTIN(s))
}

// checkGTIN returns g if it is a well-formed GTIN (in its 14-digit form),
// and reports it as a misuse of call otherwise: a client.GTIN converted
// from a string was never validated.
func (w *Widget) checkGTIN(call string, g client.GTIN) (client.GTIN, error) {
	p, err := client.ParseGTIN(string(g))
	if err != nil {
		return "", w.report(call, "malformed GTIN", string(g))
	}
	return p, nil
}

// templateLook reads a template's look words over the widget's default:
// a locale tag (any BCP 47 tag, read as ParseLocale does), light or dark,
// full or compact, in any order. A word it does not know is a misuse, and
// leaves the look as it was.
func (w *Widget) templateLook(call string, opts []string) (Look, error) {
	l := w.look
	var err error
	for _, o := range opts {
		switch strings.ToLower(strings.TrimSpace(o)) {
		case "light":
			l.Theme = ThemeLight
		case "dark":
			l.Theme = ThemeDark
		case "full":
			l.Size = SizeFull
		case "compact":
			l.Size = SizeCompact
		default:
			t, perr := locale.Parse(o)
			if perr != nil {
				if e := w.report(call, "unknown look word (want a locale such as zh-CN or en, light or dark, full or compact)", o); err == nil {
					err = e
				}
				continue
			}
			l.Locale = Locale(t)
		}
	}
	return l, err
}

// templateHTML is what a template call returns: the rendering, and under
// WithStrictTemplates the first misuse in the call.
func templateHTML(s string, gtinErr, lookErr error) (template.HTML, error) {
	if gtinErr != nil {
		return template.HTML(s), gtinErr
	}
	return template.HTML(s), lookErr
}
