// Command storefront is a small shop whose product pages show the quality
// commitment verdict of every product, looked up from the registry's API.
//
// With no flags it starts the sandbox in-process and serves the shop on a
// local port it prints:
//
//	go run ./examples/storefront
//	go run ./examples/storefront -api https://api.example.org -key "$QC_API_KEY"
//
// It shows what an integration looks like: the client, the cache in front
// of it (with -redis, a memory tier in front of Redis, as on a fleet), the
// widget's badges in the shop's own templates, and the widget's handler
// mounted under /quality/ for badge images and the consumer enquiry pages.
// With -follow it keeps the cache current from the change feed.
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

	"github.com/redis/go-redis/v9"

	"github.com/qualitycommit/qcsdk/cache"
	"github.com/qualitycommit/qcsdk/cache/redisstore"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
	"github.com/qualitycommit/qcsdk/widget"
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
	redisAddr := fs.String("redis", os.Getenv("QC_REDIS"), "Redis address host:port, to share the cache as a fleet would (also QC_REDIS)")
	follow := fs.Bool("follow", false, "follow the registry's change feed, so that pushed changes show at once")
	warm := fs.Bool("warm", true, "look up the catalogue's badges before serving, so that the first page views are warm (-warm=false shows cold ones)")
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
		var stopAPI func()
		if base, stopAPI, err = catalogue.Start(); err != nil {
			return err
		}
		defer stopAPI()
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
	defer api.CloseIdleConnections()

	var cacheOpts []cache.Option
	var feedStore cache.Store // where the follower writes: Redis itself on a fleet
	if *redisAddr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, ContextTimeoutEnabled: true})
		defer rdb.Close()
		shared, err := redisstore.New(rdb, redisstore.WithPrefix("qcsdk:storefront:"))
		if err != nil {
			return err
		}
		defer shared.Close()
		mem, err := cache.NewMemory()
		if err != nil {
			return err
		}
		defer mem.Close()
		tiered, err := cache.NewTiered(mem, shared)
		if err != nil {
			return err
		}
		defer tiered.Close()
		cacheOpts = append(cacheOpts, cache.WithStore(tiered))
		feedStore = shared
		fmt.Fprintf(stdout, "storefront: cache shared through Redis at %s\n", *redisAddr)
	}
	qc, err := cache.New(api, cacheOpts...)
	if err != nil {
		return err
	}
	defer qc.Close()
	if feedStore == nil {
		feedStore = qc.Store()
	}
	badges, err := widget.New(qc)
	if err != nil {
		return err
	}
	items := products(catalogue)
	shop, err := newShop(qc, badges, items)
	if err != nil {
		return err
	}
	if *warm {
		// A shop warms its best sellers; this one's catalogue is small
		// enough to warm whole. A registry that does not answer in time
		// delays the start by that much, and the pages look up the rest.
		keys := make([]client.ProductKey, len(items))
		for i, it := range items {
			keys[i] = client.ProductKey{GTIN: it.GTIN}
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := qc.Warm(wctx, keys)
		cancel()
		fmt.Fprintf(stdout, "storefront: %d of %d badges warm\n", n, len(keys))
		if err != nil {
			fmt.Fprintf(stdout, "storefront: warm start cut short (%v); serving anyway\n", err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "storefront: open http://%s/\n", ln.Addr())

	srv := newServer(shop)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *follow {
		followed := make(chan struct{}, 2)
		defer func() { stop(); <-followed; <-followed }()
		go func() {
			defer func() { followed <- struct{}{} }()
			_ = cache.Follow(ctx, api, feedStore, nil)
		}()
		// The shop's own reports: the feed tells it when one moves on.
		go func() {
			defer func() { followed <- struct{}{} }()
			shop.reports.follow(ctx, api, nil)
		}()
		fmt.Fprintln(stdout, "storefront: following the change feed")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

// newServer bounds what a client can hold: a request's headers and body
// (a client sending one byte a second), the writing of an answer, and an
// idle keep-alive connection.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       15 * time.Second,
	}
}
