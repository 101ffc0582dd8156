package cache

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
)

// spillFile is the name of the file a Tiered store spills to, in the
// directory given to WithSpill.
const spillFile = "tiered.spill"

// spillSlack is how many lines past twice the entries noted the spill
// file may grow before it is rewritten with only what is noted.
const spillSlack = 64

// WithSpill keeps what a Tiered store has learnt while Redis failed, and
// has not yet written to Redis, in a file under dir as well as in memory,
// so that a server restarted before Redis answers again does not forget
// it. NewTiered loads the file into the memory tier — each entry to be
// checked against Redis on its next read, as after a lost announcement —
// and notes it again, so that it reaches Redis, and the rest of the
// fleet, once Redis answers; the file is removed once everything in it
// is in Redis. Without it, such a server reads Redis's older entry once
// Redis answers, and shows an answer older than the one it showed before
// the restart (a revoked commitment as committed).
//
// The file is written only while something waits for Redis: a server
// whose Redis answers does no disk I/O. Entries are appended, one JSON
// line each, in the background within moments of being noted, and synced
// to disk; the file is rewritten (to a temporary file, synced, then
// renamed) when it grows past twice what is noted. Close writes what was
// noted before it. A crash may lose what was noted in the moment before
// it; a torn or unreadable line is skipped, logged and counted
// (TieredStats.SpillErrors), never fatal, and an expired entry is
// dropped.
//
// dir is the caller's, one per Tiered store: two stores on one directory
// overwrite each other's file. NewTiered creates it (mode 0700) if it is
// missing, and the file is created mode 0600: it holds registry answers
// and no credential, but nothing else on the machine needs to read or
// write them. Under systemd, the unit's StateDirectory= is a directory of
// this kind. NewTiered fails if dir cannot be created or written to, or
// the file cannot be read, or dir is empty: leave the option out to
// spill nothing.
func WithSpill(dir string) TieredOption {
	return func(t *Tiered) error {
		if dir == "" {
			return errors.New("spill directory is empty")
		}
		t.spill = &spill{dir: dir, path: filepath.Join(dir, spillFile), wake: make(chan struct{}, 1)}
		return nil
	}
}

// WithTieredLogger logs what a Tiered store handles by itself and an
// operator should know of: spill lines skipped and spill writes failed,
// at warn level. Nil, the default, logs nothing.
func WithTieredLogger(l *slog.Logger) TieredOption {
	return func(t *Tiered) error { t.log = l; return nil }
}

// spillRecord is one line of the spill file.
type spillRecord struct {
	Key   string `json:"key"`
	Entry *Entry `json:"entry"`
}

// spill is the file a Tiered store spills to. Once the store runs, its
// file fields are the writer goroutine's alone.
type spill struct {
	dir, path string
	wake      chan struct{} // something to write; capacity 1
	errs      atomic.Int64  // lines skipped and writes failed

	f      *os.File // the file open for appending, nil when it does not exist
	lines  int      // records in the file
	broken bool     // a write failed: the file may end in a torn line
	// failing is whether the last write failed, and was logged.
	failing bool
}

// spillWake asks the writer to write, without waiting.
func (t *Tiered) spillWake() {
	select {
	case t.spill.wake <- struct{}{}:
	default:
	}
}

// spillNote queues e, noted under key, for the writer. The caller holds
// dmu. A queue as long as the bound is dropped for a rewrite of what is
// noted, which holds everything in it.
func (t *Tiered) spillNote(key string, e *Entry) {
	if len(t.spillQ) >= maxDirty {
		t.spillQ, t.spillRewrite = nil, true
	} else {
		t.spillQ = append(t.spillQ, spillRecord{key, e})
	}
	t.spillWake()
}

// spillWriter writes what is noted, each time it is woken, until Close;
// then it writes once more and closes the file.
func (t *Tiered) spillWriter() {
	defer t.wg.Done()
	for {
		select {
		case <-t.spill.wake:
			t.spillPass()
		case <-t.ctx.Done():
			t.spillPass()
			if t.spill.f != nil {
				_ = t.spill.f.Close()
				t.spill.f = nil
			}
			return
		}
	}
}

// spillPass brings the file in line with what is noted: removed when
// nothing is, rewritten when it is missing, suspect or too long, else
// appended with what was noted since the last pass.
func (t *Tiered) spillPass() {
	sp := t.spill
	t.dmu.Lock()
	q, rewrite := t.spillQ, t.spillRewrite
	t.spillQ, t.spillRewrite = nil, false
	n := len(t.dirty)
	var all []spillRecord
	if n > 0 && (rewrite || sp.broken || sp.f == nil || sp.lines+len(q) > 2*n+spillSlack) {
		all = make([]spillRecord, 0, n)
		for k, e := range t.dirty {
			all = append(all, spillRecord{k, e})
		}
	}
	t.dmu.Unlock()
	switch {
	case n == 0:
		t.spillRemove()
	case all != nil:
		t.spillRewriteWith(all)
	case len(q) > 0:
		t.spillAppend(q)
	}
}

