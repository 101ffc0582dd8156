package sandbox_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/sandbox"
)

// Every option whose value can be out of range is refused by New, with an
// error that names the option's value; nothing is clamped or dropped
// silently.
func TestOptionOutOfRange(t *testing.T) {
	t.Parallel()
	const secretish = "PRIVATE+KEY+registry.test+00000000+c2VjcmV0LWJ1dC1icm9rZW4="
	for _, tc := range []struct {
		name string
		opt  sandbox.Option
		want string // in the error
	}{
		{"no enterprises", sandbox.WithSize(0, 10), "enterprises"},
		{"negative enterprises", sandbox.WithSize(-1, 10), "enterprises"},
		{"negative products", sandbox.WithSize(10, -1), "products"},
		{"zero reference time", sandbox.WithReferenceTime(time.Time{}), "reference time"},
		{"empty verify base", sandbox.WithVerifyBaseURL(""), "verify"},
		{"relative verify base", sandbox.WithVerifyBaseURL("verify.example"), "verify"},
		{"script verify base", sandbox.WithVerifyBaseURL("javascript:alert(1)"), "verify"},
		{"negative rate", sandbox.WithRateLimit(-1, 10), "rate"},
		{"NaN rate", sandbox.WithRateLimit(math.NaN(), 10), "rate"},
		{"zero burst", sandbox.WithRateLimit(10, 0), "burst"},
		{"negative burst", sandbox.WithRateLimit(0, -1), "burst"},
		{"negative lookup rate", sandbox.WithReportLookupLimit(-1, 10), "rate"},
		{"zero lookup burst", sandbox.WithReportLookupLimit(5, 0), "burst"},
		{"no API keys", sandbox.WithAPIKeys(), "key"},
		{"empty API key", sandbox.WithAPIKeys("k1", ""), "key"},
		{"bad fault", sandbox.WithFaults(sandbox.Fault{Kind: "nope"}), "nope"},
		{"fault probability", sandbox.WithFaults(sandbox.Fault{Kind: sandbox.FaultError, Probability: 2}), "probability"},
		{"zero webhook attempts", sandbox.WithWebhookRetry(0, time.Millisecond), "attempts"},
		{"negative webhook backoff", sandbox.WithWebhookRetry(3, -time.Millisecond), "backoff"},
		{"zero max wait", sandbox.WithMaxWait(0), "wait"},
		{"max wait over a minute", sandbox.WithMaxWait(61 * time.Second), "wait"},
		{"negative retention", sandbox.WithFeedRetention(-1), "retention"},
		{"bad log key", sandbox.WithLogKey(secretish), "log key"},
		{"empty log origin", sandbox.WithLogOrigin(""), "origin"},
		{"log origin with a newline", sandbox.WithLogOrigin("a\nb"), "origin"},
		{"negative key grace", sandbox.WithLogKeyGrace(-time.Second), "grace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sb, err := sandbox.New(tc.opt)
			if err == nil {
				sb.Close()
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sandbox: ") {
				t.Errorf("error %q does not start with \"sandbox: \" and name %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "c2VjcmV0") {
				t.Errorf("error %q repeats the key", err)
			}
		})
	}
}

// New stops at the first option that fails and reports that one alone, so
// the message points at one mistake.
func TestOptionFirstErrorWins(t *testing.T) {
	t.Parallel()
	_, err := sandbox.New(sandbox.WithSeed(3), sandbox.WithFeedRetention(-1), sandbox.WithSize(0, 0))
	if err == nil {
		t.Fatal("New succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "retention") || strings.Contains(err.Error(), "enterprises") {
		t.Errorf("error %q, want the retention error alone", err)
	}
}

// The boundary values are taken: a rate of 0 (no limit) with any burst,
// the longest wait, a retention of 0 (keep all) and one webhook try.
func TestOptionBoundariesAccepted(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(
		sandbox.WithRateLimit(0, 0),
		sandbox.WithReportLookupLimit(0, 0),
		sandbox.WithMaxWait(60*time.Second),
		sandbox.WithFeedRetention(0),
		sandbox.WithWebhookRetry(1, 0),
		sandbox.WithLogKeyGrace(0),
		sandbox.WithVerifyBaseURL("http://verify.test/base/"),
		sandbox.WithSize(1, 0),
	)
	if err != nil {
		t.Fatal(err)
	}
	sb.Close()
}

// A nil option, clock or logger is the default: the options are skipped,
// the clock is time.Now, and the logger logs nothing.
func TestOptionNilIsDefault(t *testing.T) {
	t.Parallel()
	before := time.Now().UTC().Truncate(day)
	sb, err := sandbox.New(nil, sandbox.WithClock(nil), sandbox.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	after := time.Now().UTC().Truncate(day)
	// The reference day is today by time.Now (two candidates, in case the
	// test runs across midnight).
	if ref := sb.ReferenceTime(); !ref.Equal(before) && !ref.Equal(after) {
		t.Errorf("reference day %v, want today (%v)", ref, after)
	}
	rec := httptest.NewRecorder()
	sb.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/products/"+string(sb.Demo()[0].GTIN), nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET a product with the default clock and logger: %d %s", rec.Code, rec.Body)
	}
}
