package audit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"os"
	"path/filepath"
	"testing"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
)

// cancelAfter yields from seq and cancels the run's context once n items
// have been taken: a kill in the middle of a window.
func cancelAfter(seq iter.Seq2[audit.Listing, error], n int, cancel context.CancelFunc) iter.Seq2[audit.Listing, error] {
	return func(yield func(audit.Listing, error) bool) {
		i := 0
		for l, err := range seq {
			if i++; i == n {
				cancel()
			}
			if !yield(l, err) {
				return
			}
		}
	}
}

// fullRun is the output of a run never interrupted, and its calls.
func fullRun(t *testing.T, e *env, c catalogue) ([]byte, int64) {
	t.Helper()
	var out bytes.Buffer
	before := e.srv.Requests(batchRoute)
	w := audit.NewCSVWriter(&out, true)
	if _, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil), w, &audit.Options{Clock: now}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), e.srv.Requests(batchRoute) - before
}

// A run killed halfway, then resumed from its checkpoint, writes exactly
// what an uninterrupted run writes, and repeats at most one window's call.
func TestRunResumesAfterCancelWithoutLossOrDuplicate(t *testing.T) {
	e := newEnv(t)
	c := makeCatalogue(t, e.keys(t, 450), 2000, 90)
	want, wantCalls := fullRun(t, e, c)

	before := e.srv.Requests(batchRoute)
	var out bytes.Buffer
	cp := &memCheckpoint{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := audit.Run(ctx, e.api, cancelAfter(audit.ReadCSV(bytes.NewReader(c.csv), nil), 1000, cancel),
		audit.NewCSVWriter(&out, true), &audit.Options{Clock: now, Checkpoint: cp})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: err = %v, want context.Canceled", err)
	}
	if !cp.ok || cp.cp.Position == 0 || cp.cp.Position >= int64(len(c.listings)) {
		t.Fatalf("checkpoint %+v: want one halfway", cp.cp)
	}

	out.Truncate(int(cp.cp.Offset))
	sum, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil),
		audit.NewCSVWriter(&out, true), &audit.Options{Clock: now, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("resumed output differs from an uninterrupted run's:\n%s\nwant:\n%s", out.Bytes(), want)
	}
	if calls := e.srv.Requests(batchRoute) - before; calls > wantCalls+1 {
		t.Errorf("%d calls over both runs, want at most %d", calls, wantCalls+1)
	}
	if sum.Listings != len(c.listings) || sum.Malformed != len(c.bad) || sum.Keys < 450 || sum.Keys > 550 {
		t.Errorf("summary of the resumed audit %+v", sum)
	}
}

// failAfter passes at most n bytes to w, then fails: a crash in the
// middle of a write, leaving a torn row in the file.
type failAfter struct {
	w io.Writer
	n int
}

var errCrash = errors.New("crash")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return f.w.Write(p)
	}
	k, _ := f.w.Write(p[:f.n])
	f.n = 0
	return k, errCrash
}

