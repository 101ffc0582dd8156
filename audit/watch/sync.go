package watch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strconv"

	"github.com/qualitycommit/qcsdk/audit"
	"github.com/qualitycommit/qcsdk/client"
)

// SyncSummary counts what Sync changed.
type SyncSummary struct {
	Added     int // listings new to the index
	Updated   int // listings whose seller, title or key changed
	Unchanged int // listings as they were (a new line number aside)
	Removed   int // listings of the index the catalogue no longer has
	Malformed int // rows skipped: *audit.RowError from the input
}

// ErrSyncUnfinished is what Watcher.Run returns, at once, when a Sync was
// stopped before it removed the listings the new catalogue dropped: the
// index holds listings of two catalogues, and findings for listings the
// platform no longer has would follow. Run Sync again to the end.
var ErrSyncUnfinished = errors.New("watch: a sync of the index with a new catalogue did not finish")

const (
	genName     = "gen"     // the generation of the listings the last finished Sync left
	syncingName = "syncing" // the generation a Sync is marking, while it runs
)

// Sync brings the index to a new export of the catalogue: listings new
// to it are added, changed ones updated, and those it no longer has
// removed, loadBatch rows to a transaction, so that memory does not grow
// with the catalogue and a catalogue that changed little costs no lookup
// of the registry. The keys it adds are not learnt yet: Watcher.Run (or
// Watcher.Learn) learns their makers before it follows the feed, so that
// no later event misses them.
//
// The listings dropped are removed in the last transaction, together
// with the mark that the sync is done: a Sync stopped before it leaves
// SyncPending true, and the index holding listings of both catalogues
// until Sync is run again. A *audit.RowError is counted and skipped; any
// other error from listings ends the sync, unfinished, and is returned.
func (x *Index) Sync(ctx context.Context, listings iter.Seq2[audit.Listing, error]) (SyncSummary, error) {
	var sum SyncSummary
	gen, err := x.stateInt(ctx, genName)
	if err != nil {
		return sum, fmt.Errorf("watch: syncing: %w", err)
	}
	if pending, err := x.stateInt(ctx, syncingName); err != nil {
		return sum, fmt.Errorf("watch: syncing: %w", err)
	} else {
		gen = max(gen, pending)
	}
	gen++
	if err := x.setState(ctx, x.db, syncingName, strconv.FormatInt(gen, 10)); err != nil {
		return sum, fmt.Errorf("watch: syncing: %w", err)
	}

	var tx *sql.Tx
	var get, put, mark *sql.Stmt
	n := 0
	closeTx := func() {
		for _, s := range []*sql.Stmt{get, put, mark} {
			if s != nil {
				s.Close()
			}
		}
		get, put, mark = nil, nil, nil
	}
	commit := func() error {
		if tx == nil {
			return nil
		}
		closeTx()
		err := tx.Commit()
		tx, n = nil, 0
		return err
	}
	defer func() {
		if tx != nil {
			closeTx()
			tx.Rollback()
		}
	}()
	begin := func() error {
		var err error
		if tx, err = x.db.BeginTx(ctx, nil); err != nil {
			return err
		}
		if get, err = tx.PrepareContext(ctx, `SELECT seller, title, gtin, uscc, brand, model FROM listings WHERE id = ?`); err != nil {
			return err
		}
		if put, err = tx.PrepareContext(ctx, `INSERT INTO listings (id, seller, title, gtin, uscc, brand, model, line, gen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seller = excluded.seller, title = excluded.title, gtin = excluded.gtin,
	uscc = excluded.uscc, brand = excluded.brand, model = excluded.model, line = excluded.line, gen = excluded.gen`); err != nil {
			return err
		}
		mark, err = tx.PrepareContext(ctx, `UPDATE listings SET line = ?, gen = ? WHERE id = ?`)
		return err
	}
	for l, err := range canonical(listings, &sum.Malformed) {
		if err != nil {
			if cerr := commit(); cerr != nil {
				return sum, fmt.Errorf("watch: syncing: %w", cerr)
			}
			return sum, err
		}
		if tx == nil {
			if err := begin(); err != nil {
				return sum, fmt.Errorf("watch: syncing: %w", err)
			}
		}
		var seller, title, g, u, b, m string
		err = get.QueryRowContext(ctx, l.ID).Scan(&seller, &title, &g, &u, &b, &m)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			sum.Added++
			_, err = put.ExecContext(ctx, append(listingArgs(l), gen)...)
		case err != nil:
		case seller == l.Seller && title == l.Title && client.ProductKey{GTIN: client.GTIN(g), USCC: client.USCC(u), Brand: b, Model: m} == l.Key:
			sum.Unchanged++
			_, err = mark.ExecContext(ctx, l.Line, gen, l.ID)
		default:
			sum.Updated++
			_, err = put.ExecContext(ctx, append(listingArgs(l), gen)...)
		}
		if err != nil {
			return sum, fmt.Errorf("watch: syncing listing %q: %w", l.ID, err)
		}
		if n++; n == loadBatch {
			if err := commit(); err != nil {
				return sum, fmt.Errorf("watch: syncing: %w", err)
			}
		}
	}
	if err := commit(); err != nil {
		return sum, fmt.Errorf("watch: syncing: %w", err)
	}

	// The listings the catalogue dropped go, and the sync is marked done,
	// in one transaction.
	tx, err = x.db.BeginTx(ctx, nil)
	if err != nil {
		return sum, fmt.Errorf("watch: syncing: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM listings WHERE gen < ?`, gen)
	if err == nil {
		var removed int64
		removed, err = res.RowsAffected()
		sum.Removed = int(removed)
	}
	if err == nil {
		err = x.setState(ctx, tx, genName, strconv.FormatInt(gen, 10))
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM state WHERE name = ?`, syncingName)
	}
	if err == nil {
		err = tx.Commit()
		tx = nil
	}
	if err != nil {
		return sum, fmt.Errorf("watch: syncing: removing the listings dropped: %w", err)
	}
	return sum, nil
}

// SyncPending reports whether a Sync was stopped before it finished.
func (x *Index) SyncPending(ctx context.Context) (bool, error) {
	var n int
	err := x.db.QueryRowContext(ctx, `SELECT count(*) FROM state WHERE name = ?`, syncingName).Scan(&n)
	return n > 0, err
}

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func (x *Index) setState(ctx context.Context, db execer, name, value string) error {
	_, err := db.ExecContext(ctx, `INSERT INTO state (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// stateInt is a state value as a number, 0 if none.
func (x *Index) stateInt(ctx context.Context, name string) (int64, error) {
	var v string
	err := x.db.QueryRowContext(ctx, `SELECT value FROM state WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// unlearnt returns up to limit distinct keys of the listings, after the key
// after (nil: from the first), that no lookup has been recorded for: keys
// whose maker the index does not know yet.
func (x *Index) unlearnt(ctx context.Context, after *client.ProductKey, limit int) ([]client.ProductKey, error) {
	const notLearnt = `NOT EXISTS (SELECT 1 FROM products p WHERE p.gtin = l.gtin AND p.uscc = l.uscc AND p.brand = l.brand AND p.model = l.model)`
	if after == nil {
		return x.queryKeys(ctx, `SELECT DISTINCT gtin, uscc, brand, model FROM listings l WHERE `+notLearnt+`
ORDER BY gtin, uscc, brand, model LIMIT ?`, limit)
	}
	return x.queryKeys(ctx, `SELECT DISTINCT gtin, uscc, brand, model FROM listings l
WHERE (gtin, uscc, brand, model) > (?, ?, ?, ?) AND `+notLearnt+`
ORDER BY gtin, uscc, brand, model LIMIT ?`, string(after.GTIN), string(after.USCC), after.Brand, after.Model, limit)
}
