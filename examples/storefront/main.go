// Command storefront is a small shop whose product pages show the quality
// commitment verdict of every product, looked up from the registry's API.
//
// With no flags it starts the sandbox in-process and serves the shop on a
// local port it prints:
//
//	go run ./examples/storefront
//	go run ./examples/storefront -api https://api.example.org -key "$QC_API_KEY"
//
// It looks products up with the SDK's client; it moves to the cache and
// widget packages as they land.
package main

import (
	"context"
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

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "storefront:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("storefront", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address the shop listens on (a busy port falls back to a free one)")
	apiURL := fs.String("api", os.Getenv("QC_API_URL"), "base URL of the registry API (default: an in-process sandbox)")
	key := fs.String("key", os.Getenv("QC_API_KEY"), "API key (also QC_API_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	// The catalogue is the shop's own; here it is drawn from a sandbox data
	// set so that its GTINs mean something to the registry.
	catalogue, err := sandbox.New()
	if err != nil {
		return err
	}
	defer catalogue.Close()

	base := *apiURL
	if base == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		api := &http.Server{Handler: catalogue, ReadHeaderTimeout: 5 * time.Second}
		go api.Serve(ln)
		defer api.Close()
		base = "http://" + ln.Addr().String()
		fmt.Fprintf(stdout, "storefront: sandbox API on %s\n", base)
	}

	opts := []client.Option{client.WithBaseURL(base)}
	if *key != "" {
		opts = append(opts, client.WithAPIKey(*key))
	}
	api, err := client.New(opts...)
	if err != nil {
		return err
	}
	shop, err := newShop(api, products(catalogue))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "storefront: open http://%s/\n", ln.Addr())

	srv := &http.Server{Handler: shop, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