// A run that dies while writing, leaving half a row in the file, resumes
// from a FileCheckpoint: OpenOutput cuts the torn window off, and the file
// ends as an uninterrupted run's, in JSON Lines as in CSV.
func TestRunResumesFromFilesAfterATornWrite(t *testing.T) {
	e := newEnv(t)
	c := makeCatalogue(t, e.keys(t, 450), 2000, 0)
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			newWriter := func(w io.Writer) audit.FindingWriter {
				if format == "csv" {
					return audit.NewCSVWriter(w, false)
				}
				return audit.NewJSONLinesWriter(w)
			}
			var want bytes.Buffer
			if _, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil), newWriter(&want), &audit.Options{Clock: now}); err != nil {
				t.Fatal(err)
			}

			dir := t.TempDir()
			outPath := filepath.Join(dir, "findings."+format)
			store := audit.FileCheckpoint{Path: filepath.Join(dir, "checkpoint.jsonl")}
			f, err := audit.OpenOutput(outPath, audit.Checkpoint{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil),
				newWriter(&failAfter{w: f, n: want.Len() / 2}), &audit.Options{Clock: now, Checkpoint: store})
			f.Close()
			if !errors.Is(err, errCrash) {
				t.Fatalf("first run: err = %v, want the crash", err)
			}

			cp, ok, err := store.Load(func(audit.Answer) {})
			if err != nil || !ok {
				t.Fatalf("checkpoint: %v, %v", ok, err)
			}
			f, err = audit.OpenOutput(outPath, cp)
			if err != nil {
				t.Fatal(err)
			}
			before := e.srv.Requests(batchRoute)
			sum, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(c.csv), nil),
				newWriter(f), &audit.Options{Clock: now, Checkpoint: store})
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("resumed file differs from an uninterrupted run's output")
			}
			// The answers in the journal spare the keys already looked up:
			// the resumed run looks up only what was left.
			remaining := 450 - (cp.Summary.Keys)
			if calls := e.srv.Requests(batchRoute) - before; calls > int64((remaining+99)/100)+1 {
				t.Errorf("resumed run made %d calls for %d keys left", calls, remaining)
			}
			if sum.Findings != int64(len(e.expected(t, c, false))) || sum.Verdicts[client.VerdictUnknown] != 0 {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// A checkpoint line a crash cut off is ignored, and the next save does not
// append to it.
func TestFileCheckpointIgnoresATornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.jsonl")
	store := audit.FileCheckpoint{Path: path}
	if _, ok, err := store.Load(func(audit.Answer) {}); ok || err != nil {
		t.Fatalf("no file: ok %v, err %v", ok, err)
	}
	a := audit.Answer{Key: client.ProductKey{GTIN: "06901234567892"}, Verdict: client.VerdictCommitted, Reason: "r"}
	if err := store.Save(audit.Checkpoint{Position: 100, Offset: 10}, []audit.Answer{a}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"position":200,"offs`)
	f.Close()
	var answers []audit.Answer
	cp, ok, err := store.Load(func(a audit.Answer) { answers = append(answers, a) })
	if err != nil || !ok || cp.Position != 100 || len(answers) != 1 || answers[0] != a {
		t.Fatalf("load after a torn line: %+v %v %v %v", cp, ok, err, answers)
	}
	if err := store.Save(audit.Checkpoint{Position: 300, Offset: 30}, nil); err != nil {
		t.Fatal(err)
	}
	cp, ok, err = store.Load(func(audit.Answer) {})
	if err != nil || !ok || cp.Position != 300 {
		t.Fatalf("load after the next save: %+v %v %v", cp, ok, err)
	}
}

// A run resumed on another input — a row among those done changed, or an
// input shorter than the checkpoint — stops with *InputChangedError
// before it writes a finding or saves a checkpoint.
func TestResumeOnAnotherInputStops(t *testing.T) {
	e := newEnv(t)
	c := makeCatalogue(t, e.keys(t, 300), 1500, 0)
	cp := &memCheckpoint{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	_, err := audit.Run(ctx, e.api, cancelAfter(audit.ReadCSV(bytes.NewReader(c.csv), nil), 800, cancel),
		audit.NewCSVWriter(&out, false), &audit.Options{Clock: now, Checkpoint: cp})
	if !errors.Is(err, context.Canceled) || !cp.ok || cp.cp.Position < 100 || cp.cp.Digest == "" {
		t.Fatalf("first run: %v, checkpoint %+v", err, cp.cp)
	}
	saves := cp.saves
	edited := bytes.Replace(c.csv, []byte("L00007"), []byte("L00007x"), 1)
	for name, in := range map[string][]byte{"edited": edited, "shorter": c.csv[:len(c.csv)/20]} {
		var out bytes.Buffer
		_, err := audit.Run(context.Background(), e.api, audit.ReadCSV(bytes.NewReader(in), nil),
			audit.NewCSVWriter(&out, false), &audit.Options{Clock: now, Checkpoint: cp})
		var ice *audit.InputChangedError
		if !errors.As(err, &ice) {
			t.Fatalf("%s: err = %v, want *InputChangedError", name, err)
		}
		if out.Len() != 0 || cp.saves != saves {
			t.Fatalf("%s: wrote %d bytes, saved %d checkpoints", name, out.Len(), cp.saves-saves)
		}
	}
}

// A FileCheckpoint with an Identity refuses a journal written for another
// input or other settings, naming the first difference.
func TestFileCheckpointIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	id := audit.Identity{Input: "/data/catalogue.csv", Size: 10, SHA256: "aa", Settings: map[string]string{"-all": "false"}}
	if err := (audit.FileCheckpoint{Path: path, Identity: &id}).Save(audit.Checkpoint{Position: 3}, nil); err != nil {
		t.Fatal(err)
	}
	for what, other := range map[string]audit.Identity{
		"input":   {Input: "/data/other.csv", Size: 10, SHA256: "aa", Settings: id.Settings},
		"size":    {Input: id.Input, Size: 11, SHA256: "aa", Settings: id.Settings},
		"SHA-256": {Input: id.Input, Size: 10, SHA256: "bb", Settings: id.Settings},
		"-all":    {Input: id.Input, Size: 10, SHA256: "aa", Settings: map[string]string{"-all": "true"}},
	} {
		_, _, err := audit.FileCheckpoint{Path: path, Identity: &other}.Load(func(audit.Answer) {})
		var ie *audit.IdentityError
		if !errors.As(err, &ie) || ie.What != what {
			t.Errorf("%s differs: err = %v", what, err)
		}
	}
	cp, ok, err := audit.FileCheckpoint{Path: path, Identity: &id}.Load(func(audit.Answer) {})
	if err != nil || !ok || cp.Position != 3 {
		t.Fatalf("the same identity: %+v, %v, %v", cp, ok, err)
	}
}
