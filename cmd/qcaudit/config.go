package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qualitycommit/qcsdk/audit"
)

// config is what an audit runs with.
type config struct {
	input     string // "": none named (stdin, or the sample without a registry); "-": stdin
	inFormat  string // csv, tsv or jsonl
	output    string // "": stdout
	outFormat string // csv or jsonl
	all       bool
	strict    bool
	bom       bool
	resume    string // the checkpoint journal; "": not resumable
	apiURL    string // "": the embedded sandbox
	apiKey    string
	retries   int
	maxWait   time.Duration             // audit.Options.MaxPauseWait
	watch     string                    // the catalogue index's SQLite file: the change-driven mode
	redisURL  string                    // with watch: the fleet's Redis, for the follower's lease
	only      map[audit.ReasonCode]bool // nil: every reason
	except    map[audit.ReasonCode]bool
	since     string // the previous audit's findings file
	sinceJSON bool
	rejects   string // where rows that could not be read are listed
	bySeller  string // where the per-seller summary goes
}

// selects reports whether findings of reason code c are written.
func (c *config) selects(code audit.ReasonCode) bool {
	return (c.only == nil || c.only[code]) && !c.except[code]
}

// errUsage is a command line that cannot work: qcaudit exits 2, having
// said what is wrong in one line.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// autoBool is a boolean flag that remembers whether it was set, so that
// its default can depend on other flags.
type autoBool struct {
	v, set bool
}

func (b *autoBool) String() string   { return "auto" }
func (b *autoBool) IsBoolFlag() bool { return true }
func (b *autoBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	b.v, b.set = v, true
	return nil
}

const usageLine = "usage: qcaudit [flags] [catalogue.csv|catalogue.jsonl|-] > findings.csv"

