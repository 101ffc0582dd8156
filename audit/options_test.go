package audit_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
)

// Run refuses parameters out of range, and a nil that nothing can stand
// in for, before it reads a listing or asks the registry.
func TestRunRefusesBadParameters(t *testing.T) {
	api, err := client.New(client.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		api  *client.Client
		out  bool // give a writer
		opts *audit.Options
		want string
	}{
		{"nil client", nil, true, nil, "client"},
		{"nil writer", api, false, nil, "writer"},
		{"negative lookback", api, true, &audit.Options{Lookback: -time.Hour}, "Lookback"},
		{"negative max keys", api, true, &audit.Options{MaxKeys: -1}, "MaxKeys"},
		{"negative max window", api, true, &audit.Options{MaxWindow: -1}, "MaxWindow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := false
			listings := func(yield func(audit.Listing, error) bool) {
				read = true
				yield(audit.Listing{ID: "L1", Key: client.ProductKey{GTIN: "06901234567892"}}, nil)
			}
			var buf bytes.Buffer
			var out audit.FindingWriter
			if tc.out {
				out = audit.NewJSONLinesWriter(&buf)
			}
			_, err := audit.Run(context.Background(), tc.api, listings, out, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), "audit: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v; want an error starting \"audit: \" naming %q", err, tc.want)
			}
			if read || buf.Len() > 0 {
				t.Errorf("Run read the input (%v) or wrote %q before refusing", read, buf.String())
			}
		})
	}
}