// spillAppend appends records to the open file and syncs it.
func (t *Tiered) spillAppend(q []spillRecord) {
	sp := t.spill
	b, err := encodeSpill(q)
	if err == nil {
		_, err = sp.f.Write(b)
	}
	if err == nil {
		err = sp.f.Sync()
	}
	if err != nil {
		sp.broken = true
		t.spillFailed("append to", err)
		return
	}
	sp.lines, sp.failing = sp.lines+len(q), false
}

// spillRewriteWith replaces the file with one of the records: written to
// a temporary file in the same directory, synced, renamed over the file,
// and the directory synced, so that a crash leaves the old file or the
// new one, whole.
func (t *Tiered) spillRewriteWith(all []spillRecord) {
	sp := t.spill
	if sp.f != nil {
		_ = sp.f.Close()
		sp.f = nil
	}
	sp.broken = true // until the new file is in place
	b, err := encodeSpill(all)
	if err != nil {
		t.spillFailed("encode", err)
		return
	}
	tmp, err := os.CreateTemp(sp.dir, spillFile+".*.tmp") // mode 0600
	if err != nil {
		t.spillFailed("create", err)
		return
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), sp.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		t.spillFailed("write", err)
		return
	}
	syncDir(sp.dir)
	f, err := os.OpenFile(sp.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.spillFailed("open", err)
		return
	}
	sp.f, sp.lines, sp.broken, sp.failing = f, len(all), false, false
}

// spillRemove removes the file, if there is one: everything in it is in
// Redis.
func (t *Tiered) spillRemove() {
	sp := t.spill
	if sp.f != nil {
		_ = sp.f.Close()
		sp.f = nil
	}
	if sp.lines == 0 && !sp.broken {
		return // no file: a store that never noted anything touches no disk
	}
	if err := os.Remove(sp.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		sp.broken = true
		t.spillFailed("remove", err)
		return
	}
	syncDir(sp.dir)
	sp.lines, sp.broken, sp.failing = 0, false, false
}

// spillFailed counts a failed write, and logs the first of a run of
// them: a disk that fails one write fails the next, during an outage of
// Redis that may last.
func (t *Tiered) spillFailed(what string, err error) {
	t.spill.errs.Add(1)
	if !t.spill.failing && t.log != nil {
		t.log.Warn("qcsdk/cache: failed to "+what+" the spill file; what was learnt while Redis failed may be lost by a restart",
			"file", t.spill.path, "error", err)
	}
	t.spill.failing = true
}

// encodeSpill is the records as JSON lines.
func encodeSpill(rs []spillRecord) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b) // one line each, newline-terminated
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// syncDir makes a rename or a removal in dir durable. It may fail where
// directories cannot be synced; the change is then as durable as the
// system makes it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// loadSpill loads the spill file into the memory tier, unconfirmed, and
// notes each entry it keeps, before the store runs. Lines that do not
// decode to an entry are skipped and counted; expired entries are
// dropped. The file is then rewritten with what was kept, or removed if
// nothing was.
func (t *Tiered) loadSpill() error {
	sp := t.spill
	if err := os.MkdirAll(sp.dir, 0o700); err != nil {
		return fmt.Errorf("qcsdk/cache: spill directory: %w", err)
	}
	// A directory that cannot be written to is found now, at start, not
	// during the outage it is for.
	probe, err := os.CreateTemp(sp.dir, spillFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("qcsdk/cache: spill directory: %w", err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	f, err := os.Open(sp.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("qcsdk/cache: spill file: %w", err)
	}
	defer f.Close()
	now := t.clock()
	r := bufio.NewReader(f)
	var lines, bad int
	var readErr error
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			lines++
			var rec spillRecord
			switch {
			case json.Unmarshal(line, &rec) != nil || rec.Key == "" || rec.Entry == nil || rec.Entry.Expires.IsZero():
				bad++
			case now.Before(rec.Entry.Expires):
				t.loadNoted(rec.Key, rec.Entry)
			}
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
	}
	if bad > 0 || readErr != nil {
		sp.errs.Add(int64(bad))
		if readErr != nil {
			sp.errs.Add(1)
		}
		if t.log != nil {
			t.log.Warn("qcsdk/cache: skipped what could not be read of the spill file",
				"file", sp.path, "lines", lines, "skipped", bad, "error", readErr)
		}
	}
	// The store is not running yet: the writer's fields are free to use.
	sp.lines, sp.broken = lines, true // rewritten at once, without what was skipped
	if len(t.dirty) == 0 {
		t.spillRemove()
		return nil
	}
	all := make([]spillRecord, 0, len(t.dirty))
	for k, e := range t.dirty {
		all = append(all, spillRecord{k, e})
	}
	t.spillRewriteWith(all)
	return nil
}

// loadNoted puts e, read from the spill file under key, in the memory
// tier — unconfirmed, so that Redis is asked on its next read — and notes
// it, unless the memory tier holds a newer entry or the notes are full.
// A line for a key seen before replaces it only if newer.
func (t *Tiered) loadNoted(key string, e *Entry) {
	held, _ := t.local.set(key, e, false)
	if held != e {
		return
	}
	if old, ok := t.dirty[key]; ok || len(t.dirty) < maxDirty {
		if !ok || newer(e, old) {
			t.dirty[key] = e
		}
	}
}

func (t *Tiered) spillErrors() int64 {
	if t.spill == nil {
		return 0
	}
	return t.spill.errs.Load()
}
