package client_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
)

// logLines counts the JSON log lines at level that hold every one of
// the words.
func logLines(log, level string, words ...string) int {
	n := 0
	for line := range strings.SplitSeq(log, "\n") {
		if !strings.Contains(line, `"level":"`+level+`"`) {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			n++
		}
	}
	return n
}

// A call its caller gave up on is no error of the client's: a server
// shutting down cancels its long polls, and must not log an ERROR for
// each.
func TestACancelledCallLogsNoError(t *testing.T) {
	t.Parallel()
	var out testio.Buffer
	srv, c := setupWith(t, fixture{client: []client.Option{
		client.WithLogger(slog.New(slog.NewJSONHandler(&out, nil)))}})
	ctx, cancel := context.WithCancel(ctxT(t))
	cancel()
	if _, _, err := c.Products.ByGTIN(ctx, srv.Demo()[0].GTIN, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := logLines(out.String(), "ERROR"); n != 0 {
		t.Errorf("%d ERROR lines for a cancelled call; want none:\n%s", n, out.String())
	}
}
