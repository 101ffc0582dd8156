// Command qcsandbox serves the reference implementation of the quality
// commitment public query API on a local port, over a generated data set,
// with optional rate limiting and injected faults.
//
//	go run ./cmd/qcsandbox                       # the demo set on 127.0.0.1:8080
//	go run ./cmd/qcsandbox -products 1000000     # a load-test set
//	go run ./cmd/qcsandbox -fault 'error=503@0.2' -fault 'latency=300ms@0.5 GET /v1/products/{gtin}'
//	go run ./cmd/qcsandbox -feed-retention 100   # change-feed cursors expire
//	go run ./cmd/qcsandbox -log-key-file ci.key  # the log signed with a pinned note key
//
// It prints where it listens and the curated demo products, one per badge
// verdict. The operator API under /_sandbox publishes changes and sets
// faults while it runs; see the sandbox package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/qualitycommit/qcsdk/sandbox"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "qcsandbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("qcsandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	seed := fs.Uint64("seed", sandbox.DefaultSeed, "data set seed")
	ents := fs.Int("enterprises", 0, "number of enterprises (default: 50, or products/20 for large sets)")
	products := fs.Int("products", sandbox.DefaultProducts, "number of products")
	ref := fs.String("reference", "", "reference day of the data set, YYYY-MM-DD (default today)")
	rate := fs.Float64("rate", 1000, "requests per second per API key; 0 turns rate limiting off")
	burst := fs.Int("burst", 2000, "rate limit burst")
	hostile := fs.Bool("hostile", false, "fill text fields with hostile strings (markup, script URLs, broken UTF-8)")
	verify := fs.String("verify-base", sandbox.DefaultVerifyBase, "base URL of records' verify_url")
	faultSeed := fs.Uint64("fault-seed", 0, "seed of the fault draws")
	retention := fs.Int("feed-retention", 0, "keep only the newest N change-feed events; older cursors expire (0 keeps all)")
	logKeyFile := fs.String("log-key-file", "", "sign the log's checkpoints with the note signer key in this file (default: a key generated at start)")
	verbose := fs.Bool("v", false, "log every request")
	var faults, keys multiFlag
	fs.Var(&faults, "fault", "inject a fault, KIND[=PARAM][@PROBABILITY][ METHOD /route]; repeatable\n(kinds: latency, error, rate_limit, reset, malformed, truncated, oversized, slow_body)")
	fs.Var(&keys, "api-key", "require this API key (repeatable; also QC_SANDBOX_API_KEYS, comma-separated)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	n := *ents
	if n == 0 {
		n = max(sandbox.DefaultEnterprises, *products/20)
	}
	opts := []sandbox.Option{
		sandbox.WithSeed(*seed),
		sandbox.WithSize(n, *products),
		sandbox.WithRateLimit(*rate, *burst),
		sandbox.WithVerifyBaseURL(*verify),
		sandbox.WithFaultSeed(*faultSeed),
		sandbox.WithFeedRetention(*retention),
	}
	if *ref != "" {
		t, err := time.Parse(time.DateOnly, *ref)
		if err != nil {
			return fmt.Errorf("-reference %q is not a date like 2026-06-01", *ref)
		}
		opts = append(opts, sandbox.WithReferenceTime(t))
	}
	if *hostile {
		opts = append(opts, sandbox.WithHostileText())
	}
	for _, spec := range faults {
		f, err := sandbox.ParseFault(spec)
		if err != nil {
			return err
		}
		opts = append(opts, sandbox.WithFaults(f))
	}
	if env := os.Getenv("QC_SANDBOX_API_KEYS"); env != "" {
		keys = append(keys, strings.Split(env, ",")...)
	}
	if len(keys) > 0 {
		opts = append(opts, sandbox.WithAPIKeys(keys...))
	}
	if *logKeyFile != "" {
		// A file, not a flag's value: a signing key stays out of ps and
		// shell histories.
		b, err := os.ReadFile(*logKeyFile)
		if err != nil {
			return fmt.Errorf("-log-key-file: %w", err)
		}
		opts = append(opts, sandbox.WithLogKey(strings.TrimSpace(string(b))))
	}
	if *verbose {
		opts = append(opts, sandbox.WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	}

	start := time.Now()
	sb, err := sandbox.New(opts...)
	if err != nil {
		return err
	}
	defer sb.Close()
	built := time.Since(start)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w (is another server on that port? try -addr 127.0.0.1:0)", err)
	}
	e, p := sb.Size()
	fmt.Fprintf(stdout, "qcsandbox: %d enterprises, %d products (seed %d, dated %s), generated in %s\n",
		e, p, *seed, sb.ReferenceTime().Format(time.DateOnly), built.Round(time.Millisecond))
	fmt.Fprintf(stdout, "qcsandbox: listening on http://%s\n", ln.Addr())
	if len(keys) == 0 {
		fmt.Fprintln(stdout, "qcsandbox: accepts any API key, or none (-api-key requires one)")
	} else {
		fmt.Fprintf(stdout, "qcsandbox: requires one of %d API key(s) in Authorization: Bearer <key>\n", len(keys))
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "demo GTIN\tverdict\twhat")
	for _, d := range sb.Demo() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.GTIN, d.Verdict, d.About)
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\n", sb.NotListedGTIN(), "not_listed", "a maker that is not on the list")
	tw.Flush()
	try := sb.NotListedGTIN() // a set without products has no demo product
	if demo := sb.Demo(); len(demo) > 0 {
		try = demo[0].GTIN
	}
	auth := ""
	if len(keys) > 0 {
		auth = "-H " + shellQuote("Authorization: Bearer "+keys[0]) + " "
	}
	fmt.Fprintf(stdout, "\ntry: curl %shttp://%s/v1/products/%s\n", auth, ln.Addr(), try)

	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sb.Close() // ends long polls so Shutdown need not wait for them
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// shellQuote quotes s for a POSIX shell, so a printed command works when
// pasted whatever the key holds.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
