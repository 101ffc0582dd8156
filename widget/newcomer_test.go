package widget_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/widget"
)

// A verify host no record's link is on (the registry's, against the
// sandbox) strips every badge's link: the widget says so, once, naming
// both hosts.
func TestAVerifyHostNoLinkMatchesWarnsOnce(t *testing.T) {
	var logs bytes.Buffer
	e := setup(t, nil, widget.WithVerifyHost("verify.example.org"), widget.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for _, d := range e.srv.Demo() {
		for _, look := range looks() {
			if b := e.w.Badge(context.Background(), d.GTIN, look); strings.Contains(string(b), "verify.qualitycommit.example") {
				t.Fatalf("a link off the verify host was kept: %s", b)
			}
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d warnings; want exactly 1:\n%s", n, logs.String())
	}
	for _, want := range []string{"link_host=verify.qualitycommit.example", "verify_host=verify.example.org", "WithVerifyHost"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the warning lacks %q: %s", want, logs.String())
		}
	}

	logs.Reset()
	quiet := setup(t, nil, widget.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	for _, d := range quiet.srv.Demo() {
		quiet.w.Badge(context.Background(), d.GTIN)
	}
	if logs.Len() != 0 {
		t.Errorf("the default verify host against the sandbox logged: %s", logs.String())
	}
}
