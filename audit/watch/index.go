package watch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"net/url"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver: pure Go, no cgo
)

// loadBatch is how many listings Load writes in one transaction: a few
// thousand rows, so that memory stays bounded and a crash loses at most
// one transaction.
const loadBatch = 5000

// schema is the index's tables. listings_key serves the lookup by GTIN
// (its leading column) and by a whole key; listings_maker serves the
// lookups by USCC and by USCC with brand (and model).
const schema = `
CREATE TABLE IF NOT EXISTS listings (
	id     TEXT PRIMARY KEY,
	seller TEXT NOT NULL,
	title  TEXT NOT NULL,
	gtin   TEXT NOT NULL,
	uscc   TEXT NOT NULL,
	brand  TEXT NOT NULL,
	model  TEXT NOT NULL,
	line   INTEGER NOT NULL,
	gen    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS listings_key ON listings (gtin, uscc, brand, model);
CREATE INDEX IF NOT EXISTS listings_maker ON listings (uscc, brand, model);

CREATE TABLE IF NOT EXISTS makers (
	enterprise_id TEXT PRIMARY KEY,
	uscc          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS makers_uscc ON makers (uscc);

CREATE TABLE IF NOT EXISTS prefixes (
	enterprise_id TEXT NOT NULL,
	prefix        TEXT NOT NULL,
	PRIMARY KEY (enterprise_id, prefix)
);

CREATE TABLE IF NOT EXISTS products (
	gtin          TEXT NOT NULL,
	uscc          TEXT NOT NULL,
	brand         TEXT NOT NULL,
	model         TEXT NOT NULL,
	enterprise_id TEXT NOT NULL,
	p_brand       TEXT NOT NULL,
	p_model       TEXT NOT NULL,
	commitment_id TEXT NOT NULL,
	PRIMARY KEY (gtin, uscc, brand, model)
);
CREATE INDEX IF NOT EXISTS products_maker ON products (enterprise_id);
CREATE INDEX IF NOT EXISTS products_commitment ON products (commitment_id);

CREATE TABLE IF NOT EXISTS state (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`

// Index is a catalogue's listings in an SQLite file, indexed by GTIN, by
// USCC and by USCC with brand and model, together with what the watcher
// has learnt from the registry (which maker each product key belongs to,
// the makers' USCCs and GTIN prefixes) and the change feed's cursor.
//
// An Index is safe for use by several goroutines: it holds one connection
// and its calls take turns on it.
type Index struct {
	db *sql.DB
}

// OpenIndex opens the index in the SQLite file at path, creating it if
// need be. The file is in write-ahead-log mode.
func OpenIndex(path string) (*Index, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(OFF)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("watch: opening the index: %w", err)
	}
	// One connection: SQLite has one writer anyway, and taking turns on a
	// single connection cannot deadlock on the file's lock.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("watch: creating the index's tables: %w", err)
	}
	if err := addGenColumn(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("watch: upgrading the index's tables: %w", err)
	}
	return &Index{db: db}, nil
}

