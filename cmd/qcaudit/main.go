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
	"iter"
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
	j := &job{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr}
	defer j.close()
	code, err := j.run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	return code
}

// job is one run of the command: its configuration, its streams, and what
// to undo when it ends.
type job struct {
	cfg            *config
	stdin          io.Reader
	stdout, stderr io.Writer
	undo           []func() // run by close, the last added first
}

// failure is a reason the audit could not start, worded in full for
// stderr: run prints it and exits 2.
type failure string

func (f failure) Error() string { return string(f) }

func failf(format string, args ...any) error { return failure(fmt.Sprintf(format, args...)) }

// later has close call f.
func (j *job) later(f func()) { j.undo = append(j.undo, f) }

func (j *job) close() {
	for i := len(j.undo) - 1; i >= 0; i-- {
		j.undo[i]()
	}
}

// run sets the audit up step by step, runs it (or the watch) and reports
// it. Its error is a failure to set up; an audit that fails is reported
// and has exit status 2.
func (j *job) run(ctx context.Context) (int, error) {
	apiURL, sample, err := j.registry()
	if err != nil {
		return 0, err
	}
	in, size, err := j.input(sample)
	if err != nil {
		return 0, err
	}
	ident, err := j.identity(in)
	if err != nil {
		return 0, err
	}
	prog := newProgress(j.stderr, size)
	listings := readListings(j.cfg, prog.reader(in))
	opts := &audit.Options{All: j.cfg.all, Strict: j.cfg.strict, MaxPauseWait: j.cfg.maxWait}
	w, pending, err := j.output(ident, opts)
	if err != nil {
		return 0, err
	}
	rejects, err := j.rejects()
	if err != nil {
		return 0, err
	}
	j.selectAndReportRows(opts, rejects, prog)
	api, err := j.newAPI(apiURL)
	if err != nil {
		return 0, err
	}
	if j.cfg.watch != "" {
		if sample == nil && j.cfg.input == "" {
			listings = nil // the index alone
		}
		code := runWatch(ctx, j.cfg, api, listings, j.stdout, j.stderr)
		prog.finish()
		return code, nil
	}
	if err := j.spillAnswers(opts); err != nil {
		return 0, err
	}
	sum, err := audit.Run(ctx, api, listings, w, opts)
	prog.finish()
	since, err := j.complete(pending, rejects, err)
	return j.report(ctx, sum, since, err), nil
}

// registry is the registry's API URL: -api's, or without one an embedded
// sandbox's, with a sample catalogue of its products when no input is
// named.
func (j *job) registry() (apiURL string, sample []byte, err error) {
	if j.cfg.apiURL != "" {
		return j.cfg.apiURL, nil, nil
	}
	sb, err := sandbox.New()
	if err != nil {
		return "", nil, failf("qcaudit: the embedded sandbox: %v", err)
	}
	j.later(func() { sb.Close() })
	base, stop, err := sb.Start()
	if err != nil {
		return "", nil, failf("qcaudit: the embedded sandbox: %v", err)
	}
	j.later(stop)
	if j.cfg.input == "" {
		sample = sampleCatalogue(sb)
		fmt.Fprintln(j.stderr, "qcaudit: no -api or QC_API_URL: auditing a sample catalogue against an embedded sandbox (name a file, or - for stdin, to audit it instead)")
	} else {
		fmt.Fprintln(j.stderr, "qcaudit: no -api or QC_API_URL: auditing against an embedded sandbox, which knows only its own generated products")
	}
	return base, sample, nil
}

// input is the catalogue to read — the sample, stdin or the file named —
// and its size in bytes when known (-1 when not), for the progress bar.
func (j *job) input(sample []byte) (io.Reader, int64, error) {
	switch {
	case sample != nil:
		return bytesReader(sample), int64(len(sample)), nil
	case j.cfg.input == "" || j.cfg.input == "-":
		return j.stdin, -1, nil
	}
	f, err := os.Open(j.cfg.input)
	if err != nil {
		return nil, 0, failf("qcaudit: %s", safeText(err.Error()))
	}
	j.later(func() { f.Close() })
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, nil
}

// identity is what a resumable run knows of its input — its path, size
// and SHA-256 — and of the flags that shape its output, so that a journal
// is never resumed on another; nil when the run keeps no journal.
func (j *job) identity(in io.Reader) (*audit.Identity, error) {
	if j.cfg.resume == "" || j.cfg.output == "" {
		return nil, nil
	}
	ident, err := identify(j.cfg, in)
	if err != nil {
		return nil, failf("qcaudit: -resume: reading the input: %s", safeText(err.Error()))
	}
	return ident, nil
}

