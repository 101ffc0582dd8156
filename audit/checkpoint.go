package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
)

// Checkpoint is how far a run got: saved after each window's findings are
// written and flushed, so that a run killed at any moment can resume from
// the last one, repeating at most the window it was in.
type Checkpoint struct {
	// Position is how many items of the input — listings and rows
	// skipped — the run had consumed. A resumed run skips as many: the
	// input must be the same, in the same order.
	Position int64 `json:"position"`
	// Digest is the SHA-256, in hex, of the Position items consumed, as
	// read: a resumed run computes it again while it skips them, and
	// stops with an *InputChangedError if the input is not the same.
	Digest string `json:"digest,omitempty"`
	// Offset is how many bytes of output had been written and flushed,
	// when the writer is a ResumableWriter (else zero). On resume, cut the
	// output back to it before appending (see OpenOutput): whatever a
	// killed run wrote past it belongs to the window it will repeat.
	Offset int64 `json:"offset"`
	// Summary is the counts so far; Summary.Findings is the findings
	// written up to Offset.
	Summary Summary `json:"summary"`
}

// InputChangedError is a run resumed on an input whose first items are
// not those the checkpoint was saved after: another catalogue, or the
// same one edited. Nothing was written.
type InputChangedError struct {
	Items int64 // the items compared
}

func (e *InputChangedError) Error() string {
	return fmt.Sprintf("audit: the input is not the one the checkpoint was saved for: its first %d rows differ (SHA-256), or it has no more", e.Items)
}

// digest hashes the items a run consumes, one record per item, so that
// a resume can tell the same input from another.
type digest struct {
	h   hash.Hash
	buf []byte
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) item(l Listing, err error) {
	b := d.buf[:0]
	if err != nil {
		b = append(append(b, 'E'), err.Error()...)
	} else {
		b = strconv.AppendInt(append(b, 'L'), int64(l.Line), 10)
		for _, f := range []string{l.ID, l.Seller, l.Title, string(l.Key.GTIN), string(l.Key.USCC), l.Key.Brand, l.Key.Model} {
			b = strconv.AppendInt(append(b, 0), int64(len(f)), 10)
			b = append(append(b, ':'), f...)
		}
	}
	b = append(b, '\n')
	d.h.Write(b)
	d.buf = b
}

func (d *digest) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// CheckpointStore keeps a run's checkpoints and the answers it looked up,
// so that a resumed run neither loses nor duplicates a finding, and looks
// up again only the keys of the window it repeats.
type CheckpointStore interface {
	// Load returns the last checkpoint saved, with ok false when there is
	// none, and calls answer with each answer saved with it or before, in
	// the order saved.
	Load(answer func(Answer)) (cp Checkpoint, ok bool, err error)
	// Save records a checkpoint and the answers looked up since the last
	// one. When it returns nil, the checkpoint must survive a crash.
	Save(cp Checkpoint, answers []Answer) error
}

// FileCheckpoint is a CheckpointStore in one file: a journal of JSON
// lines, one per Save, each holding the checkpoint and that window's
// answers, appended and synced. A crash in the middle of an append leaves
// a last line without its newline, which Load ignores, so the checkpoint
// before it stands. The file grows with the distinct keys of the
// catalogue (about 300 bytes each); delete it when the audit is done.
//
// With Identity set, every line records it, and Load refuses a journal
// written for another input or other flags with an *IdentityError: a run
// resumed on another catalogue would skip rows it never audited and mix
// two outputs in one.
type FileCheckpoint struct {
	Path     string
	Identity *Identity
}

// Identity is what a run's output depends on besides the registry: its
// input — where it was read from, its size and its SHA-256, read as a
// stream — and the settings that shape the output, by name.
type Identity struct {
	Input    string            `json:"input"`
	Size     int64             `json:"size"`
	SHA256   string            `json:"sha256"`
	Settings map[string]string `json:"settings,omitempty"`
}

// IdentityError is a journal written for another input or other
// settings than the run that would resume from it. What names the first
// difference: "input", "size", "SHA-256", or a setting's name.
type IdentityError struct {
	Path          string // the journal
	What          string
	Journal, Want string // the journal's value, and the run's
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("%s was written for another %s: %q there, %q now", e.Path, e.What, e.Journal, e.Want)
}

