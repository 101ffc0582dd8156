package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/qualitycommit/qcsdk/client"
)

// Exit statuses.
const (
	exitOK       = 0 // every badge verifies
	exitRefused  = 1 // some badge does not
	exitBadInput = 2 // the command could not check: flags, keys, a target that is no badge
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run checks the targets args names, or runs the demo when there are
// none, and returns the exit status.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("qcverify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "a file of the registry's note verifier keys, one a line")
	registry := fs.String("registry", "", "the registry's API base URL: its keys, its log's proofs and its latest checkpoint")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: qcverify [-key FILE | -registry URL] TARGET…   (a badge file, a .json badge URL, a product page URL)")
		fmt.Fprintln(stderr, "       qcverify                                     (a demo on an embedded sandbox)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitBadInput
	}
	targets := fs.Args()
	if len(targets) == 0 && *keyFile == "" && *registry == "" {
		return demo(ctx, stdout, stderr)
	}
	switch {
	case *keyFile != "" && *registry != "":
		fmt.Fprintln(stderr, "qcverify: -key and -registry both given: trust one source of keys")
		return exitBadInput
	case *keyFile == "" && *registry == "":
		fmt.Fprintln(stderr, "qcverify: give the registry's keys: -key FILE or -registry URL")
		return exitBadInput
	case len(targets) == 0:
		fmt.Fprintln(stderr, "qcverify: no badge to check: name a badge file, a badge URL or a product page URL")
		return exitBadInput
	}
	v := &verifier{now: time.Now}
	if *keyFile != "" {
		keys, err := readKeys(*keyFile)
		if err != nil {
			fmt.Fprintln(stderr, "qcverify:", err)
			return exitBadInput
		}
		v.keys = keys
	} else {
		reg, keys, err := openRegistry(ctx, *registry, env("QC_API_KEY"))
		if err != nil {
			fmt.Fprintln(stderr, "qcverify:", err)
			return exitBadInput
		}
		v.reg, v.keys = reg, keys
	}
	f := &fetcher{hc: &http.Client{Timeout: 30 * time.Second}}
	return check(ctx, v, f, targets, stdout)
}

// check verifies every badge of every target, a line each, and returns
// the exit status: bad input outranks a badge that does not verify.
func check(ctx context.Context, v *verifier, f *fetcher, targets []string, out io.Writer) int {
	status := exitOK
	for _, t := range targets {
		badges, err := f.badges(ctx, t)
		if err != nil {
			fmt.Fprintf(out, "ERROR %s: %v\n", t, err)
			status = exitBadInput
			continue
		}
		for _, b := range badges {
			var (
				summary string
				err     error
			)
			if b.ld != nil {
				summary, err = v.verifyLD(ctx, b.ld)
			} else {
				summary, err = v.verifyJSON(ctx, b.raw)
			}
			var in *inputError
			switch {
			case errors.As(err, &in):
				fmt.Fprintf(out, "ERROR %s: %v\n", b.name, err)
				status = exitBadInput
			case err != nil:
				fmt.Fprintf(out, "FAIL  %s: %v\n", b.name, err)
				if status == exitOK {
					status = exitRefused
				}
			default:
				fmt.Fprintf(out, "ok    %s: %s\n", b.name, summary)
			}
		}
	}
	return status
}

// readKeys reads note verifier keys, one a line; blank lines and lines
// starting with # are skipped. Each key verifies at any time: the file
// is the reader's own trust, dates and all.
func readKeys(name string) ([]client.LogKey, error) {
	body, err := readFile(name)
	if err != nil {
		return nil, err
	}
	var keys []client.LogKey
	sc := bufio.NewScanner(bytes.NewReader(body))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if _, err := note.NewVerifier(line); err != nil {
			return nil, fmt.Errorf("%s:%d: not a note verifier key: %v", name, n, err)
		}
		keys = append(keys, client.LogKey{Key: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no key", name)
	}
	return keys, nil
}

// openRegistry makes a client of the registry at base and fetches its
// keys. The keys are as trustworthy as the TLS connection that brought
// them; -key pins them instead.
func openRegistry(ctx context.Context, base, apiKey string) (*client.Client, []client.LogKey, error) {
	opts := []client.Option{client.WithBaseURL(base), client.WithUserAgent("qcverify")}
	if apiKey != "" {
		opts = append(opts, client.WithAPIKey(apiKey))
	}
	reg, err := client.New(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("-registry: %v", err)
	}
	keys, _, err := reg.Log.Keys(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("the registry's keys: %v", err)
	}
	if len(keys) == 0 {
		return nil, nil, errors.New("the registry lists no key")
	}
	return reg, keys, nil
}