// parseConfig reads the command line args over the environment env. Flags
// may come before or after the input file.
func parseConfig(args []string, env func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("qcaudit", flag.ContinueOnError)
	// A mistake is said in one line; the usage is for -h.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var bom autoBool
	var keyFile, catalogueFile, only, except string
	fs.StringVar(&c.inFormat, "in-format", "", "input format: csv, tsv or jsonl (default: by the file's extension, csv for stdin)")
	fs.StringVar(&c.output, "o", "", "write the findings to this file (default: stdout)")
	fs.StringVar(&c.outFormat, "out-format", "", "output format: csv or jsonl (default: by -o's extension, csv for stdout)")
	fs.BoolVar(&c.all, "all", false, "write every listing, not only those flagged")
	fs.BoolVar(&c.strict, "strict", false, "stop at the first malformed row (exit 2) instead of reporting and skipping it")
	fs.Var(&bom, "bom", "write a UTF-8 byte order mark before CSV, for Excel (default: on for a .csv file named by -o, off for stdout)")
	fs.StringVar(&c.resume, "resume", "", "keep a checkpoint journal in this file and resume from it (needs -o); deleted once the audit completes")
	fs.StringVar(&c.apiURL, "api", env("QC_API_URL"), "base URL of the registry's API (QC_API_URL); empty: an embedded sandbox")
	fs.StringVar(&keyFile, "api-key-file", env("QC_API_KEY_FILE"), "file holding the API key (QC_API_KEY_FILE; or set QC_API_KEY)")
	fs.StringVar(&c.watch, "watch", "", "watch the registry's changes: index the catalogue in this SQLite file and write a finding for each listing a change touches, as JSON lines on stdout, until stopped")
	fs.StringVar(&catalogueFile, "catalogue", "", "with -watch: sync the index to this export of the catalogue (adds, updates and removes listings; learns new makers) before watching")
	fs.StringVar(&c.redisURL, "redis", env("QC_REDIS_URL"), "with -watch: the fleet's Redis URL (QC_REDIS_URL), so that one replica at a time watches")
	fs.StringVar(&only, "only", "", "write only findings of these reason codes, comma-separated (qcaudit -h lists them)")
	fs.StringVar(&except, "except", "", "write no findings of these reason codes, comma-separated")
	fs.StringVar(&c.since, "since", "", "the previous audit's findings (CSV or JSON Lines): mark each finding new or unchanged, and add those since cleared (needs -o)")
	fs.StringVar(&c.rejects, "rejects", "", "list the rows that could not be read in this CSV file: line, reason")
	fs.StringVar(&c.bySeller, "by-seller", "", "write a summary per seller to this CSV file: findings by reason code (needs -o)")
	fs.IntVar(&c.retries, "retries", 3, "how many times a failed lookup is tried again")
	fs.DurationVar(&c.maxWait, "max-wait", audit.DefaultMaxPauseWait, "how long to wait in all while the registry says it is overloaded or down; 0: never wait")

	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stderr, usageLine)
				fmt.Fprint(stderr, usageExamples)
				fmt.Fprintln(stderr, "\nFlags:")
				fs.SetOutput(stderr)
				fs.PrintDefaults()
				fmt.Fprint(stderr, usageCodes())
				return nil, err
			}
			return nil, usagef("%v (qcaudit -h lists the flags)", err)
		}
		if fs.NArg() == 0 {
			break
		}
		if c.input != "" {
			return nil, usagef("more than one input: %s and %s", quoteText(c.input), quoteText(fs.Arg(0)))
		}
		c.input, rest = fs.Arg(0), fs.Args()[1:]
	}

	var err error
	if c.only, err = reasonCodes("-only", only); err != nil {
		return nil, err
	}
	if c.except, err = reasonCodes("-except", except); err != nil {
		return nil, err
	}
	if c.except == nil {
		c.except = map[audit.ReasonCode]bool{}
	}
	if catalogueFile != "" {
		if c.watch == "" {
			return nil, usagef("-catalogue is for -watch: a full audit names its input as an argument")
		}
		if c.input != "" {
			return nil, usagef("more than one input: %s and -catalogue %s", quoteText(c.input), quoteText(catalogueFile))
		}
		c.input = catalogueFile
	}
	if c.inFormat, err = format("-in-format", c.inFormat, c.input, "csv", "tsv", "jsonl"); err != nil {
		return nil, err
	}
	if c.outFormat, err = format("-out-format", c.outFormat, c.output, "csv", "jsonl"); err != nil {
		return nil, err
	}
	if c.output == "-" {
		c.output = ""
	}
	c.bom = bom.v
	if !bom.set {
		c.bom = c.output != "" && c.outFormat == "csv" && strings.EqualFold(filepath.Ext(c.output), ".csv")
	}
	if bom.v && c.outFormat != "csv" {
		return nil, usagef("-bom: the output is %s; a byte order mark is for CSV", c.outFormat)
	}
	if c.resume != "" && c.output == "" {
		return nil, usagef("-resume needs -o FILE: findings written to stdout cannot be cut back to the checkpoint")
	}
	if c.resume != "" && c.output != "" && filepath.Clean(c.resume) == filepath.Clean(c.output) {
		return nil, usagef("-resume and -o name the same file")
	}
	if c.watch != "" && (c.output != "" || c.resume != "" || c.all || c.since != "" || c.bySeller != "" || c.rejects != "") {
		return nil, usagef("-watch writes its findings to stdout as they come: -o, -resume, -all, -since, -by-seller and -rejects are for the full audit")
	}
	if (c.since != "" || c.bySeller != "") && c.output == "" {
		return nil, usagef("-since and -by-seller need -o FILE: they read the findings back once the audit is complete")
	}
	if c.since != "" {
		f, err := format("-since", "", c.since, "csv", "jsonl")
		if err != nil {
			return nil, err
		}
		c.sinceJSON = f == "jsonl"
	}
	for _, p := range []struct{ flag, path string }{{"-since", c.since}, {"-rejects", c.rejects}, {"-by-seller", c.bySeller}, {"-resume", c.resume}} {
		if p.path != "" && c.output != "" && filepath.Clean(p.path) == filepath.Clean(c.output) && p.flag != "-since" {
			return nil, usagef("%s and -o name the same file", p.flag)
		}
	}
	if c.watch != "" {
		c.outFormat = "jsonl"
	}
	if c.retries < 0 {
		return nil, usagef("-retries: %d is negative", c.retries)
	}
	if c.maxWait < 0 {
		return nil, usagef("-max-wait: %v is negative", c.maxWait)
	}
	if c.maxWait == 0 {
		c.maxWait = -1 // audit.Options: never wait
	}

	if keyFile == "" {
		c.apiKey = strings.TrimSpace(env("QC_API_KEY"))
	} else {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, usagef("-api-key-file: %v", err)
		}
		c.apiKey = strings.TrimSpace(string(b))
	}
	if c.apiURL != "" {
		if u, err := url.Parse(c.apiURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, usagef("-api (QC_API_URL): not an http(s) URL")
		}
		// Without a key a real registry would answer every lookup with
		// an error, and every listing would be unknown.
		if c.apiKey == "" {
			return nil, usagef("no API key for %s: set QC_API_KEY or -api-key-file", c.apiURL)
		}
	}
	return c, nil
}