// differs is the first difference between the identity a journal recorded
// (nil: none) and the run's, as an *IdentityError, or nil.
func (f FileCheckpoint) differs(got *Identity) error {
	want := f.Identity
	if want == nil {
		return nil
	}
	if got == nil {
		return &IdentityError{Path: f.Path, What: "input", Journal: "(not recorded)", Want: want.Input}
	}
	mismatch := func(what, j, w string) error {
		return &IdentityError{Path: f.Path, What: what, Journal: j, Want: w}
	}
	switch {
	case got.Input != want.Input:
		return mismatch("input", got.Input, want.Input)
	case got.Size != want.Size:
		return mismatch("size", strconv.FormatInt(got.Size, 10), strconv.FormatInt(want.Size, 10))
	case got.SHA256 != want.SHA256:
		return mismatch("SHA-256", got.SHA256, want.SHA256)
	}
	names := slices.Sorted(maps.Keys(want.Settings))
	for n := range got.Settings {
		if _, ok := want.Settings[n]; !ok {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if got.Settings[n] != want.Settings[n] {
			return mismatch(n, got.Settings[n], want.Settings[n])
		}
	}
	return nil
}

// record is one line of a FileCheckpoint.
type record struct {
	Checkpoint
	Identity *Identity `json:"identity,omitempty"`
	Answers  []Answer  `json:"answers,omitempty"`
}

// Load reads the journal, streaming: one line in memory at a time.
func (f FileCheckpoint) Load(answer func(Answer)) (Checkpoint, bool, error) {
	file, err := os.Open(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, err
	}
	defer file.Close()
	br := bufio.NewReader(file)
	var last Checkpoint
	ok := false
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			// A line without its newline is an append the crash cut off.
			return last, ok, nil
		}
		if err != nil {
			return Checkpoint{}, false, err
		}
		var rec record
		if err := json.Unmarshal(bytes.TrimSpace(line), &rec); err != nil {
			return Checkpoint{}, false, fmt.Errorf("%s: line %d: %w", f.Path, n, err)
		}
		if n == 1 {
			if err := f.differs(rec.Identity); err != nil {
				return Checkpoint{}, false, err
			}
		}
		for _, a := range rec.Answers {
			answer(a)
		}
		last, ok = rec.Checkpoint, true
	}
}

// Save appends a line and syncs the file.
func (f FileCheckpoint) Save(cp Checkpoint, answers []Answer) error {
	b, err := json.Marshal(record{Checkpoint: cp, Identity: f.Identity, Answers: answers})
	if err != nil {
		return err
	}
	file, err := os.OpenFile(f.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := dropTornLine(file); err != nil {
		file.Close()
		return err
	}
	_, err = file.Write(append(b, '\n'))
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// dropTornLine cuts off a last line a crash left without its newline, so
// that the next line does not append to it.
func dropTornLine(file *os.File) error {
	st, err := file.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	size := st.Size()
	buf := make([]byte, 1)
	if _, err := file.ReadAt(buf, size-1); err != nil {
		return err
	}
	if buf[0] == '\n' {
		return nil
	}
	// Find the last newline, reading backwards in chunks.
	end := size
	chunk := make([]byte, 4096)
	for end > 0 {
		start := max(end-int64(len(chunk)), 0)
		n, err := file.ReadAt(chunk[:end-start], start)
		if err != nil && err != io.EOF {
			return err
		}
		if i := bytes.LastIndexByte(chunk[:n], '\n'); i >= 0 {
			return file.Truncate(start + int64(i) + 1)
		}
		end = start
	}
	return file.Truncate(0)
}

// OpenOutput opens the output file of a run that resumes from cp (the zero
// Checkpoint for a fresh run): it creates the file if need be, cuts it
// back to cp.Offset, and positions writes at the end, so that the findings
// of the window the killed run was in are written once.
func OpenOutput(path string, cp Checkpoint) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(cp.Offset); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(cp.Offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
