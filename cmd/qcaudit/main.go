// Command qcaudit checks a platform's catalogue against the quality
// commitment registry: listings in, findings out, one row for each listing
// whose badge would not say "committed".
//
//	qcaudit catalogue.csv > findings.csv
//	qcaudit -o findings.jsonl -resume audit.journal catalogue.jsonl
//	go run ./cmd/qcaudit                  # a sample catalogue against an embedded sandbox
//
// The input is CSV with a header row (listing_id, seller, title, gtin,
// uscc, brand, model, in any order; see audit.ReadCSV for the aliases),
// tab-separated values, or JSON Lines with the same names. Its format is
// told by the file's extension (.csv, .tsv, .jsonl, .ndjson) or by
// -in-format; without a file, or with -, it is read from stdin, as CSV
// unless -in-format says otherwise. The findings are CSV or JSON Lines,
// by -o's extension or -out-format, on stdout by default.
//
// Flags:
//
//	-o FILE            write the findings to FILE instead of stdout: to a
//	                   file beside it first, renamed into its place once
//	                   the audit is complete, so that a run that fails
//	                   leaves the previous findings as they were
//	-in-format F       csv, tsv or jsonl
//	-out-format F      csv or jsonl
//	-all               write every listing, the committed ones too
//	-strict            stop at the first malformed row (exit 2)
//	-only CODES        write only findings of these reason codes, comma-
//	                   separated: failed_inspection, revoked, suspended,
//	                   expired, not_covered, not_in_force,
//	                   maker_not_listed, no_answer, unreadable (and
//	                   committed, with -all)
//	-except CODES      write no findings of these reason codes
//	-since PREVIOUS    the previous audit's findings file (CSV or JSON
//	                   Lines; it may be -o itself): each finding is marked
//	                   new or unchanged in the status column, and the
//	                   previous findings this audit no longer has follow,
//	                   marked cleared; a finding's id (finding_id) is the
//	                   same from one audit to the next. Needs -o.
//	-rejects FILE      list the rows that could not be read in FILE, as
//	                   CSV: line, reason
//	-by-seller FILE    write per seller, as CSV, the findings by reason
//	                   code, the sellers with most first. Needs -o.
//	-bom               write a UTF-8 byte order mark before CSV, so that Excel
//	                   reads it as UTF-8; on by default when -o names a .csv
//	                   file, off on stdout (-bom=false turns it off)
//	-resume JOURNAL    keep a checkpoint journal and resume from it: a run
//	                   killed at any point, started again with the same
//	                   input, -o and -resume, carries on where it stopped
//	                   and leaves the output a run never interrupted would.
//	                   Needs -o: stdout cannot be cut back. Until the audit
//	                   completes the findings are in FILE.partial. The
//	                   journal records the input (path, size, SHA-256 read
//	                   as a stream; for stdin, the SHA-256 of the rows
//	                   done) and -in-format, -out-format, -all, -strict,
//	                   -bom, -only and -except: resuming with another is
//	                   exit 2, naming what differs. The journal is deleted once the audit
//	                   completes.
//	-api URL           the registry's API (QC_API_URL); the key comes from
//	                   QC_API_KEY or from the file -api-key-file names
//	                   (QC_API_KEY_FILE), never from a flag
//	-retries N         tries of a failed lookup after the first (default 3)
//	-max-wait D        how long to wait in all while the registry says it
//	                   is overloaded or down (default 1m; 0: never)
//	-watch INDEX       the change-driven audit: sync the SQLite file INDEX
//	                   to the catalogue (when one is named), learn the
//	                   makers of the products it has not looked up yet,
//	                   then follow the registry's change feed and write, as
//	                   a JSON line on stdout, a finding for every listing
//	                   each change touches (committed ones too, so that a
//	                   flag can be cleared), with the change's event_id,
//	                   event_seq, event_at and the finding's decided_at,
//	                   until stopped (exit 0)
//	-catalogue FILE    with -watch: the catalogue to sync the index to;
//	                   listings it no longer has are removed
//	-redis URL         with -watch, the fleet's Redis (QC_REDIS_URL): the
//	                   replicas share one watcher by the follower's lease
//
// Without -api or QC_API_URL the registry is an embedded sandbox, and
// without an input named the catalogue is a sample of the sandbox's
// products, with two malformed rows to show how they are reported; qcaudit
// says so on stderr. Name a file, or -, to audit it against the sandbox.
//
// Malformed rows are reported on stderr with their line numbers (the
// first 100; the summary counts them all) and skipped, unless -strict.
// A lookup that fails after the retries gives its listings verdict
// unknown, never a guess. Text from the catalogue or the registry is
// untrusted: the CSV output quotes every field and puts ' before every
// character that would start a formula where a spreadsheet splitting on
// commas, semicolons or tabs may start a cell (see audit.SafeCell), and
// control characters are escaped in what qcaudit prints on stderr, long
// text quoted and cut short.
//
// On stderr: a progress bar while stderr is a terminal, and a summary at
// the end (listings, products looked up, API calls, listings by verdict,
// unknown and failed lookups, malformed rows, findings written, time).
//
// Every finding has a verdict, a reason in words and a reason code: what
// a team filters and counts by. The output files (-o, -rejects,
// -by-seller) are written beside their names and renamed into place once
// the audit is complete.
//
// Exit status: 0 when no listing is flagged (with -only or -except, none
// of the codes written), 1 when some are (a verdict other than
// committed, unknown included), 2 when the audit could not be done or
// completed: a bad flag, an unreadable file, a header with no product key
// column (the columns found are listed), a malformed row under -strict,
// a journal written for another input, an output error or an
// interruption; the previous findings are then left as they were. qcaudit
// -h lists the flags, the reason codes, the exit statuses and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/audit/spill"
	"github.com/qualitycommit/qcsdk/client"
	"github.com/qualitycommit/qcsdk/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitClean   = 0 // nothing flagged
	exitFlagged = 1 // some listings flagged
	exitFailed  = 2 // the audit could not be done, or not to the end
)