// reasonCodes reads a comma-separated list of reason codes; "" is nil.
func reasonCodes(flagName, list string) (map[audit.ReasonCode]bool, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	m := map[audit.ReasonCode]bool{}
	for _, s := range strings.Split(list, ",") {
		code := audit.ReasonCode(strings.ToLower(strings.TrimSpace(s)))
		if !slices.Contains(audit.ReasonCodes, code) {
			var names []string
			for _, c := range audit.ReasonCodes {
				names = append(names, string(c))
			}
			return nil, usagef("%s: %s is not a reason code; they are %s", flagName, quoteText(s), strings.Join(names, ", "))
		}
		m[code] = true
	}
	return m, nil
}

const usageExamples = `
Examples:
  qcaudit -o findings.csv catalogue.csv                       audit a catalogue
  qcaudit -o today.csv -since yesterday.csv catalogue.csv     mark findings new, unchanged or cleared
  qcaudit -o revoked.csv -only revoked,suspended catalogue.csv
  qcaudit -o findings.csv -resume audit.journal catalogue.csv resumable: run it again after a kill
  qcaudit -o findings.csv -rejects rejects.csv -by-seller sellers.csv catalogue.csv
  qcaudit -watch catalogue.db -catalogue catalogue.csv        sync the index, then a finding per change
`

// usageCodes is the reason codes and the exit statuses, for -h.
func usageCodes() string {
	var b strings.Builder
	b.WriteString("\nReason codes (the code column; -only, -except):\n")
	for _, c := range audit.ReasonCodes {
		fmt.Fprintf(&b, "  %-18s %s\n", c, codeMeaning[c])
	}
	b.WriteString(`
Exit status:
  0  the audit is complete and no listing is flagged (with -only or
     -except: none of the codes written); -watch stopped by a signal
  1  the audit is complete and some listings are flagged
  2  the audit could not be done or completed: a bad flag, an unreadable
     file, a header with no product key column, a malformed row under
     -strict, a journal written for another input, an output error, an
     interruption. The previous findings file is left as it was.
`)
	return b.String()
}

// codeMeaning says what each reason code means, for -h.
var codeMeaning = map[audit.ReasonCode]string{
	audit.CodeCommitted:        "an active commitment covers the product (written with -all)",
	audit.CodeFailedInspection: "the product's latest inspection failed",
	audit.CodeRevoked:          "the commitment was revoked",
	audit.CodeSuspended:        "the commitment is suspended",
	audit.CodeExpired:          "the commitment expired",
	audit.CodeNotCovered:       "the maker is listed, but no commitment covers the product",
	audit.CodeNotInForce:       "the commitment covering the product is not in force yet",
	audit.CodeMakerNotListed:   "the maker is not in the registry",
	audit.CodeNoAnswer:         "unknown: the registry did not answer",
	audit.CodeUnreadable:       "unknown: the registry's answer cannot be read",
}

// format is the format a flag names, or else the one a file's extension
// says, or else def (the first of formats) for stdin or stdout.
func format(flagName, v, file string, formats ...string) (string, error) {
	if v != "" {
		v = strings.ToLower(v)
		if v == "ndjson" {
			v = "jsonl"
		}
		for _, f := range formats {
			if v == f {
				return v, nil
			}
		}
		return "", usagef("%s: %q is not one of %s", flagName, v, strings.Join(formats, ", "))
	}
	if file == "" || file == "-" {
		return formats[0], nil
	}
	switch ext := strings.ToLower(filepath.Ext(file)); ext {
	case ".csv":
		return "csv", nil
	case ".jsonl", ".ndjson":
		return "jsonl", nil
	case ".tsv":
		if len(formats) > 2 {
			return "tsv", nil
		}
	}
	return "", usagef("cannot tell the format of %q by its extension: set %s to one of %s", file, flagName, strings.Join(formats, ", "))
}
