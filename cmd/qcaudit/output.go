package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qualitycommit/qcsdk/audit"
)

// partialPath is where a resumable run keeps the findings of an audit not
// complete yet: beside -o, so that the rename that ends it stays on one
// file system.
func partialPath(output string) string { return output + ".partial" }

// pendingOutput is the findings file being written: a file beside -o that
// commit renames into place. Until then -o is untouched.
type pendingOutput struct {
	f      *os.File
	path   string // the file written
	target string // -o
	keep   bool   // on failure: a resumable run's partial output stays for the resume
	done   bool
}

// openPending opens the file findings are written to before they replace
// target: for a resumable run, target's partial file cut back to cp's
// offset (audit.OpenOutput); else a new temporary file.
func openPending(target string, resumable bool, cp audit.Checkpoint) (*pendingOutput, error) {
	p := &pendingOutput{target: target, keep: resumable}
	var err error
	if resumable {
		p.path = partialPath(target)
		p.f, err = audit.OpenOutput(p.path, cp)
	} else {
		p.f, err = os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*.tmp")
		if err == nil {
			p.path = p.f.Name()
			err = p.f.Chmod(0o644)
		}
	}
	if err != nil {
		if p.f != nil {
			p.f.Close()
			os.Remove(p.path)
		}
		return nil, err
	}
	return p, nil
}

// commit makes the findings durable and puts them in target's place.
func (p *pendingOutput) commit() error {
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.path, p.target)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", quoteText(p.target), err)
	}
	p.done = true
	syncDir(filepath.Dir(p.target))
	return nil
}

// discard drops what commit did not take: the temporary file, but not a
// resumable run's partial output, which its resume carries on.
func (p *pendingOutput) discard() {
	if p.done {
		return
	}
	p.f.Close()
	if !p.keep {
		os.Remove(p.path)
	}
}

// syncDir makes a rename in dir durable, where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// identify is a resumable run's identity: its input's path (absolute;
// "-" for stdin), size and SHA-256, read once as a stream before the
// audit, and the settings that shape the output. Stdin cannot be read
// twice: its size and SHA-256 are left out, and the checkpoint's digest of
// the rows consumed (audit.Checkpoint.Digest) tells another input on
// resume.
func identify(cfg *config, in io.Reader) (*audit.Identity, error) {
	id := &audit.Identity{Input: "-", Size: -1, Settings: map[string]string{
		"-in-format":  cfg.inFormat,
		"-out-format": cfg.outFormat,
		"-all":        strconv.FormatBool(cfg.all),
		"-strict":     strconv.FormatBool(cfg.strict),
		"-bom":        strconv.FormatBool(cfg.bom),
	}}
	f, ok := in.(*os.File)
	if !ok || cfg.input == "" || cfg.input == "-" {
		return id, nil
	}
	abs, err := filepath.Abs(cfg.input)
	if err != nil {
		return nil, err
	}
	id.Input = abs
	h := sha256.New()
	if id.Size, err = io.Copy(h, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, errors.New("the input cannot be read twice: name a regular file, or pipe it on stdin")
	}
	id.SHA256 = hex.EncodeToString(h.Sum(nil))
	return id, nil
}