// readListings reads the catalogue in -in-format.
func readListings(cfg *config, in io.Reader) iter.Seq2[audit.Listing, error] {
	switch cfg.inFormat {
	case "tsv":
		return audit.ReadCSV(in, &audit.ReadOptions{Comma: '\t'})
	case "jsonl":
		return audit.ReadJSONLines(in, nil)
	}
	return audit.ReadCSV(in, nil)
}

// output is where the findings go, in -out-format: stdout, or with -o a
// file beside it that takes its place only once the audit is complete,
// so that a run that fails leaves the previous findings as they were.
// With -resume it carries on from the journal's checkpoint, which opts
// then keeps.
func (j *job) output(ident *audit.Identity, opts *audit.Options) (audit.ResumableWriter, *pendingOutput, error) {
	out := j.stdout
	var pending *pendingOutput
	if j.cfg.output != "" && j.cfg.watch == "" {
		cp, err := j.checkpoint(ident, opts)
		if err != nil {
			return nil, nil, err
		}
		if pending, err = openPending(j.cfg.output, j.cfg.resume != "", cp); err != nil {
			return nil, nil, failf("qcaudit: %s", safeText(err.Error()))
		}
		j.later(pending.discard)
		out = pending.f
	}
	var w audit.ResumableWriter
	if j.cfg.outFormat == "jsonl" {
		w = audit.NewJSONLinesWriter(out)
	} else {
		w = audit.NewCSVWriter(out, j.cfg.bom)
	}
	if pending != nil && j.cfg.resume != "" {
		// A checkpoint must not run ahead of what is on disk.
		w = syncWriter{w, pending.f}
	}
	return w, pending, nil
}

// checkpoint is where -resume's journal says the audit stopped (the zero
// Checkpoint without -resume, or with a journal not yet written), and
// has opts keep the journal.
func (j *job) checkpoint(ident *audit.Identity, opts *audit.Options) (audit.Checkpoint, error) {
	if j.cfg.resume == "" {
		return audit.Checkpoint{}, nil
	}
	store := audit.FileCheckpoint{Path: j.cfg.resume, Identity: ident}
	cp, ok, err := store.Load(func(audit.Answer) {})
	var ie *audit.IdentityError
	if errors.As(err, &ie) {
		return cp, failf("qcaudit: -resume: %s was written for another %s (%s there, %s now); run as then, or delete it to start the audit afresh",
			quoteText(j.cfg.resume), ie.What, quoteText(ie.Journal), quoteText(ie.Want))
	}
	if err != nil {
		return cp, failf("qcaudit: -resume: %s", safeText(err.Error()))
	}
	if ok {
		// OpenOutput would extend a file shorter than the checkpoint
		// with zeros: refuse instead.
		partial := partialPath(j.cfg.output)
		st, err := os.Stat(partial)
		if err != nil || st.Size() < cp.Offset {
			return cp, failf("qcaudit: -resume: %s holds less than the %d bytes %s says were written; delete %s to start the audit afresh",
				quoteText(partial), cp.Offset, quoteText(j.cfg.resume), quoteText(j.cfg.resume))
		}
		fmt.Fprintf(j.stderr, "qcaudit: resuming from %s: %d rows done, %d findings written\n", quoteText(j.cfg.resume), cp.Position, cp.Summary.Findings)
	}
	opts.Checkpoint = store
	return cp, nil
}

// rejects is the -rejects file, which lists every row that could not be
// read and takes its place as the findings do; nil without -rejects.
func (j *job) rejects() (*rejectsFile, error) {
	if j.cfg.rejects == "" || j.cfg.watch != "" {
		return nil, nil
	}
	rejects, err := openRejects(j.cfg.rejects)
	if err != nil {
		return nil, failf("qcaudit: -rejects: %s", safeText(err.Error()))
	}
	j.later(rejects.discard)
	return rejects, nil
}

