package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"muster/schema"
)

// Each backend has its own numbered migrations, in step: migration N of
// SQLite (migrations/NNNN_what.sql) and of PostgreSQL
// (migrations/postgres/NNNN_what.sql) make the same schema, each in its
// database's SQL (TestMigrationsInStep checks that both sets have the same
// numbers and names).
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrationsDir is where the dialect's migrations are.
func (d *dialect) migrationsDir() string {
	if d.postgres {
		return "migrations/postgres"
	}
	return "migrations"
}

// migrations returns the embedded migrations of the default backend
// (SQLite) in order.
func migrations() ([]migration, error) { return sqliteDialect.migrations() }

// migrations returns the dialect's embedded migrations in order. Their
// names are NNNN_what.sql; the number is the version recorded in the store.
func (d *dialect) migrations() ([]migration, error) {
	dir := d.migrationsDir()
	ents, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
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

// MigrationState is where a store's schema stands against this binary.
type MigrationState struct {
	// Current is the store's schema version, Latest the binary's.
	Current, Latest int
	// Applied lists the migrations a Migrate call applied.
	Applied []string
}

// openSchema checks (and with apply, brings up to date) the schema of a
// store being opened; inspect only refuses a newer one.
func (s *Store) openSchema(ctx context.Context, apply, inspect bool) error {
	if inspect {
		st, err := s.migrateState(ctx, false)
		if err != nil && st.Current > st.Latest {
			return err
		}
		return nil
	}
	return s.migrate(ctx, apply)
}

// SchemaState says where the store's schema stands against this binary.
func (s *Store) SchemaState(ctx context.Context) (MigrationState, error) {
	ms, err := s.d.migrations()
	if err != nil {
		return MigrationState{}, err
	}
	st := MigrationState{Latest: ms[len(ms)-1].version}
	st.Current, err = s.schemaVersion(ctx, s.db)
	return st, err
}

// migrate refuses a store newer than this binary and, with apply, applies
// the migrations the store has not recorded yet, all in one transaction
// with their records (applyMigrations); without apply an older store is
// refused.
func (s *Store) migrate(ctx context.Context, apply bool) error {
	_, err := s.migrateState(ctx, apply)
	return err
}

func (s *Store) migrateState(ctx context.Context, apply bool) (MigrationState, error) {
	var st MigrationState
	ms, err := s.d.migrations()
	if err != nil {
		return st, fmt.Errorf("migrations: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return st, wrapErr(err, "migrations table")
	}
	st.Latest = ms[len(ms)-1].version
	if st.Current, err = s.schemaVersion(ctx, s.db); err != nil {
		return st, err
	}
	if st.Current > st.Latest {
		return st, schema.Errorf(schema.EInvalid,
			"store %s has schema version %d, newer than this muster knows (%d): use a newer muster", s, st.Current, st.Latest)
	}
	if st.Current < st.Latest && !apply {
		return st, schema.Errorf(schema.EInvalid,
			"store %s has schema version %d, older than this muster's (%d): run `muster store migrate` (once, from one instance)",
			s, st.Current, st.Latest)
	}
	var pending []migration
	for _, m := range ms {
		if m.version <= st.Current || s.upTo > 0 && m.version > s.upTo {
			continue
		}
		pending = append(pending, m)
	}
	if len(pending) > 0 {
		if st.Applied, err = s.applyMigrations(ctx, pending); err != nil {
			return st, err
		}
	}
	if len(st.Applied) > 0 {
		st.Current = st.Latest
	}
	return st, nil
}

// Migrate brings the store's schema up to date and says what it did:
// `muster store migrate`. A store newer than this binary is refused.
func (s *Store) Migrate(ctx context.Context) (MigrationState, error) {
	return s.migrateState(ctx, true)
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

// applyMigrations runs the migrations ms, in order, and records them, in
// one transaction: a new store's schema (or an upgrade's) commits at once,
// with one sync of the WAL instead of one a migration (13 of them made a
// first ingest into a new store wait some 0.1 s for the disk), and an
// upgrade that fails half way leaves the store as it was. The version is
// read again under the write lock (PostgreSQL: a global advisory lock), so
// two processes opening a new store at once do not both run one; the
// migrations another process applied meanwhile are skipped.
func (s *Store) applyMigrations(ctx context.Context, ms []migration) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrapErr(err, "migration %s", ms[0].name)
	}
	defer tx.Rollback()
	if err := tx.lock(ctx, lockNSGlobal, 0); err != nil {
		return nil, wrapErr(err, "migration %s", ms[0].name)
	}
	current, err := s.schemaVersion(ctx, tx)
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		if current >= m.version {
			continue
		}
		// Not rebound: a migration has no placeholders, and PostgreSQL's
		// function bodies are quoted with $$.
		if _, err := tx.Tx.ExecContext(ctx, m.sql); err != nil {
			return nil, wrapErr(err, "migration %s", m.name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO migrations(version, name, applied_at) VALUES(?,?,?)`,
			m.version, m.name, s.timestamp()); err != nil {
			return nil, wrapErr(err, "record migration %s", m.name)
		}
		applied = append(applied, m.name)
	}
	if err := tx.Commit(); err != nil {
		return nil, wrapErr(err, "migration %s", ms[len(ms)-1].name)
	}
	return applied, nil
}