// addGenColumn gives an index made before Sync existed the column Sync
// marks listings with.
func addGenColumn(db *sql.DB) error {
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('listings') WHERE name = 'gen'`).Scan(&n); err != nil || n > 0 {
		return err
	}
	_, err := db.Exec(`ALTER TABLE listings ADD COLUMN gen INTEGER NOT NULL DEFAULT 0`)
	return err
}

// Close closes the index's file.
func (x *Index) Close() error { return x.db.Close() }

// LoadSummary counts what Load read.
type LoadSummary struct {
	Listings  int // listings stored
	Malformed int // rows skipped: *audit.RowError from the input
}

// Load stores listings, the same input audit.Run reads (audit.ReadCSV or
// audit.ReadJSONLines), loadBatch rows to a transaction, so that memory
// does not grow with the catalogue. A listing whose id is already in the
// index replaces it: to rebuild from scratch, open a new file. A
// *audit.RowError is counted and skipped, as audit.Run does; any other
// error from listings ends the load and is returned, the transactions
// before it committed.
func (x *Index) Load(ctx context.Context, listings iter.Seq2[audit.Listing, error]) (LoadSummary, error) {
	var sum LoadSummary
	var tx *sql.Tx
	var stmt *sql.Stmt
	n := 0
	commit := func() error {
		if tx == nil {
			return nil
		}
		stmt.Close()
		err := tx.Commit()
		tx, stmt, n = nil, nil, 0
		return err
	}
	defer func() {
		if tx != nil {
			stmt.Close()
			tx.Rollback()
		}
	}()
	for l, err := range canonical(listings, &sum.Malformed) {
		if err != nil {
			if cerr := commit(); cerr != nil {
				return sum, fmt.Errorf("watch: loading listings: %w", cerr)
			}
			return sum, err
		}
		if tx == nil {
			if tx, err = x.db.BeginTx(ctx, nil); err != nil {
				return sum, fmt.Errorf("watch: loading listings: %w", err)
			}
			if stmt, err = tx.PrepareContext(ctx, upsertListing); err != nil {
				return sum, fmt.Errorf("watch: loading listings: %w", err)
			}
		}
		if _, err := stmt.ExecContext(ctx, listingArgs(l)...); err != nil {
			return sum, fmt.Errorf("watch: loading listing %q: %w", l.ID, err)
		}
		sum.Listings++
		if n++; n == loadBatch {
			if err := commit(); err != nil {
				return sum, fmt.Errorf("watch: loading listings: %w", err)
			}
		}
	}
	if err := commit(); err != nil {
		return sum, fmt.Errorf("watch: loading listings: %w", err)
	}
	return sum, nil
}

// upsertListing stores a listing in the current generation (see Sync).
const upsertListing = `INSERT INTO listings (id, seller, title, gtin, uscc, brand, model, line, gen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, coalesce((SELECT CAST(value AS INTEGER) FROM state WHERE name = 'gen'), 0))
ON CONFLICT (id) DO UPDATE SET seller = excluded.seller, title = excluded.title, gtin = excluded.gtin,
	uscc = excluded.uscc, brand = excluded.brand, model = excluded.model, line = excluded.line, gen = excluded.gen`

func listingArgs(l audit.Listing) []any {
	return []any{l.ID, l.Seller, l.Title, string(l.Key.GTIN), string(l.Key.USCC), l.Key.Brand, l.Key.Model, l.Line}
}

// Put stores one listing, replacing the one with its id if any. Its key
// is checked and made canonical as the audit's readers do.
func (x *Index) Put(ctx context.Context, l audit.Listing) error {
	k, err := audit.CanonicalKey(l.Key)
	if err != nil {
		return fmt.Errorf("watch: listing %q: %w", l.ID, err)
	}
	l.Key = k
	if _, err := x.db.ExecContext(ctx, upsertListing, listingArgs(l)...); err != nil {
		return fmt.Errorf("watch: storing listing %q: %w", l.ID, err)
	}
	return nil
}

// Delete removes the listing with that id; removing one not there is not
// an error.
func (x *Index) Delete(ctx context.Context, id string) error {
	if _, err := x.db.ExecContext(ctx, `DELETE FROM listings WHERE id = ?`, id); err != nil {
		return fmt.Errorf("watch: deleting listing %q: %w", id, err)
	}
	return nil
}

// Len is how many listings the index holds.
func (x *Index) Len(ctx context.Context) (int, error) {
	var n int
	err := x.db.QueryRowContext(ctx, `SELECT count(*) FROM listings`).Scan(&n)
	return n, err
}

const cursorName = "cursor"

// Cursor is the change feed's cursor saved last (SaveCursor), "" if none.
func (x *Index) Cursor(ctx context.Context) (string, error) {
	var c string
	err := x.db.QueryRowContext(ctx, `SELECT value FROM state WHERE name = ?`, cursorName).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return c, err
}

// SaveCursor saves the change feed's cursor: the position every event up
// to which has been handled. After a full audit, save Changes.Head's
// cursor, taken before the audit started, so that Run follows on from it.
func (x *Index) SaveCursor(ctx context.Context, cursor string) error {
	_, err := x.db.ExecContext(ctx, `INSERT INTO state (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, cursorName, cursor)
	return err
}