// selectAndReportRows has opts write only the findings of -only and
// -except, and report the rows that could not be read: on stderr the
// first 100, and every one in rejects.
func (j *job) selectAndReportRows(opts *audit.Options, rejects *rejectsFile, prog *progress) {
	if j.cfg.only != nil || len(j.cfg.except) > 0 {
		opts.Select = func(f audit.Finding) bool { return j.cfg.selects(f.Code) }
	}
	rowErrors := 0
	opts.OnRowError = func(re *audit.RowError) {
		if rejects != nil {
			rejects.add(re)
		}
		if rowErrors++; rowErrors <= maxRowErrors {
			prog.println(j.stderr, "qcaudit: skipped: "+safeText(rowErrorText(re)))
		} else if rowErrors == maxRowErrors+1 {
			prog.println(j.stderr, fmt.Sprintf("qcaudit: more than %d malformed rows: the rest are counted, not shown", maxRowErrors))
		}
	}
}

// newAPI is the registry's client, with -retries.
func (j *job) newAPI(apiURL string) (*client.Client, error) {
	api, err := client.New(client.WithBaseURL(apiURL), client.WithAPIKey(j.cfg.apiKey), client.WithUserAgent("qcaudit"),
		client.WithRetryPolicy(retryPolicy(j.cfg.retries)))
	if err != nil {
		return nil, failf("qcaudit: %v", err)
	}
	j.later(api.CloseIdleConnections)
	return api, nil
}

// spillAnswers has the answers past the memory bound go to a scratch
// file: each product is looked up once whatever the catalogue's size.
func (j *job) spillAnswers(opts *audit.Options) error {
	answers, err := spill.New("")
	if err != nil {
		return failf("qcaudit: %s", safeText(err.Error()))
	}
	j.later(func() { answers.Close() })
	opts.Answers = answers
	return nil
}

// complete puts an audit that ran without err in its place: the findings
// marked against -since, then the -o, -rejects and -by-seller files. It
// returns the first error, err included.
func (j *job) complete(pending *pendingOutput, rejects *rejectsFile, err error) (audit.SinceSummary, error) {
	var since audit.SinceSummary
	if pending != nil && err == nil && j.cfg.since != "" {
		since, err = pending.since(j.cfg)
	}
	if pending != nil && err == nil {
		err = pending.commit()
	}
	if rejects != nil && err == nil {
		err = rejects.commit()
	}
	if j.cfg.bySeller != "" && err == nil {
		err = writeBySeller(j.cfg)
	}
	return since, err
}

// report tells on stderr how the audit ended, and returns its exit
// status: 2 if err, else 1 if a listing is flagged, else 0.
func (j *job) report(ctx context.Context, sum audit.Summary, since audit.SinceSummary, err error) int {
	var he *audit.HeaderError
	if errors.As(err, &he) {
		fmt.Fprintln(j.stderr, headerMessage(he))
		return exitFailed
	}
	printSummary(j.stderr, sum)
	if err != nil {
		fmt.Fprintln(j.stderr, j.failedMessage(ctx, err))
		return exitFailed
	}
	if j.cfg.resume != "" {
		if err := os.Remove(j.cfg.resume); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(j.stderr, "qcaudit: the audit is complete, but its journal stays:", err)
		}
	}
	if j.cfg.since != "" {
		fmt.Fprintf(j.stderr, "qcaudit: since %s: %s new, %s unchanged, %s cleared\n", quoteText(j.cfg.since),
			group(int64(since.New)), group(int64(since.Unchanged)), group(int64(since.Cleared)))
	}
	for code, n := range sum.Codes {
		if code != audit.CodeCommitted && n > 0 && j.cfg.selects(code) {
			return exitFlagged
		}
	}
	return exitClean
}

// failedMessage says why an audit that started did not complete.
func (j *job) failedMessage(ctx context.Context, err error) string {
	var re *audit.RowError
	var ice *audit.InputChangedError
	switch {
	case errors.As(err, &ice):
		return fmt.Sprintf("qcaudit: -resume: %s was written for another input: the SHA-256 of its first %d rows differs; run with the same input, or delete it to start the audit afresh",
			quoteText(j.cfg.resume), ice.Items)
	case errors.As(err, &re):
		return "qcaudit: stopped at a malformed row (-strict): " + safeText(rowErrorText(re))
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		switch {
		case j.cfg.resume != "":
			return fmt.Sprintf("qcaudit: interrupted; run the same command again to resume from %s", quoteText(j.cfg.resume))
		case j.cfg.output != "":
			return fmt.Sprintf("qcaudit: interrupted; %s is as it was (-resume keeps a checkpoint)", quoteText(j.cfg.output))
		default:
			return "qcaudit: interrupted; the findings are incomplete (-resume keeps a checkpoint)"
		}
	default:
		return "qcaudit: " + safeText(err.Error())
	}
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
