// Package audit checks a platform's catalogue against the quality
// commitment registry: listings in, findings out.
//
// A listing is the platform's own id, the seller, the title and a product
// key (a GTIN, or the maker's USCC with brand and model); [ReadCSV] and
// [ReadJSONLines] stream them from an export, reporting each row they
// cannot read as a [*RowError] with its line and reading on. [Run] looks
// the keys up in batches of at most 100 at client.PriorityLow, so that
// the platform's own pages keep their share of the quota, decides each
// listing with client.Decide, and writes a [Finding] — the verdict, the
// reason in words and as a [ReasonCode], the record ids and the official
// link — for each listing whose verdict is not committed, in input order.
// Options.Select keeps only the findings a team acts on.
//
// # Parameters
//
// The package follows the SDK's conventions. Run is a call, not a
// constructor: its parameters are a struct, [Options], passed by pointer
// with nil for the defaults, as go-github's ListOptions are, because a
// platform builds them for each audit (Select for one team, Checkpoint for
// one journal) and reads them as data; the readers take [*ReadOptions]
// the same way. Each zero or nil field is the default — a nil Clock is
// time.Now — and Run returns an error for a value out of range, or for a
// nil client or writer, before it reads a listing. Package audit/watch's
// constructor, New, takes functional options instead.
//
// # From one audit to the next
//
// A finding has a stable id ([Finding.ID]): the same listing, product key
// and reason code give the same id in every audit. [Since] reads the
// previous audit's findings and this one's back ([ReadFindings]) and
// marks each new or unchanged, adding the previous ones since cleared.
//
//	sum, err := audit.Run(ctx, api, audit.ReadCSV(f, nil), audit.NewCSVWriter(out, true), nil)
//
// # Bounded memory
//
// Run reads a window of listings at a time: one that holds 100 keys not
// answered yet, or 50,000 listings (Options.MaxWindow). It holds up to
// 100,000 answers in memory (Options.MaxKeys), the least recently used
// moved out first: to Options.Answers when set — [AnswerStore]; package
// audit/spill keeps them in a scratch file on disk — so that each
// distinct key is looked up once at any size; else forgotten, and
// looked up again, at the cost of a call, if the key comes again.
// Nothing else grows with the catalogue.
//
// # Never a guess
//
// A lookup that fails after the client's retries gives its listings
// verdict unknown, with the error as the reason; the Summary counts them
// (Unknown, LookupFailed). Run waits for the client's upstream limiter,
// which refuses low-priority calls rather than queue them, and waits out
// the client's pause after a 429 or 503 for at most a minute in all
// (Options.MaxPauseWait).
//
// # Resuming
//
// With Options.Checkpoint, after each window's findings are written and
// flushed Run saves a [Checkpoint]: how many input items it consumed, how
// many bytes of output it had written, its counts, and the answers the
// window looked up. A run killed at any point resumes from the last one:
// [OpenOutput] cuts the output back to the checkpoint's offset, Run skips
// the items consumed and appends. The output is then byte for byte that
// of a run never interrupted, and at most one window's lookup is
// repeated. [FileCheckpoint] keeps checkpoints in a journal file.
//
// A checkpoint knows its input: it holds the SHA-256 of the items
// consumed (Checkpoint.Digest), which the resumed run computes again as
// it skips them, stopping with an [*InputChangedError] before writing
// anything if they differ; and a FileCheckpoint given an [Identity] —
// the input's path, size and SHA-256, and the settings that shape the
// output — refuses a journal written for another with an
// [*IdentityError] naming the difference.
//
// # Spreadsheet-safe output
//
// [NewCSVWriter] writes UTF-8, with a byte order mark if asked, quotes
// every field, and puts a single quote before every character that would
// start a formula (=, +, -, @, tab, CR, LF, NUL and the full-width ＝＋－＠,
// after any spaces) where a cell may start: at the cell's start, and —
// for a spreadsheet that splits rows on semicolons, as Excel does in
// many locales, or on tabs — after a comma, semicolon, tab or line break
// inside it ([SafeCell]). Listing titles and registry text are
// untrusted, and a spreadsheet would run them as formulas (CSV
// injection). [NewJSONLinesWriter] writes one JSON object per finding.
package audit
