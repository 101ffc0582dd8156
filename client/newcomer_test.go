package client_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// A client built without a base URL calls the registry's default; a
// newcomer who forgot WithBaseURL hears it once, at start-up, and one who
// set it hears nothing.
func TestNoBaseURLWarnsOnceAtStartUp(t *testing.T) {
	tests := []struct {
		name string
		opts []client.Option
		want int // warnings
	}{
		{"no base URL", nil, 1},
		{"a base URL", []client.Option{client.WithBaseURL("http://127.0.0.1:1")}, 0},
		{"the default, set on purpose", []client.Option{client.WithBaseURL(client.DefaultBaseURL)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
			c, err := client.New(append(tt.opts, client.WithLogger(l), client.WithAPIKey("sk_test_secret"))...)
			if err != nil {
				t.Fatal(err)
			}
			c.CloseIdleConnections()
			got := strings.Count(buf.String(), "level=WARN")
			if got != tt.want {
				t.Fatalf("%d warnings, want %d:\n%s", got, tt.want, buf.String())
			}
			if got > 0 && (!strings.Contains(buf.String(), "WithBaseURL") || strings.Contains(buf.String(), "sk_test_secret")) {
				t.Errorf("the warning does not name WithBaseURL, or shows the key:\n%s", buf.String())
			}
		})
	}
}
