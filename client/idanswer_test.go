package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/qualitycommit/qcsdk/client"
)

// An answer that carries a GTIN or USCC ParseGTIN or ParseUSCC refuses
// breaks the contract (GTIN14, USCCString): it is the registry's failure,
// so it is a *DecodeError that matches ErrUnavailable, never the caller's
// ErrInvalidInput or ErrInvalidID, which would say the request was wrong.
func TestAnswerWithAnInvalidIdentifierIsTheRegistrysFault(t *testing.T) {
	t.Parallel()
	const (
		inspection = `{"id":"ins_1","enterprise_id":"ent_1","category":"c","product":{"name":{"zh":"壶"},"brand":"b","gtin":"GTIN"},` +
			`"authority":{"zh":"局"},"sampled_at":"2026-01-01T00:00:00Z","published_at":"2026-01-02T00:00:00Z","result":"pass",` +
			`"report_no":"r","version":1,"updated_at":"2026-01-02T00:00:00Z","verify_url":"https://verify.example/i"}`
		enterprise = `{"id":"ent_1","uscc":"USCC","name":{"zh":"厂"},"region_code":"440300","region":{"zh":"深圳"},"categories":["c"],` +
			`"listed_at":"2026-01-01T00:00:00Z","version":1,"updated_at":"2026-01-02T00:00:00Z","verify_url":"https://verify.example/e"}`
	)
	tests := []struct {
		name, path, body string
		get              func(c *client.Client) error
	}{
		{"gtin with a wrong check digit", "/v1/inspections/ins_1", strings.Replace(inspection, "GTIN", "06901234567893", 1),
			func(c *client.Client) error {
				_, _, err := c.Inspections.Get(context.Background(), "ins_1", nil)
				return err
			}},
		{"gtin with a letter", "/v1/inspections/ins_1", strings.Replace(inspection, "GTIN", "0690123456789X", 1),
			func(c *client.Client) error {
				_, _, err := c.Inspections.Get(context.Background(), "ins_1", nil)
				return err
			}},
		{"uscc with a wrong check character", "/v1/enterprises/ent_1", strings.Replace(enterprise, "USCC", "91350100M000100Y44", 1),
			func(c *client.Client) error {
				_, _, err := c.Enterprises.Get(context.Background(), "ent_1", nil)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			mux.HandleFunc("GET "+tt.path, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(tt.body))
			})
			hs := httptest.NewServer(mux)
			t.Cleanup(hs.Close)
			c, err := client.New(client.WithBaseURL(hs.URL), client.WithRetryPolicy(client.RetryPolicy{MaxRetries: 0}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.CloseIdleConnections)
			err = tt.get(c)
			var decErr *client.DecodeError
			if !errors.As(err, &decErr) {
				t.Fatalf("err = %v (%T), want a *DecodeError", err, err)
			}
			if !errors.Is(err, client.ErrUnavailable) {
				t.Errorf("err = %v does not match ErrUnavailable", err)
			}
			if errors.Is(err, client.ErrInvalidInput) || errors.Is(err, client.ErrInvalidID) {
				t.Errorf("err = %v matches ErrInvalidInput or ErrInvalidID: the request was not at fault", err)
			}
		})
	}
}
