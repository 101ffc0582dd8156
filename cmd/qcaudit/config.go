package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
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
	maxWait   time.Duration // audit.Options.MaxPauseWait
	watch     string        // the catalogue index's SQLite file: the change-driven mode
	redisURL  string        // with watch: the fleet's Redis, for the follower's lease
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
	var keyFile, catalogueFile string
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
	fs.IntVar(&c.retries, "retries", 3, "how many times a failed lookup is tried again")
	fs.DurationVar(&c.maxWait, "max-wait", audit.DefaultMaxPauseWait, "how long to wait in all while the registry says it is overloaded or down; 0: never wait")

	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(stderr, usageLine)
				fs.SetOutput(stderr)
				fs.PrintDefaults()
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

	if catalogueFile != "" {
		if c.watch == "" {
			return nil, usagef("-catalogue is for -watch: a full audit names its input as an argument")
		}
		if c.input != "" {
			return nil, usagef("more than one input: %s and -catalogue %s", quoteText(c.input), quoteText(catalogueFile))
		}
		c.input = catalogueFile
	}
	var err error
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
	if c.watch != "" && (c.output != "" || c.resume != "" || c.all) {
		return nil, usagef("-watch writes its findings to stdout as they come: -o, -resume and -all are for the full audit")
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
