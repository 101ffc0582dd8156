package widget_test

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/widget"
)

// A template given something it cannot use renders what it can, says so
// once in the log, and counts it; under WithStrictTemplates the template
// fails instead.
func TestTemplateMisuseIsLoggedOnceAndCounted(t *testing.T) {
	var logs bytes.Buffer
	e := setup(t, nil, widget.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	g := string(e.srv.Demo()[0].GTIN)
	tmpl := template.Must(template.New("p").Parse(
		`{{ $.QC.Badge .Int }}|{{ $.QC.Badge .Bad }}|{{ $.QC.Badge .G "darkk" }}|{{ $.QC.Badge .G "en-AU" "dark" }}`))
	for range 3 { // one page, viewed three times
		page := e.w.Page(context.Background(), client.GTIN(g))
		defer page.Close()
		data := map[string]any{"Int": 6910000100003, "Bad": "6901234567893", "G": g, "QC": page}
		var out strings.Builder
		if err := tmpl.Execute(&out, data); err != nil {
			t.Fatalf("a misused template failed without WithStrictTemplates: %v", err)
		}
		parts := strings.Split(out.String(), "|")
		if !strings.Contains(parts[0], "qcb-unknown") || !strings.Contains(parts[1], "qcb-unknown") {
			t.Errorf("a badge for an int or a malformed GTIN is not the unknown one: %s", out.String())
		}
		if !strings.Contains(parts[2], "qcb-committed") || !strings.Contains(parts[3], `lang="en"`) || !strings.Contains(parts[3], "qcb-dark") {
			t.Errorf("an unknown look word should leave the look as it was, en-AU should be English: %s", out.String())
		}
	}
	if got := e.w.Stats().TemplateMisuses; got != 9 {
		t.Errorf("Stats().TemplateMisuses = %d; want 9 (three misuses, three renderings)", got)
	}
	for _, want := range []string{"not a int", `value=6910000100003`, "malformed GTIN", `value=6901234567893`, "unknown look word", `value=darkk`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 3 {
		t.Errorf("%d warnings for three distinct misuses rendered three times; want 3:\n%s", n, logs.String())
	}
}

// A client.GTIN converted from a string was never validated: Page checks
// each, skips a malformed one without a lookup, and reports it as a
// template's misuse is reported; the page's other products are answered.
func TestPageSkipsAnUnvalidatedGTIN(t *testing.T) {
	var logs bytes.Buffer
	e := setup(t, nil, widget.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	good := e.srv.Demo()[0].GTIN
	bad := client.GTIN("6901234567893") // a wrong check digit
	page := e.w.Page(context.Background(), bad, good)
	defer page.Close()
	if got := e.qc.Stats().Misses; got != 1 {
		t.Errorf("a page of one malformed and one good GTIN made %d lookups; want 1, the good one's", got)
	}
	if got := e.w.Stats().TemplateMisuses; got != 1 {
		t.Errorf("Stats().TemplateMisuses = %d; want 1", got)
	}
	if !strings.Contains(logs.String(), "malformed GTIN") || !strings.Contains(logs.String(), "value="+string(bad)) {
		t.Errorf("the log does not name the malformed GTIN:\n%s", logs.String())
	}
	if b, _ := page.Badge(good); !strings.Contains(string(b), "qcb-committed") {
		t.Errorf("the good product's badge beside a malformed one: %s", b)
	}
	if b, _ := page.Badge(bad); !strings.Contains(string(b), "qcb-unknown") {
		t.Errorf("the malformed GTIN's badge: %s; want the unknown one", b)
	}
}

func TestStrictTemplatesFailOnMisuse(t *testing.T) {
	e := setup(t, nil, widget.WithStrictTemplates(), widget.WithLogger(slog.New(slog.DiscardHandler)))
	g := string(e.srv.Demo()[0].GTIN)
	page := e.w.Page(context.Background(), client.GTIN(g))
	defer page.Close()
	for _, src := range []string{
		`{{ $.QC.Badge 6910000100003 }}`, `{{ $.QC.Badge "69012345" }}`, `{{ $.QC.Badge .G "darkk" }}`, `{{ $.QC.JSONLD .G "neon" }}`,
		`{{ $.QC.Badge 42 }}`, `{{ $.QC.Badge .G "full" "huge" }}`, `{{ $.QC.JSONLD "x" }}`,
	} {
		tmpl := template.Must(template.New("p").Parse(src))
		err := tmpl.Execute(new(strings.Builder), map[string]any{"G": g, "QC": page})
		if !errors.Is(err, widget.ErrTemplateMisuse) {
			t.Errorf("%s: error %v; want ErrTemplateMisuse", src, err)
		}
	}
	for _, src := range []string{`{{ $.QC.Badge .G "en-GB" "dark" "compact" }}`, `{{ $.QC.Badge .G "zh-Hans-CN" }}`, `{{ $.QC.Badge .T }}`} {
		tmpl := template.Must(template.New("p").Parse(src))
		if err := tmpl.Execute(new(strings.Builder), map[string]any{"G": g, "QC": page, "T": client.GTIN(g)}); err != nil {
			t.Errorf("%s: %v; want no error", src, err)
		}
	}
}

// One reading of a locale tag: the badge endpoint, the templates and the
// API's Text agree on every tag (the enquiry pages' test checks theirs).
func TestEveryLocaleParserAgrees(t *testing.T) {
	e := setup(t, nil, widget.WithStrictTemplates())
	g := string(e.srv.Demo()[0].GTIN)
	h := e.w.Handler("/quality/")
	both := client.Text{ZH: "中文", EN: "English"}
	for tag, want := range map[string]widget.Locale{
		"en": widget.LocaleEN, "en-AU": widget.LocaleEN, "EN-gb": widget.LocaleEN,
		"zh-CN": widget.LocaleZH, "zh-Hans-CN": widget.LocaleZH, "zh-SG": widget.LocaleZH, "zh-TW": widget.LocaleZH, "zh-HK": widget.LocaleZH,
		"fr": widget.LocaleZH,
	} {
		if got, err := widget.ParseLocale(tag); got != want || err != nil {
			t.Errorf("ParseLocale(%q) = %v, %v; want %v", tag, got, err, want)
		}
		if got := widget.LocaleFromAcceptLanguage(tag); got != want {
			t.Errorf("LocaleFromAcceptLanguage(%q) = %v; want %v", tag, got, want)
		}
		wantText := both.ZH
		if want == widget.LocaleEN {
			wantText = both.EN
		}
		if got := both.In(tag); got != wantText {
			t.Errorf("Text.In(%q) = %q; want %q", tag, got, wantText)
		}
		resp := get(t, h, "/quality/badge/"+g+".json?locale="+tag)
		if b := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(b, `"locale":"`+want.String()+`"`) {
			t.Errorf("badge endpoint, locale=%s: %d %s; want %s", tag, resp.StatusCode, b, want)
		}
		var out strings.Builder
		page := e.w.Page(context.Background(), client.GTIN(g))
		defer page.Close()
		tmpl := template.Must(template.New("p").Parse(`{{ $.QC.Badge .G .L }}`))
		if err := tmpl.Execute(&out, map[string]any{"G": g, "L": tag, "QC": page}); err != nil || !strings.Contains(out.String(), `lang="`+want.String()+`"`) {
			t.Errorf("template, %q: %v %s; want lang %s", tag, err, out.String(), want)
		}
	}
	for _, tag := range []string{"en_AU!", "darkk", "<b>"} {
		if _, err := widget.ParseLocale(tag); err == nil {
			t.Errorf("ParseLocale(%q): no error", tag)
		}
	}
}
