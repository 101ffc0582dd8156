package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Checkpoint is how far a run got: saved after each window's findings are
// written and flushed, so that a run killed at any moment can resume from
// the last one, repeating at most the window it was in.
type Checkpoint struct {
	// Position is how many items of the input — listings and rows
	// skipped — the run had consumed. A resumed run skips as many: the
	// input must be the same, in the same order.
	Position int64 `json:"position"`
	// Offset is how many bytes of output had been written and flushed,
	// when the writer is a ResumableWriter (else zero). On resume, cut the
	// output back to it before appending (see OpenOutput): whatever a
	// killed run wrote past it belongs to the window it will repeat.
	Offset int64 `json:"offset"`
	// Summary is the counts so far; Summary.Findings is the findings
	// written up to Offset.
	Summary Summary `json:"summary"`
}

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
type FileCheckpoint struct {
	Path string
}

// record is one line of a FileCheckpoint.
type record struct {
	Checkpoint
	Answers []Answer `json:"answers,omitempty"`
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
		for _, a := range rec.Answers {
			answer(a)
		}
		last, ok = rec.Checkpoint, true
	}
}

// Save appends a line and syncs the file.
func (f FileCheckpoint) Save(cp Checkpoint, answers []Answer) error {
	b, err := json.Marshal(record{Checkpoint: cp, Answers: answers})
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
