package client_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/internal/testkit/testio"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// The registry refusing the key is said once, as an ERROR naming the
// cause and never the key; the calls after it are held back for the
// cool-down rather than sent to be refused again, and fail at once with
// an error that says so; the first call after the cool-down is sent.
func TestRefusedKeyIsSaidOnceAndHoldsCallsBack(t *testing.T) {
	t.Parallel()
	const key = "sk_wrong_SECRET99"
	var out testio.Buffer
	clk := &fakeClock{t: time.Now()}
	srv, c := setupWith(t, fixture{
		sandbox: []sandbox.Option{sandbox.WithAPIKeys("the-right-key")},
		client: []client.Option{client.WithAPIKey(key), client.WithClock(clk.Now),
			client.WithLogger(slog.New(slog.NewJSONHandler(&out, nil)))},
	})
	ctx := ctxT(t)
	gtin := srv.Demo()[0].GTIN

	const calls = 10
	for i := range calls {
		_, _, err := c.Products.ByGTIN(ctx, gtin, nil)
		if !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("call %d: err = %v, want ErrUnauthorized", i, err)
		}
		var kr *client.KeyRefusedError
		if !errors.As(err, &kr) {
			t.Fatalf("call %d: err = %v (%T), want a *KeyRefusedError", i, err, err)
		}
		if sent := kr.Err != nil; sent != (i == 0) {
			t.Errorf("call %d: sent = %v; want only the first sent", i, sent)
		}
		if kr.StatusCode != http.StatusUnauthorized || kr.RetryAfter <= 0 || kr.RetryAfter > client.DefaultKeyRefusedPause {
			t.Errorf("call %d: %+v; want status 401 and the cool-down left", i, kr)
		}
		requireNoSecret(t, "a refused key", err)
	}
	if n := srv.Requests(""); n != 1 {
		t.Errorf("%d calls reached the registry for %d asked with a refused key; want 1", n, calls)
	}
	if st := c.Stats(); st.PauseStatus != http.StatusUnauthorized || st.Paused != calls-1 {
		t.Errorf("client stats %+v; want the pause of a 401, %d calls held back", st, calls-1)
	}

	// The cool-down over, a call goes out again: the key may have been
	// fixed at the registry's end. Refused again, it is not said again.
	clk.Add(client.DefaultKeyRefusedPause)
	if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("after the cool-down: err = %v, want ErrUnauthorized", err)
	}
	if n := srv.Requests(""); n != 2 {
		t.Errorf("%d calls reached the registry after the cool-down; want 2 in all", n)
	}
	log := out.String()
	if n := logLines(log, "ERROR"); n != 1 || logLines(log, "ERROR", "refuses the API key", `"status":401`) != 1 {
		t.Errorf("%d ERROR lines; want one naming the refused key and its status:\n%s", n, log)
	}
	if strings.Contains(log, "SECRET99") {
		t.Errorf("the log shows the key:\n%s", log)
	}
}

// Once a call is answered again, the refusal is over: the log says so,
// and a later refusal is said again, as a new one.
func TestRefusedKeyRecovers(t *testing.T) {
	t.Parallel()
	var out testio.Buffer
	clk := &fakeClock{t: time.Now()}
	srv, c := setupWith(t, fixture{client: []client.Option{client.WithClock(clk.Now),
		client.WithLogger(slog.New(slog.NewJSONHandler(&out, nil)))}})
	ctx := ctxT(t)
	gtin := srv.Demo()[0].GTIN
	refuse := func(on bool) {
		t.Helper()
		var fs []sandbox.Fault
		if on {
			f, err := sandbox.ParseFault("error=403 GET /v1/products/{gtin}")
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		if err := srv.SetFaults(fs...); err != nil {
			t.Fatal(err)
		}
	}

	refuse(true)
	if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("refused: err = %v", err)
	}
	refuse(false)
	clk.Add(client.DefaultKeyRefusedPause)
	if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); err != nil {
		t.Fatalf("accepted again: err = %v", err)
	}
	if st := c.Stats(); st.PauseStatus != 0 {
		t.Errorf("client stats %+v after an answer; want no pause", st)
	}
	refuse(true)
	if _, _, err := c.Products.ByGTIN(ctx, gtin, nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("refused again: err = %v", err)
	}
	log := out.String()
	if n := logLines(log, "ERROR", "refuses the API key", `"status":403`); n != 2 || logLines(log, "ERROR") != 2 {
		t.Errorf("%d ERROR lines for the refusals; want 2, one each:\n%s", n, log)
	}
	if n := logLines(log, "INFO", "accepts the API key again"); n != 1 {
		t.Errorf("%d INFO lines saying the key is accepted again; want 1:\n%s", n, log)
	}
}

// With the library's defaults — no logger — the refusal is still said,
// to slog's default logger, as the missing base URL is: badges going
// unknown with nothing logged is the trap. Without a key at all, the line
// says that none was set. Not parallel: it sets slog's default.
func TestRefusedKeyWithoutALoggerIsSaidToSlogDefault(t *testing.T) {
	var out testio.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&out, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	srv := sandbox.NewServer(t, sandbox.WithAPIKeys("the-right-key"))
	c, err := client.New(client.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	for range 3 {
		if _, _, err := c.Products.ByGTIN(ctxT(t), srv.Demo()[0].GTIN, nil); !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	}
	log := out.String()
	if logLines(log, "ERROR") != 1 || logLines(log, "ERROR", "no API key") != 1 {
		t.Errorf("want one ERROR saying no API key was set:\n%s", log)
	}
}

// A registry that quotes the refused key back in its problem document
// (some name the key they did not know) gets it shown neither in the
// error nor in the log.
func TestRefusedKeyQuotedBackIsNotShown(t *testing.T) {
	t.Parallel()
	const key = secretKey
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"type":"about:blank","title":"Unknown key %[1]s","status":401,"code":"unauthorized","detail":"no such key: %[1]s","errors":[{"field":"Authorization","message":"%[1]s is not a key"}]}`, key)
	}))
	t.Cleanup(hs.Close)
	var out testio.Buffer
	c, err := client.New(client.WithBaseURL(hs.URL), client.WithAPIKey(key), client.WithHTTPClient(hs.Client()),
		client.WithLogger(slog.New(slog.NewJSONHandler(&out, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Products.ByGTIN(ctxT(t), "6901234567892", nil)
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	requireNoSecret(t, "a problem quoting the key", err)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) && strings.Contains(fmt.Sprintf("%+v", *apiErr), secretPart) {
		t.Errorf("the APIError's fields show the key: %+v", *apiErr)
	}
	if strings.Contains(out.String(), secretPart) || logLines(out.String(), "ERROR") != 1 {
		t.Errorf("want one ERROR, without the key:\n%s", out.String())
	}
}
