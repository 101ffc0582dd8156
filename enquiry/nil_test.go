package enquiry_test

import (
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/enquiry"
)

// A nil option is the default, as in every package of the SDK: never an
// error, never a meaning of its own.
func TestNilOptionsAreTheDefaults(t *testing.T) {
	e := setup(t, nil)
	q, err := enquiry.New(e.qc, e.w,
		enquiry.WithLayout(enquiry.Layout{}), // the standalone layout
		enquiry.WithLogger(nil),              // slog.Default()
		enquiry.WithReportKey(nil),           // a random key
		enquiry.WithReportFiled(nil),         // no one told
		enquiry.WithPlatformName(platformName))
	if err != nil {
		t.Fatalf("New with nil options: %v", err)
	}
	h := q.Handler("/quality/")
	resp := get(t, h, "/quality/")
	if b := body(t, resp); !strings.Contains(b, `<body class="qce-standalone">`) {
		t.Errorf("a nil layout is not the standalone one:\n%s", b)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("a nil layout's page has the CSP %q, not the standalone one's", csp)
	}
	if resp := get(t, h, "/quality/report"); resp.StatusCode != 200 || !strings.Contains(body(t, resp), `name="token"`) {
		t.Errorf("the report form with a nil key and callback: %d", resp.StatusCode)
	}
}
