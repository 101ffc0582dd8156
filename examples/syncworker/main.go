// Command syncworker keeps a fleet's shared cache current: it follows the
// registry's change feed into Redis, where every web server's cache reads
// it, and each change is announced so that every server drops its memory
// copy at once.
//
//	go run ./examples/syncworker -redis 127.0.0.1:6379 -api https://api.example.org -key "$QC_API_KEY"
//
// With no -api it serves an in-process sandbox and prints the command that
// points the storefront at it and at the same Redis: a fleet of one on a
// laptop. Its cursor lives in Redis, so a restarted worker resumes where it
// stopped; running two is harmless (applying a change twice changes
// nothing).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

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
		fmt.Fprintln(os.Stderr, "syncworker:", err)
		os.Exit(1)
	}
}

// prefix is the Redis key prefix the worker and the storefront share.
const prefix = "qcsdk:storefront:"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("syncworker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	redisAddr := fs.String("redis", os.Getenv("QC_REDIS"), "Redis address host:port (also QC_REDIS)")
	apiURL := fs.String("api", os.Getenv("QC_API_URL"), "base URL of the registry API (default: an in-process sandbox)")
	key := fs.String("key", os.Getenv("QC_API_KEY"), "API key (also QC_API_KEY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *redisAddr == "" {
		return errors.New("-redis is required: the worker writes into the Redis the web servers read")
	}

	base := *apiURL
	if base == "" {
		sb, err := sandbox.New()
		if err != nil {
			return err
		}
		defer sb.Close()
		var stop func()
		if base, stop, err = sb.Start(); err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "syncworker: sandbox API on %s\n", base)
		fmt.Fprintf(stdout, "syncworker: run the shop on it with: go run ./examples/storefront -api %s -redis %s\n", base, *redisAddr)
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

	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	shared, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
	if err != nil {
		return err
	}
	defer shared.Close()

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fmt.Fprintf(stdout, "syncworker: following the change feed into Redis at %s\n", *redisAddr)
	err = cache.Follow(ctx, api, shared, &cache.FollowOptions{
		Logger: logger,
		Applied: func(ev client.Event) {
			logger.Info("applied", "type", ev.Type, "cursor", ev.Cursor)
		},
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
