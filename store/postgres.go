package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"time"

	"muster/schema"
	"muster/store/pg"
)

// openPostgres opens the store in the PostgreSQL database at url. Its
// schema is brought up to date only with o.Migrate (see Options).
func openPostgres(ctx context.Context, url string, o Options) (*Store, error) {
	sdb, err := pg.Open(ctx, url)
	if err != nil {
		return nil, schema.WrapError(schema.EUnavailable, err, "open store")
	}
	dir := o.IndexDir
	if dir == "" {
		// A cache: any folder will do, one per database so two stores do
		// not race on the same files (a file is only used when its token
		// matches the store's, so a wrong one is never used anyway).
		h := sha256.Sum256([]byte(pg.Redact(url)))
		dir = filepath.Join(os.TempDir(), "muster-index-"+hex.EncodeToString(h[:6]))
	}
	s := &Store{db: db{sdb, postgresDialect}, d: postgresDialect, target: url, idxDir: dir, now: time.Now, upTo: o.upTo}
	if err := s.openSchema(ctx, o.Migrate, o.Inspect); err != nil {
		sdb.Close()
		return nil, err
	}
	if o.Inspect {
		return s, nil
	}
	if err := s.checkFold(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return s, nil
}

// checkFold makes sure the database folds case beyond ASCII, as
// schema.Fold does: a database whose LC_CTYPE is C folds only ASCII, and
// a search for Özil would then miss özil.
func (s *Store) checkFold(ctx context.Context) error {
	var got string
	const probe = "ÖZIL E\u0301"
	if err := s.db.QueryRowContext(ctx, `SELECT muster_fold(?)`, probe).Scan(&got); err != nil {
		return wrapErr(err, "check case folding")
	}
	if want := schema.Fold(probe); got != want {
		return schema.Errorf(schema.EInvalid, "database of %s folds %q to %q, not %q: its LC_CTYPE must be a UTF-8 locale "+
			"(CREATE DATABASE ... LC_CTYPE 'C.UTF-8' TEMPLATE template0)", s, probe, got, want)
	}
	return nil
}
