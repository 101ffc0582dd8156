package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// A key the registry refuses is logged once, as an error naming the
// cause; the calls after the refusal are held back, unsent, for the
// cool-down, and every one matches ErrUnauthorized.
func ExampleKeyRefusedError() {
	sb, err := sandbox.New(sandbox.WithReferenceTime(exampleDay), sandbox.WithAPIKeys("the-right-key"))
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	ts := httptest.NewServer(sb)
	defer ts.Close()

	// A log without the times and request ids, so that the output is the
	// same each run.
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "request_id" || a.Key == "detail" {
				return slog.Attr{}
			}
			return a
		},
	}))
	api, err := client.New(client.WithBaseURL(ts.URL), client.WithHTTPClient(ts.Client()),
		client.WithAPIKey("a-wrong-key"), client.WithLogger(log))
	if err != nil {
		panic(err)
	}
	for range 3 {
		_, _, err := api.Products.ByGTIN(context.Background(), "6910002100001", nil)
		var kr *client.KeyRefusedError
		if errors.As(err, &kr) {
			fmt.Println("refused:", kr.StatusCode, kr.Code, "sent:", kr.Err != nil, errors.Is(err, client.ErrUnauthorized))
		}
	}
	fmt.Println("calls that reached the registry:", sb.Requests(""))
	// Output:
	// level=ERROR msg="qcsdk: the registry refuses the API key: every call fails, and badges show unknown, until the key is fixed; calls are held back for a cool-down after each refusal" status=401 code=unauthorized call="GET /v1/products/06910002100001" cool_down=1m0s
	// refused: 401 unauthorized sent: true true
	// refused: 401 unauthorized sent: false true
	// refused: 401 unauthorized sent: false true
	// calls that reached the registry: 1
}
