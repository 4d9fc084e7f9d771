package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"muster/schema"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order. Their names are
// NNNN_what.sql; the number is the version recorded in the store.
func migrations() ([]migration, error) {
	ents, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		// Two branches each adding the next number would skip one silently.
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// SchemaVersion is the newest schema version this binary knows.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate applies the migrations the store has not recorded yet (up to
// version upTo, 0: all), each in its own transaction with its record, and
// refuses a store newer than this binary.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return wrapErr(err, "migrations table")
	}
	latest := ms[len(ms)-1].version
	current, err := s.schemaVersion(ctx, s.db)
	if err != nil {
		return err
	}
	if current > latest {
		return schema.Errorf(schema.EInvalid,
			"store %s has schema version %d, newer than this muster knows (%d): use a newer muster", s.path, current, latest)
	}
	for _, m := range ms {
		if m.version <= current || upTo > 0 && m.version > upTo {
			continue
		}
		if err := s.applyMigration(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) schemaVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM migrations`).Scan(&v); err != nil {
		return 0, wrapErr(err, "read schema version")
	}
	return v, nil
}

// applyMigration runs one migration and records it in one transaction. The
// version is read again under the write lock, so two processes opening a
// new store at once do not both run it.
func (s *Store) applyMigration(ctx context.Context, m migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "migration %s", m.name)
	}
	defer tx.Rollback()
	current, err := s.schemaVersion(ctx, tx)
	if err != nil || current >= m.version {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return wrapErr(err, "migration %s", m.name)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations(version, name, applied_at) VALUES(?,?,?)`,
		m.version, m.name, s.timestamp()); err != nil {
		return wrapErr(err, "record migration %s", m.name)
	}
	return wrapErr(tx.Commit(), "migration %s", m.name)
}