// listings returns the listings stored with key k, in id order.
func (x *Index) listings(ctx context.Context, k client.ProductKey) ([]audit.Listing, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT id, seller, title, line FROM listings
WHERE gtin = ? AND uscc = ? AND brand = ? AND model = ? ORDER BY id`,
		string(k.GTIN), string(k.USCC), k.Brand, k.Model)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Listing
	for rows.Next() {
		l := audit.Listing{Key: k}
		if err := rows.Scan(&l.ID, &l.Seller, &l.Title, &l.Line); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// keyRow is a product key as the index stores it, with what was learnt of
// its product: maker, brand and model, and the commitment it was decided by.
type keyRow struct {
	key          client.ProductKey
	enterpriseID string
	brand, model string
	commitmentID string
}

// queryKeys runs a query whose columns are gtin, uscc, brand, model and
// returns the keys.
func (x *Index) queryKeys(ctx context.Context, q string, args ...any) ([]client.ProductKey, error) {
	rows, err := x.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []client.ProductKey
	for rows.Next() {
		var g, u, b, m string
		if err := rows.Scan(&g, &u, &b, &m); err != nil {
			return nil, err
		}
		out = append(out, client.ProductKey{GTIN: client.GTIN(g), USCC: client.USCC(u), Brand: b, Model: m})
	}
	return out, rows.Err()
}

// learnt returns the learnt product rows a query selects; its columns are
// those of the products table in order.
func (x *Index) learnt(ctx context.Context, where string, args ...any) ([]keyRow, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT gtin, uscc, brand, model, enterprise_id, p_brand, p_model, commitment_id
FROM products WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []keyRow
	for rows.Next() {
		var r keyRow
		var g, u string
		if err := rows.Scan(&g, &u, &r.key.Brand, &r.key.Model, &r.enterpriseID, &r.brand, &r.model, &r.commitmentID); err != nil {
			return nil, err
		}
		r.key.GTIN, r.key.USCC = client.GTIN(g), client.USCC(u)
		out = append(out, r)
	}
	return out, rows.Err()
}

// makerUSCC is the USCC learnt for an enterprise id, "" if none.
func (x *Index) makerUSCC(ctx context.Context, enterpriseID string) (client.USCC, error) {
	var u string
	err := x.db.QueryRowContext(ctx, `SELECT uscc FROM makers WHERE enterprise_id = ?`, enterpriseID).Scan(&u)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return client.USCC(u), err
}

// makerPrefixes are the GTIN prefixes learnt for an enterprise id.
func (x *Index) makerPrefixes(ctx context.Context, enterpriseID string) ([]string, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT prefix FROM prefixes WHERE enterprise_id = ?`, enterpriseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// learner writes what the registry said into the index, in one
// transaction.
type learner struct {
	tx *sql.Tx
}

func (x *Index) learn(ctx context.Context, f func(l learner) error) error {
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(learner{tx}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// cursor saves the change feed's cursor with what the transaction learnt.
func (l learner) cursor(ctx context.Context, c string) error {
	_, err := l.tx.ExecContext(ctx, `INSERT INTO state (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, cursorName, c)
	return err
}

func (l learner) maker(ctx context.Context, id string, u client.USCC) error {
	if id == "" || u == "" {
		return nil
	}
	_, err := l.tx.ExecContext(ctx, `INSERT INTO makers (enterprise_id, uscc) VALUES (?, ?)
ON CONFLICT (enterprise_id) DO UPDATE SET uscc = excluded.uscc`, id, string(u))
	return err
}

func (l learner) prefixes(ctx context.Context, id string, ps []string) error {
	for _, p := range ps {
		if id == "" || p == "" {
			continue
		}
		if _, err := l.tx.ExecContext(ctx, `INSERT OR IGNORE INTO prefixes (enterprise_id, prefix) VALUES (?, ?)`, id, p); err != nil {
			return err
		}
	}
	return nil
}

// status records what a product status says of its key. An answer that
// names no maker (the maker delisted) keeps the maker learnt before, so
// that its relisting still finds the key.
func (l learner) status(ctx context.Context, k client.ProductKey, st *client.ProductStatus) error {
	r := keyRow{key: k, brand: k.Brand, model: k.Model}
	if st.Enterprise != nil {
		r.enterpriseID = st.Enterprise.ID
		if err := l.maker(ctx, st.Enterprise.ID, st.Enterprise.USCC); err != nil {
			return err
		}
	}
	if st.Product != nil {
		r.brand, r.model = st.Product.Brand, st.Product.Model
	}
	if c := st.Commitment; c != nil {
		r.commitmentID = c.ID
		if r.enterpriseID == "" {
			r.enterpriseID = c.EnterpriseID
		}
		if err := l.prefixes(ctx, c.EnterpriseID, c.Scope.GTINPrefixes); err != nil {
			return err
		}
	}
	_, err := l.tx.ExecContext(ctx, `INSERT INTO products (gtin, uscc, brand, model, enterprise_id, p_brand, p_model, commitment_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (gtin, uscc, brand, model) DO UPDATE SET
	enterprise_id = coalesce(nullif(excluded.enterprise_id, ''), enterprise_id),
	p_brand = CASE WHEN excluded.p_brand != '' THEN excluded.p_brand ELSE p_brand END,
	p_model = CASE WHEN excluded.p_brand != '' THEN excluded.p_model ELSE p_model END,
	commitment_id = coalesce(nullif(excluded.commitment_id, ''), commitment_id)`,
		string(k.GTIN), string(k.USCC), k.Brand, k.Model, r.enterpriseID, r.brand, r.model, r.commitmentID)
	return err
}

// canonical yields the listings whose key is well formed, in canonical
// form, and counts in *malformed the rows that could not be read
// (*audit.RowError) or whose key is malformed; any other error ends the
// sequence with it.
func canonical(listings iter.Seq2[audit.Listing, error], malformed *int) iter.Seq2[audit.Listing, error] {
	return func(yield func(audit.Listing, error) bool) {
		for l, err := range listings {
			if err != nil {
				var re *audit.RowError
				if errors.As(err, &re) {
					*malformed++
					continue
				}
				yield(l, err)
				return
			}
			k, err := audit.CanonicalKey(l.Key)
			if err != nil {
				*malformed++
				continue
			}
			l.Key = k
			if !yield(l, nil) {
				return
			}
		}
	}
}
