package spill

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver: pure Go, no cgo
)

// Store is an audit.AnswerStore in a temporary SQLite file. It is for one
// run, from one goroutine at a time, as audit.Run uses it.
type Store struct {
	dir      string // the temporary directory holding the file
	db       *sql.DB
	tx       *sql.Tx // one for the whole run: nothing here needs to be durable
	get, put *sql.Stmt
	n        int
}

// New makes a Store in a new directory under dir ("" is the system's
// temporary directory).
func New(dir string) (*Store, error) {
	tmp, err := os.MkdirTemp(dir, "qcaudit-answers-")
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	s := &Store{dir: tmp}
	if err := s.open(filepath.Join(tmp, "answers.db")); err != nil {
		s.Close()
		return nil, fmt.Errorf("spill: %w", err)
	}
	return s, nil
}

func (s *Store) open(path string) error {
	// Scratch space: no journal, no sync; a crash loses the file, and a
	// resumed run rebuilds it from its checkpoint journal.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=locking_mode(EXCLUSIVE)&_pragma=cache_size(-8000)"
	var err error
	if s.db, err = sql.Open("sqlite", dsn); err != nil {
		return err
	}
	s.db.SetMaxOpenConns(1)
	if _, err := s.db.Exec(`CREATE TABLE answers (key TEXT PRIMARY KEY, answer BLOB NOT NULL) WITHOUT ROWID`); err != nil {
		return err
	}
	if s.tx, err = s.db.Begin(); err != nil {
		return err
	}
	if s.get, err = s.tx.Prepare(`SELECT answer FROM answers WHERE key = ?`); err != nil {
		return err
	}
	s.put, err = s.tx.Prepare(`INSERT INTO answers (key, answer) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET answer = excluded.answer`)
	return err
}

// key is a product key as one string: its parts cannot hold a NUL.
func key(k client.ProductKey) string {
	return strings.Join([]string{string(k.GTIN), string(k.USCC), k.Brand, k.Model}, "\x00")
}

// Get returns the answer stored for k.
func (s *Store) Get(k client.ProductKey) (audit.Answer, bool, error) {
	var b []byte
	err := s.get.QueryRow(key(k)).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Answer{}, false, nil
	}
	if err != nil {
		return audit.Answer{}, false, fmt.Errorf("spill: reading an answer: %w", err)
	}
	var a audit.Answer
	if err := json.Unmarshal(b, &a); err != nil {
		return audit.Answer{}, false, fmt.Errorf("spill: reading an answer: %w", err)
	}
	a.Key = k
	return a, true, nil
}

// Put stores a.
func (s *Store) Put(a audit.Answer) error {
	k := a.Key
	a.Key = client.ProductKey{} // the row's key says it
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("spill: storing an answer: %w", err)
	}
	if _, err := s.put.Exec(key(k), b); err != nil {
		return fmt.Errorf("spill: storing an answer: %w", err)
	}
	s.n++
	return nil
}

// Puts is how many answers were stored: those the run's memory could not
// hold.
func (s *Store) Puts() int { return s.n }

// Close drops the file.
func (s *Store) Close() error {
	for _, st := range []*sql.Stmt{s.get, s.put} {
		if st != nil {
			st.Close()
		}
	}
	if s.tx != nil {
		s.tx.Rollback()
	}
	var err error
	if s.db != nil {
		err = s.db.Close()
	}
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

var _ audit.AnswerStore = (*Store)(nil)
