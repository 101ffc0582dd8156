// Command webhook receives the registry's signed pushes and applies each
// change to a store, so that the caches reading it show the change at
// once — the push counterpart of following the change feed.
//
//	go run ./examples/webhook -secret "$QC_WEBHOOK_SECRET" -redis 127.0.0.1:6379
//
// It serves POST /webhook (verified: a forged, replayed or oversized push
// is refused) and, to see the effect, GET /status/{gtin}: the verdict a
// cache over the same store answers. With no -api it starts an in-process
// sandbox, registers itself there for pushes, and prints a command that
// makes the regulator revoke a commitment.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webhook", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "address to receive pushes on")
	secret := fs.String("secret", os.Getenv("QC_WEBHOOK_SECRET"), "the webhook secret the registry gave you (also QC_WEBHOOK_SECRET; default with the sandbox: a random one)")
	apiURL := fs.String("api", os.Getenv("QC_API_URL"), "base URL of the registry API (default: an in-process sandbox)")
	key := fs.String("key", os.Getenv("QC_API_KEY"), "API key (also QC_API_KEY)")
	redisAddr := fs.String("redis", os.Getenv("QC_REDIS"), "Redis address host:port: apply pushes to the fleet's shared store (also QC_REDIS)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	self := "http://" + ln.Addr().String()

	base := *apiURL
	var sb *sandbox.Sandbox
	if base == "" {
		if sb, err = sandbox.New(); err != nil {
			return err
		}
		defer sb.Close()
		var stop func()
		if base, stop, err = sb.Start(); err != nil {
			return err
		}
		defer stop()
		if *secret == "" {
			var b [16]byte
			_, _ = rand.Read(b[:])
			*secret = "whsec_" + hex.EncodeToString(b[:])
		}
		if err := sb.AddWebhook(self+"/webhook", *secret); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook: sandbox API on %s, pushing to %s/webhook\n", base, self)
		fmt.Fprintf(stdout, "webhook: try: curl -X POST %s/_sandbox/commitments/cmt_0000001_1/status -d '{\"status\":\"revoked\"}'\n", base)
		fmt.Fprintf(stdout, "webhook: then: curl %s/status/06910000100003\n", self)
	}
	if *secret == "" {
		return errors.New("-secret is required to verify the registry's pushes")
	}

	opts := []client.Option{client.WithBaseURL(base)}
	if *key != "" {
		opts = append(opts, client.WithAPIKey(*key))
	}
	api, err := client.New(opts...)
	if err != nil {
		return err
	}
	defer api.CloseIdleConnections()

	var store cache.Store
	if *redisAddr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, ContextTimeoutEnabled: true})
		defer rdb.Close()
		shared, err := redisstore.New(rdb, redisstore.WithPrefix("qcsdk:storefront:"))
		if err != nil {
			return err
		}
		defer shared.Close()
		store = shared
	} else {
		mem, err := cache.NewMemory()
		if err != nil {
			return err
		}
		defer mem.Close()
		store = mem
	}
	qc, err := cache.New(api, cache.WithStore(store))
	if err != nil {
		return err
	}
	defer qc.Close()

	mux := http.NewServeMux()
	// The secret never appears in logs or answers: a refused push gets
	// a bare status (401, 400, 413) and nothing more.
	mux.Handle("POST /webhook", client.WebhookHandler(client.WebhookVerifier{Secrets: []string{*secret}},
		func(ctx context.Context, ev client.Event) error { return cache.Apply(ctx, store, ev) }))
	mux.HandleFunc("GET /status/{gtin}", func(w http.ResponseWriter, r *http.Request) {
		a, err := qc.Status(r.Context(), client.ProductKey{GTIN: client.GTIN(r.PathValue("gtin"))})
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			code := http.StatusBadGateway
			if errors.Is(err, client.ErrInvalidID) {
				code = http.StatusBadRequest
			}
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		st := a.Status
		d := client.Decide(st, time.Now(), client.DefaultLookback)
		json.NewEncoder(w).Encode(map[string]any{"gtin": st.Key.GTIN, "verdict": d.Verdict, "commitment_status": d.Status, "version": st.Version})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "webhook: receiving pushes on %s/webhook\n", self)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); errors.Is(err, context.DeadlineExceeded) {
		// A connection a client opened and never sent a request on (an
		// HTTP client dials ahead) counts as busy for 5 s: close it.
		return srv.Close()
	} else if err != nil {
		return err
	}
	return nil
}
