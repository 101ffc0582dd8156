package main

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

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
	// replaced is the file path held before since rewrote it: removed once
	// the audit is complete, kept for a resume until then.
	replaced string
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
	if p.replaced != "" {
		os.Remove(p.replaced)
	}
	return nil
}

// discard drops what commit did not take: the temporary file, but not a
// resumable run's partial output, which its resume carries on.
func (p *pendingOutput) discard() {
	if p.done {
		return
	}
	p.f.Close()
	if !p.keep || p.replaced != "" {
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
		// The codes written decide which findings the file holds.
		"-only":   codeList(cfg.only),
		"-except": codeList(cfg.except),
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

// codeList is a set of reason codes as one value, in the order of
// audit.ReasonCodes: the same set however the flag spelt it. A nil set
// (every code) is "".
func codeList(set map[audit.ReasonCode]bool) string {
	var names []string
	for _, c := range audit.ReasonCodes {
		if set[c] {
			names = append(names, string(c))
		}
	}
	return strings.Join(names, ",")
}

// since rewrites the findings written, each marked new or unchanged
// against the previous audit's file, with the previous findings since
// cleared after them, into a new file that commit puts in place.
func (p *pendingOutput) since(cfg *config) (audit.SinceSummary, error) {
	var sum audit.SinceSummary
	if _, err := os.Stat(cfg.since); err != nil {
		return sum, fmt.Errorf("-since: %w", err)
	}
	previous := func() iter.Seq2[audit.Finding, error] {
		return func(yield func(audit.Finding, error) bool) {
			f, err := os.Open(cfg.since)
			if err != nil {
				yield(audit.Finding{}, err)
				return
			}
			defer f.Close()
			for x, err := range audit.ReadFindings(bufio.NewReaderSize(f, 1<<16), cfg.sinceJSON) {
				if !yield(x, err) {
					return
				}
			}
		}
	}
	cur, err := os.Open(p.path)
	if err != nil {
		return sum, err
	}
	defer cur.Close()
	next, err := os.CreateTemp(filepath.Dir(p.target), "."+filepath.Base(p.target)+".*.tmp")
	if err != nil {
		return sum, err
	}
	var w audit.FindingWriter
	if cfg.outFormat == "jsonl" {
		w = audit.NewJSONLinesWriter(next)
	} else {
		w = audit.NewCSVWriter(next, cfg.bom)
	}
	sum, err = audit.Since(previous, audit.ReadFindings(bufio.NewReaderSize(cur, 1<<16), cfg.outFormat == "jsonl"), w)
	if err == nil {
		err = next.Chmod(0o644)
	}
	if err != nil {
		next.Close()
		os.Remove(next.Name())
		return sum, fmt.Errorf("-since: %w", err)
	}
	// The marked file is what commit puts in place; the unmarked one
	// goes, a resumable run's partial output once the audit is complete.
	p.f.Close()
	old := p.path
	p.f, p.path, p.replaced = next, next.Name(), old
	return sum, nil
}

// rejectsFile is the -rejects file being written: line and reason of each
// row that could not be read, renamed into place once the audit is
// complete.
type rejectsFile struct {
	p   *pendingOutput
	w   *bufio.Writer
	err error
}

func openRejects(path string) (*rejectsFile, error) {
	p, err := openPending(path, false, audit.Checkpoint{})
	if err != nil {
		return nil, err
	}
	r := &rejectsFile{p: p, w: bufio.NewWriter(p.f)}
	r.err = writeRow(r.w, []string{"line", "reason"})
	return r, nil
}

func (r *rejectsFile) add(re *audit.RowError) {
	if r.err == nil {
		r.err = writeRow(r.w, []string{strconv.Itoa(re.Line), cutText(re.Err.Error(), 4*maxQuoted)})
	}
}

func (r *rejectsFile) commit() error {
	if r.err == nil {
		r.err = r.w.Flush()
	}
	if r.err != nil {
		return fmt.Errorf("-rejects: %w", r.err)
	}
	return r.p.commit()
}

// writeRow writes a CSV record as the findings are written: every field
// quoted, every formula start neutralised (audit.SafeCell).
func writeRow(w *bufio.Writer, cells []string) error {
	for i, c := range cells {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('"')
		w.WriteString(strings.ReplaceAll(audit.SafeCell(c), `"`, `""`))
		w.WriteByte('"')
	}
	return w.WriteByte('\n')
}

func (r *rejectsFile) discard() { r.p.discard() }

// writeBySeller reads the findings back and writes, per seller, how many
// findings each reason code has (the cleared ones of -since apart), the
// sellers with most findings first.
func writeBySeller(cfg *config) error {
	f, err := os.Open(cfg.output)
	if err != nil {
		return err
	}
	defer f.Close()
	type counts struct {
		seller string
		total  int
		byCode map[audit.ReasonCode]int
	}
	sellers := map[string]*counts{}
	for x, err := range audit.ReadFindings(bufio.NewReaderSize(f, 1<<16), cfg.outFormat == "jsonl") {
		if err != nil {
			return fmt.Errorf("-by-seller: reading the findings: %w", err)
		}
		if x.Status == audit.StatusCleared || x.Code == audit.CodeCommitted {
			continue
		}
		c := sellers[x.Listing.Seller]
		if c == nil {
			c = &counts{seller: x.Listing.Seller, byCode: map[audit.ReasonCode]int{}}
			sellers[x.Listing.Seller] = c
		}
		c.total++
		c.byCode[x.Code]++
	}
	rows := slices.Collect(maps.Values(sellers))
	slices.SortFunc(rows, func(a, b *counts) int {
		return cmp.Or(cmp.Compare(b.total, a.total), strings.Compare(a.seller, b.seller))
	})
	p, err := openPending(cfg.bySeller, false, audit.Checkpoint{})
	if err != nil {
		return fmt.Errorf("-by-seller: %w", err)
	}
	defer p.discard()
	bw := bufio.NewWriter(p.f)
	header := []string{"seller", "findings"}
	var codes []audit.ReasonCode
	for _, c := range audit.ReasonCodes {
		if c != audit.CodeCommitted {
			codes = append(codes, c)
			header = append(header, string(c))
		}
	}
	writeRow(bw, header)
	for _, c := range rows {
		row := []string{c.seller, strconv.Itoa(c.total)}
		for _, code := range codes {
			row = append(row, strconv.Itoa(c.byCode[code]))
		}
		writeRow(bw, row)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("-by-seller: %w", err)
	}
	if err := p.commit(); err != nil {
		return fmt.Errorf("-by-seller: %w", err)
	}
	return nil
}