// maxRowErrors is how many malformed rows are reported one by one.
const maxRowErrors = 100

// run audits as the binary would and returns its exit status.
func run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, env, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitClean
	}
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit:", err)
		return exitFailed
	}

	apiURL := cfg.apiURL
	var sample []byte
	if apiURL == "" {
		sb, err := sandbox.New()
		if err != nil {
			fmt.Fprintln(stderr, "qcaudit: the embedded sandbox:", err)
			return exitFailed
		}
		defer sb.Close()
		base, stop, err := sb.Start()
		if err != nil {
			fmt.Fprintln(stderr, "qcaudit: the embedded sandbox:", err)
			return exitFailed
		}
		defer stop()
		apiURL = base
		if cfg.input == "" {
			sample = sampleCatalogue(sb)
			fmt.Fprintln(stderr, "qcaudit: no -api or QC_API_URL: auditing a sample catalogue against an embedded sandbox (name a file, or - for stdin, to audit it instead)")
		} else {
			fmt.Fprintln(stderr, "qcaudit: no -api or QC_API_URL: auditing against an embedded sandbox, which knows only its own generated products")
		}
	}

	// The input.
	var in io.Reader
	size := int64(-1)
	switch {
	case sample != nil:
		in, size = bytesReader(sample), int64(len(sample))
	case cfg.input == "" || cfg.input == "-":
		in = stdin
	default:
		f, err := os.Open(cfg.input)
		if err != nil {
			fmt.Fprintln(stderr, "qcaudit:", safeText(err.Error()))
			return exitFailed
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}

	// A resumable run knows its input — its path, size and SHA-256 — and
	// the flags that shape its output, so that a journal is never resumed
	// on another.
	var ident *audit.Identity
	if cfg.resume != "" && cfg.output != "" {
		var err error
		if ident, err = identify(cfg, in); err != nil {
			fmt.Fprintln(stderr, "qcaudit: -resume: reading the input:", safeText(err.Error()))
			return exitFailed
		}
	}
	prog := newProgress(stderr, size)
	in = prog.reader(in)
	var listings = audit.ReadCSV(in, nil)
	switch cfg.inFormat {
	case "tsv":
		listings = audit.ReadCSV(in, &audit.ReadOptions{Comma: '\t'})
	case "jsonl":
		listings = audit.ReadJSONLines(in, nil)
	}

	// The output, and the checkpoint. Findings go to a file beside -o
	// that takes its place only once the audit is complete: a run that
	// fails leaves the previous findings as they were.
	opts := &audit.Options{All: cfg.all, Strict: cfg.strict, MaxPauseWait: cfg.maxWait}
	var out io.Writer = stdout
	var pending *pendingOutput
	if cfg.output != "" && cfg.watch == "" {
		var cp audit.Checkpoint
		if cfg.resume != "" {
			store := audit.FileCheckpoint{Path: cfg.resume, Identity: ident}
			var ok bool
			cp, ok, err = store.Load(func(audit.Answer) {})
			var ie *audit.IdentityError
			if errors.As(err, &ie) {
				fmt.Fprintf(stderr, "qcaudit: -resume: %s was written for another %s (%s there, %s now); run as then, or delete it to start the audit afresh\n",
					quoteText(cfg.resume), ie.What, quoteText(ie.Journal), quoteText(ie.Want))
				return exitFailed
			}
			if err != nil {
				fmt.Fprintln(stderr, "qcaudit: -resume:", safeText(err.Error()))
				return exitFailed
			}
			if ok {
				// OpenOutput would extend a file shorter than the
				// checkpoint with zeros: refuse instead.
				st, err := os.Stat(partialPath(cfg.output))
				if err != nil || st.Size() < cp.Offset {
					fmt.Fprintf(stderr, "qcaudit: -resume: %s holds less than the %d bytes %s says were written; delete %s to start the audit afresh\n",
						quoteText(partialPath(cfg.output)), cp.Offset, quoteText(cfg.resume), quoteText(cfg.resume))
					return exitFailed
				}
				fmt.Fprintf(stderr, "qcaudit: resuming from %s: %d rows done, %d findings written\n", quoteText(cfg.resume), cp.Position, cp.Summary.Findings)
			}
			opts.Checkpoint = store
		}
		pending, err = openPending(cfg.output, cfg.resume != "", cp)
		if err != nil {
			fmt.Fprintln(stderr, "qcaudit:", safeText(err.Error()))
			return exitFailed
		}
		defer pending.discard()
		out = pending.f
	}
	var w audit.ResumableWriter
	if cfg.outFormat == "jsonl" {
		w = audit.NewJSONLinesWriter(out)
	} else {
		w = audit.NewCSVWriter(out, cfg.bom)
	}
	if pending != nil && cfg.resume != "" {
		// A checkpoint must not run ahead of what is on disk.
		w = syncWriter{w, pending.f}
	}

	// Rows that could not be read: on stderr, the first 100, and every
	// one in the -rejects file, which takes its place as the findings do.
	var rejects *rejectsFile
	if cfg.rejects != "" && cfg.watch == "" {
		if rejects, err = openRejects(cfg.rejects); err != nil {
			fmt.Fprintln(stderr, "qcaudit: -rejects:", safeText(err.Error()))
			return exitFailed
		}
		defer rejects.discard()
	}
	if cfg.only != nil || len(cfg.except) > 0 {
		opts.Select = func(f audit.Finding) bool { return cfg.selects(f.Code) }
	}
	rowErrors := 0
	opts.OnRowError = func(re *audit.RowError) {
		if rejects != nil {
			rejects.add(re)
		}
		if rowErrors++; rowErrors <= maxRowErrors {
			prog.println(stderr, "qcaudit: skipped: "+safeText(rowErrorText(re)))
		} else if rowErrors == maxRowErrors+1 {
			prog.println(stderr, fmt.Sprintf("qcaudit: more than %d malformed rows: the rest are counted, not shown", maxRowErrors))
		}
	}

	api, err := client.New(client.WithBaseURL(apiURL), client.WithAPIKey(cfg.apiKey), client.WithUserAgent("qcaudit"),
		client.WithRetryPolicy(retryPolicy(cfg.retries)))
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit:", err)
		return exitFailed
	}
	defer api.CloseIdleConnections()

	if cfg.watch != "" {
		if sample == nil && cfg.input == "" {
			listings = nil // the index alone
		}
		code := runWatch(ctx, cfg, api, listings, stdout, stderr)
		prog.finish()
		return code
	}
	// Answers past the memory bound go to a scratch file: each product
	// is looked up once whatever the catalogue's size.
	answers, err := spill.New("")
	if err != nil {
		fmt.Fprintln(stderr, "qcaudit:", safeText(err.Error()))
		return exitFailed
	}
	defer answers.Close()
	opts.Answers = answers
	sum, err := audit.Run(ctx, api, listings, w, opts)
	prog.finish()
	var since audit.SinceSummary
	if pending != nil && err == nil && cfg.since != "" {
		since, err = pending.since(cfg)
	}
	if pending != nil && err == nil {
		err = pending.commit()
	}
	if rejects != nil && err == nil {
		err = rejects.commit()
	}
	if cfg.bySeller != "" && err == nil {
		err = writeBySeller(cfg)
	}

	var he *audit.HeaderError
	if errors.As(err, &he) {
		fmt.Fprintln(stderr, headerMessage(he))
		return exitFailed
	}
	printSummary(stderr, sum)
	var re *audit.RowError
	var ice *audit.InputChangedError
	switch {
	case err == nil:
	case errors.As(err, &ice):
		fmt.Fprintf(stderr, "qcaudit: -resume: %s was written for another input: the SHA-256 of its first %d rows differs; run with the same input, or delete it to start the audit afresh\n",
			quoteText(cfg.resume), ice.Items)
		return exitFailed
	case errors.As(err, &re):
		fmt.Fprintf(stderr, "qcaudit: stopped at a malformed row (-strict): %s\n", safeText(rowErrorText(re)))
		return exitFailed
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		switch {
		case cfg.resume != "":
			fmt.Fprintf(stderr, "qcaudit: interrupted; run the same command again to resume from %s\n", quoteText(cfg.resume))
		case cfg.output != "":
			fmt.Fprintf(stderr, "qcaudit: interrupted; %s is as it was (-resume keeps a checkpoint)\n", quoteText(cfg.output))
		default:
			fmt.Fprintln(stderr, "qcaudit: interrupted; the findings are incomplete (-resume keeps a checkpoint)")
		}
		return exitFailed
	default:
		fmt.Fprintln(stderr, "qcaudit:", safeText(err.Error()))
		return exitFailed
	}
	if cfg.resume != "" && err == nil {
		if err := os.Remove(cfg.resume); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(stderr, "qcaudit: the audit is complete, but its journal stays:", err)
		}
	}
	if cfg.since != "" {
		fmt.Fprintf(stderr, "qcaudit: since %s: %s new, %s unchanged, %s cleared\n", quoteText(cfg.since),
			group(int64(since.New)), group(int64(since.Unchanged)), group(int64(since.Cleared)))
	}
	for code, n := range sum.Codes {
		if code != audit.CodeCommitted && n > 0 && cfg.selects(code) {
			return exitFlagged
		}
	}
	return exitClean
}

// headerMessage says what a header with no product key column lacks,
// and the columns it has, quoted and cut short: a header line of
// megabytes is described, not echoed.
func headerMessage(he *audit.HeaderError) string {
	return "qcaudit: the header names no product key column: it needs gtin (or ean, barcode…), or uscc and brand; the columns found are: " +
		safeText(quoteList(he.Found))
}

// retryPolicy is the client's default policy with n retries.
func retryPolicy(n int) client.RetryPolicy {
	p := client.DefaultRetryPolicy()
	p.MaxRetries = n
	return p
}

// syncWriter syncs the output file after each flush, so that the
// checkpoint saved after it never points past what a crash of the machine
// leaves on disk.
type syncWriter struct {
	audit.ResumableWriter
	f *os.File
}

func (w syncWriter) Flush() error {
	if err := w.ResumableWriter.Flush(); err != nil {
		return err
	}
	return w.f.Sync()
}
