package client

import (
	"bytes"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestNilOptionMeansTheDefault holds the convention every package of the
// SDK follows: an option given nil (a nil pointer, func or logger, or no
// values at all) builds the client New builds without it, never an error
// and never another meaning. Values that are not nil keep their documented
// meaning, and the table says which: the zero RetryPolicy turns retries
// off, a zero timeout bounds a call by its context alone.
func TestNilOptionMeansTheDefault(t *testing.T) {
	t.Parallel()
	base := WithBaseURL("https://api.example.org")
	quiet := WithLogger(slog.New(slog.DiscardHandler))
	def, err := New(base, quiet)
	if err != nil {
		t.Fatal(err)
	}
	same := func(field string, got, want any) func(*testing.T, *Client) {
		return func(t *testing.T, c *Client) {
			t.Helper()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s = %v, want the default %v", field, got, want)
			}
		}
	}
	tests := []struct {
		name  string
		opts  []Option
		check func(*testing.T, *Client)
	}{
		{"WithClock(nil)", []Option{base, quiet, WithClock(nil)}, func(t *testing.T, c *Client) {
			if reflect.ValueOf(c.now).Pointer() != reflect.ValueOf(time.Now).Pointer() {
				t.Error("the clock is not time.Now")
			}
		}},
		{"WithLogger(nil)", []Option{base, WithLogger(nil)}, func(t *testing.T, c *Client) {
			if c.logger != nil {
				t.Errorf("logger = %v, want none", c.logger)
			}
		}},
		{"WithHTTPClient(nil)", []Option{base, quiet, WithHTTPClient(nil)}, func(t *testing.T, c *Client) {
			tr, ok := c.http.Transport.(*http.Transport)
			if !ok || tr.MaxIdleConnsPerHost != defaultTransport().MaxIdleConnsPerHost {
				t.Errorf("transport = %T %+v, want the default transport", c.http.Transport, c.http.Transport)
			}
		}},
		{"WithLogKeys()", []Option{base, quiet, WithLogKeys()}, func(t *testing.T, c *Client) {
			if c.trust.pinned || c.trust.keys.Load() != nil {
				t.Error("WithLogKeys() pinned keys: want the keys fetched from the registry, as without it")
			}
		}},
		{"WithLogKeys(nil...)", []Option{base, quiet, WithLogKeys(nil...)}, func(t *testing.T, c *Client) {
			if c.trust.pinned {
				t.Error("WithLogKeys(nil...) pinned keys")
			}
		}},
		{"WithBaseURL(\"\")", []Option{quiet, WithBaseURL("")}, func(t *testing.T, c *Client) {
			same("base", c.base, DefaultBaseURL)(t, c)
		}},
		{"WithAPIKey(\"\")", []Option{base, quiet, WithAPIKey("")}, func(t *testing.T, c *Client) {
			same("key", c.key, def.key)(t, c)
		}},
		{"WithUserAgent(\"\")", []Option{base, quiet, WithUserAgent("")}, func(t *testing.T, c *Client) {
			same("user agent", c.userAgent, def.userAgent)(t, c)
		}},
		{"WithRetryPolicy(DefaultRetryPolicy())", []Option{base, quiet, WithRetryPolicy(DefaultRetryPolicy())}, func(t *testing.T, c *Client) {
			same("policy", c.policy, def.policy)(t, c)
		}},
		// Not nil: values with a documented meaning of their own.
		{"WithRetryPolicy(RetryPolicy{}) turns retries off", []Option{base, quiet, WithRetryPolicy(RetryPolicy{})}, func(t *testing.T, c *Client) {
			same("policy", c.policy, RetryPolicy{})(t, c)
		}},
		{"WithTimeout(0) bounds a call by its context alone", []Option{base, quiet, WithTimeout(0)}, func(t *testing.T, c *Client) {
			same("timeout", c.timeout, time.Duration(0))(t, c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tt.opts...)
			if err != nil {
				t.Fatalf("New: %v, want the default", err)
			}
			tt.check(t, c)
		})
	}
}

// A platform that meant to pin the registry's keys and passed none (an
// empty key file, say) gets the default, and is told so at start-up.
func TestNoLogKeysWarns(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	_, err := New(WithBaseURL("https://api.example.org"), WithLogKeys(), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "WithLogKeys") {
		t.Errorf("no warning about WithLogKeys with no key; logs:\n%s", logs.String())
	}
}
