// Command lookup prints the quality-commitment verdict of products, for a
// person at a terminal or for a script.
//
//	go run ./examples/lookup 06910000100003 6910002100001
//	go run ./examples/lookup -json -lang en 06910000100003 91350100M000100Y43:春晖:CH-1000
//	go run ./examples/lookup -api https://api.example.org -key "$QC_API_KEY" < gtins.txt
//
// A key is a GTIN (8, 12, 13 or 14 digits), or a maker's USCC with a brand
// and an optional model, separated by colons. With no key arguments it
// reads keys from standard input, one per line. With no -api it asks an
// in-process sandbox, whose demo products it lists on -demo.
//
// Exit status: 0 when every key got an answer (whatever its verdict), 1
// when the registry could not answer for some key, 2 for bad usage or a
// malformed key (nothing is asked then).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

// Exit statuses.
const (
	exitOK       = 0
	exitNoAnswer = 1
	exitUsage    = 2
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// result is one key's line of output.
type result struct {
	Key        string         `json:"key"`
	Verdict    client.Verdict `json:"verdict"`
	Status     string         `json:"commitment_status,omitempty"`
	Since      string         `json:"since,omitempty"`
	Maker      string         `json:"maker,omitempty"`
	USCC       string         `json:"uscc,omitempty"`
	Commitment string         `json:"commitment_id,omitempty"`
	VerifyURL  string         `json:"verify_url,omitempty"`
	Error      string         `json:"error,omitempty"`
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	apiURL := fs.String("api", os.Getenv("QC_API_URL"), "base URL of the registry API (default: an in-process sandbox)")
	key := fs.String("key", os.Getenv("QC_API_KEY"), "API key (also QC_API_KEY)")
	asJSON := fs.Bool("json", false, "print JSON, one array")
	lang := fs.String("lang", "zh-CN", "language of names: zh-CN or en")
	demo := fs.Bool("demo", false, "list the sandbox's demo products (one per verdict) and exit")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lookup [flags] [GTIN | USCC:brand[:model]]...   (keys from stdin when none)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}

	base := *apiURL
	if base == "" {
		sb, err := sandbox.New()
		if err != nil {
			fmt.Fprintln(stderr, "lookup:", err)
			return exitNoAnswer
		}
		defer sb.Close()
		if *demo {
			for _, d := range sb.Demo() {
				fmt.Fprintf(stdout, "%s\t%-18s %s\n", d.GTIN, d.Verdict, d.About)
			}
			return exitOK
		}
		var stop func()
		if base, stop, err = sb.Start(); err != nil {
			fmt.Fprintln(stderr, "lookup:", err)
			return exitNoAnswer
		}
		defer stop()
	} else if *demo {
		fmt.Fprintln(stderr, "lookup: -demo lists the sandbox's products; it takes no -api")
		return exitUsage
	}

	raw := fs.Args()
	if len(raw) == 0 {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
				raw = append(raw, line)
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(stderr, "lookup: reading keys:", err)
			return exitUsage
		}
	}
	if len(raw) == 0 {
		fs.Usage()
		return exitUsage
	}
	keys := make([]client.ProductKey, len(raw))
	bad := false
	for i, s := range raw {
		k, err := parseKey(s)
		if err != nil {
			fmt.Fprintf(stderr, "lookup: %v\n", err)
			bad = true
		}
		keys[i] = k
	}
	if bad {
		return exitUsage
	}

	opts := []client.Option{client.WithBaseURL(base)}
	if *key != "" {
		opts = append(opts, client.WithAPIKey(*key))
	}
	api, err := client.New(opts...)
	if err != nil {
		fmt.Fprintln(stderr, "lookup:", err)
		return exitUsage
	}
	defer api.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	items, _, err := api.Products.Batch(ctx, keys)
	if err != nil && len(items) == 0 {
		fmt.Fprintln(stderr, "lookup:", err)
		return exitNoAnswer
	}

	now := time.Now()
	code := exitOK
	results := make([]result, len(items))
	for i, it := range items {
		r := result{Key: raw[i]}
		if it.Err != nil {
			r.Verdict, r.Error = client.VerdictUnknown, it.Err.Error()
			code = exitNoAnswer
		} else {
			fill(&r, it.Status, client.Decide(it.Status, now, client.DefaultLookback), *lang)
		}
		results[i] = r
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return exitNoAnswer
		}
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVERDICT\tSINCE\tMAKER\tCOMMITMENT")
	for _, r := range results {
		maker, detail := r.Maker, r.Commitment
		if r.Status != "" {
			detail += " (" + r.Status + ")"
		}
		if r.Error != "" {
			detail = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Key, r.Verdict, r.Since, oneLine(maker), oneLine(detail))
	}
	tw.Flush()
	return code
}

// parseKey reads a GTIN, or USCC:brand[:model].
func parseKey(s string) (client.ProductKey, error) {
	if uscc, rest, ok := strings.Cut(s, ":"); ok {
		brand, model, _ := strings.Cut(rest, ":")
		u, err := client.ParseUSCC(uscc)
		if err != nil {
			return client.ProductKey{}, err
		}
		if strings.TrimSpace(brand) == "" {
			return client.ProductKey{}, fmt.Errorf("%q: a USCC key needs a brand (USCC:brand[:model])", s)
		}
		return client.ProductKey{USCC: u, Brand: strings.TrimSpace(brand), Model: strings.TrimSpace(model)}, nil
	}
	g, err := client.ParseGTIN(s)
	if err != nil {
		var idErr *client.IDError
		if errors.As(err, &idErr) {
			return client.ProductKey{}, err
		}
		return client.ProductKey{}, fmt.Errorf("%q: %w", s, err)
	}
	return client.ProductKey{GTIN: g}, nil
}

func fill(r *result, st *client.ProductStatus, d client.Decision, lang string) {
	r.Verdict = d.Verdict
	r.Status = string(d.Status)
	if !d.Since.IsZero() {
		r.Since = d.Since.Format(time.DateOnly)
	}
	if e := st.Enterprise; e != nil {
		r.Maker, r.USCC = e.Name.In(lang), string(e.USCC)
	}
	if c := d.Commitment; c != nil {
		r.Commitment, r.VerifyURL = c.ID, c.VerifyURL
	}
	if d.Verdict == client.VerdictInspectionFailed && d.Inspection != nil {
		r.VerifyURL = d.Inspection.VerifyURL
	}
}

// oneLine keeps a registry string from breaking the table: control
// characters (line breaks, tabs, bidi overrides) become spaces, and long
// names are cut.
func oneLine(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 60 {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x2028 || r == 0x2029 {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
