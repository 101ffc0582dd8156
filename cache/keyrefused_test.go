package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A cache whose key the registry refuses, built as a platform builds it
// (the client and the cache sharing one logger): every view fails, and
// a badge is unknown, but the log says why once, as an ERROR that names
// the cause and not the key, and not a WARN a view; Stats counts each
// lookup so failed; and the registry is asked once, not once a view.
func TestRefusedKeyIsLoudOnceAndNotAskedEveryView(t *testing.T) {
	t.Parallel()
	srv := sandbox.NewServer(t, sandbox.WithAPIKeys("the-right-key"), sandbox.WithRateLimit(0, 0))
	var out testio.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	api, err := client.New(client.WithBaseURL(srv.URL), client.WithAPIKey("qc_wrong_SECRET42"), client.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	qc, err := cache.New(api, cache.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qc.Close() })

	demo := srv.Demo()
	const views = 40
	for i := range views {
		_, err := statusByGTIN(qc, context.Background(), demo[i%len(demo)].GTIN)
		if !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("view %d: err = %v, want ErrUnauthorized", i, err)
		}
	}
	if n := srv.Requests(""); n != 1 {
		t.Errorf("%d calls reached the registry for %d views with a refused key; want 1", n, views)
	}
	if st := qc.Stats(); st.KeyRefused != views || st.Errors != views {
		t.Errorf("stats %+v; want %d lookups failed, each for the refused key", st, views)
	}
	lines := out.String()
	errorsLogged := strings.Count(lines, `"level":"ERROR"`)
	if errorsLogged != 1 || !strings.Contains(lines, "refuses the API key") {
		t.Errorf("%d ERROR lines; want one saying the registry refuses the API key:\n%s", errorsLogged, lines)
	}
	if n := strings.Count(lines, `"level":"WARN"`); n != 0 {
		t.Errorf("%d WARN lines; want none, the ERROR having said it:\n%s", n, lines)
	}
	if strings.Contains(lines, "SECRET42") {
		t.Errorf("the log shows the key:\n%s", lines)
	}
}
