// Package store is muster's audience store: one SQLite file (the default)
// or one PostgreSQL database (several muster instances share it) holding
// the organisations, sources, drops, each source's snapshot (with the
// versions earlier drops replaced), the merged recipients with their
// groups, suppressions and the history of every change. It is the only
// package that imports the SQLite driver; its sub-package pg the only one
// that imports PostgreSQL's. The logic is written once; dialect.go names
// where the SQL of the two differs.
//
// Reads are methods on Store. Writes that must happen together (a drop's
// apply) go through a Tx, which the pipeline in ingest/ drives: the store
// knows SQL, ingest knows the merge rules.
package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"

	"muster/schema"
	"muster/store/pg"
)

// FileName is the name of the store file inside the data directory.
const FileName = "muster.db"

// Store is an open audience store. It is safe for concurrent use; SQLite
// serialises writers (a second process waits up to the busy timeout), and
// on PostgreSQL the writers of one organisation take its lock in turn.
type Store struct {
	db db
	d  *dialect
	// path is the SQLite file ("" on PostgreSQL); target what Open was
	// given (the file or the URL); idxDir where snapshot index files go.
	path   string
	target string
	idxDir string
	now    func() time.Time
	// upTo stops the migrations at that version (tests of a migration).
	upTo int
	// groups caches groups by id: a group's source and name never change
	// and no group is deleted, so an entry never goes stale.
	groupsMu sync.RWMutex
	groups   map[int64]cachedGroup
	// orgs caches LookupOrg's answers by name (Org values): no organisation
	// is renamed or deleted, so an id found stays right. Every API request
	// looks its organisation up.
	orgs sync.Map
	// reserveReleased and reserveErr: what became of the reserve at open
	// (reserve.go).
	reserveReleased bool
	reserveErr      error
}

// dsn builds the connection string. Every per-connection setting lives here
// so each pooled connection gets it:
//   - WAL with synchronous=FULL: commit returns once the WAL is synced to
//     disk, so a committed drop survives a power loss as well as a crash of
//     the process. That ordering is what the drops' files rely on: a file
//     moves from its spool into archive/ (or rejected/, held/) only after
//     the transaction that decided its drop has committed, hence is on
//     disk; if the machine loses power before the move reaches the disk,
//     the file is found in the spool on start and processed again, and its
//     content hash makes it a duplicate of the applied drop. With NORMAL
//     the last commits could be lost while their files already sat in
//     archive/: drops gone without a trace. FULL costs one sync of the WAL
//     per commit, and muster commits a few transactions per drop (the
//     cost is measured by BenchmarkCommit).
//   - foreign keys on, a busy timeout of a minute so a second writer waits
//     (a million-row apply holds the write lock for seconds) instead of
//     failing, and BEGIN IMMEDIATE so a write transaction takes the write
//     lock up front (no deadlock upgrading a read lock).
//   - an 8 MiB page cache: an apply writes in key order (changes come
//     sorted), so it touches each page of an index about once; more cache
//     only holds pages longer (64 MiB measured no faster at a million
//     rows) and adds to the process's memory.
//   - no connection mutex (SQLITE_OPEN_NOMUTEX): database/sql hands a
//     connection to one goroutine at a time, and go-sqlite3's one call from
//     another goroutine, sqlite3_interrupt on a cancelled context, is safe
//     on any thread. With the mutex every step and every column read takes
//     and drops it: 16-19% of reading a row (an export, a page).
func dsn(path string, o Options) string {
	v := url.Values{}
	v.Set("_journal_mode", "WAL")
	sync := "FULL"
	if o.synchronous != "" {
		sync = o.synchronous
	}
	v.Set("_synchronous", sync)
	v.Set("_foreign_keys", "on")
	v.Set("_busy_timeout", strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10))
	v.Set("_txlock", "immediate")
	v.Set("_cache_size", "-8192")
	v.Set("_mutex", "no")
	v.Set("_stmt_cache_size", "32")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}

// Open opens the store at target: a SQLite file (created if needed, its
// schema brought up to date) or a postgres:// URL (see OpenWith). It
// refuses a store written by a newer muster.
func Open(ctx context.Context, target string) (*Store, error) {
	return OpenWith(ctx, target, Options{})
}

// Options tune how a store is opened; the zero value gives the defaults.
type Options struct {
	// BusyTimeout is how long a writer waits for another one to finish
	// before failing with "database is locked". Zero means a minute.
	// (SQLite; PostgreSQL writers wait for each other's locks.)
	BusyTimeout time.Duration
	// Migrate brings a PostgreSQL schema up to date. Without it a
	// database whose schema is older than this muster is refused (`muster
	// store migrate` is explicit where several instances share the
	// database). A SQLite file is always brought up to date.
	Migrate bool
	// Inspect opens the store as it is, whatever its schema version but a
	// newer one, and migrates nothing (even a SQLite file): `muster store
	// migrate` then says what Migrate applies.
	Inspect bool
	// IndexDir is where snapshot index files (a cache) are kept: by
	// default beside a SQLite file, and for PostgreSQL in the system's
	// temporary folder.
	IndexDir string
	// synchronous overrides synchronous=FULL: BenchmarkCommit measures
	// what FULL costs against NORMAL.
	synchronous string
	// upTo stops the migrations at that version (tests of a migration).
	upTo int
	// Reserve keeps a reserve file of ReserveSize bytes beside a SQLite
	// store, given up when the disk is too full to open the store
	// (reserve.go). For the daemon; tools opening a store need none.
	Reserve bool
}

// IsURL reports whether target names a PostgreSQL database rather than a
// SQLite file.
func IsURL(target string) bool { return pg.IsURL(target) }

// driverName is go-sqlite3's driver with muster's SQL functions:
// muster_fold(text), schema.Fold in SQL, for searches that must match
// letters beyond ASCII whatever their case (SQLite's lower() and LIKE fold
// ASCII only).
const driverName = "sqlite3_muster"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// The WAL outlives the last connection (walreuse.go).
		if err := c.SetFileControlInt("main", sqlite3.SQLITE_FCNTL_PERSIST_WAL, 1); err != nil {
			return fmt.Errorf("keep the WAL: %w", err)
		}
		return c.RegisterFunc("muster_fold", schema.Fold, true)
	}})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, target string, o Options) (*Store, error) {
	if pg.IsURL(target) {
		return openPostgres(ctx, target, o)
	}
	path := target
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = time.Minute
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	s, err := openSQLite(ctx, path, o)
	if err != nil && o.Reserve && noSpace(err) {
		released, rerr := releaseReserve(path)
		if released {
			s, err = openSQLite(ctx, path, o)
			if s != nil {
				s.reserveReleased = true
			}
		} else if rerr != nil {
			err = fmt.Errorf("%w (and the store's reserve could not be removed: %v)", err, rerr)
		}
	}
	if err != nil {
		return nil, err
	}
	if o.Reserve && !s.reserveReleased {
		s.reserveErr = keepReserve(path)
	}
	return s, nil
}

// openSQLite opens the SQLite file at path and brings its schema up to
// date.
func openSQLite(ctx context.Context, path string, o Options) (*Store, error) {
	sdb, err := sql.Open(driverName, dsn(path, o))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Connections are cheap to keep; a few let reads run beside a writer.
	sdb.SetMaxOpenConns(4)
	sdb.SetMaxIdleConns(4)
	sdb.SetConnMaxIdleTime(0)
	s := &Store{db: db{sdb, sqliteDialect}, d: sqliteDialect, path: path, target: path,
		idxDir: cmp.Or(o.IndexDir, path+"-index"), now: time.Now, upTo: o.upTo}
	if err := s.openSchema(ctx, true, o.Inspect); err != nil {
		sdb.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error {
	if s.db.DB == nil {
		return nil
	}
	if !s.d.postgres {
		// The WAL is kept for the next process, restarted; a passive
		// checkpoint then copies what is left of it.
		s.restartWAL()
		_, _ = s.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
	return s.db.Close()
}

// Path returns the store file's path ("" for a PostgreSQL store).
func (s *Store) Path() string { return s.path }

// Target returns what Open was given: the file, or the URL (which may hold
// a password: never print it, print String).
func (s *Store) Target() string { return s.target }

// Backend names the store's database: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// String names the store for people: its file, or its URL without the
// password.
func (s *Store) String() string {
	if s.d.postgres {
		return pg.Redact(s.target)
	}
	return s.path
}

// SetClock replaces the store's clock (tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

func (s *Store) timestamp() string { return s.now().UTC().Format(time.RFC3339Nano) }

// Org is an organisation: everything else belongs to exactly one.
type Org struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// EnsureOrg returns the organisation with the given name, creating it.
func (s *Store) EnsureOrg(ctx context.Context, name string) (Org, error) {
	if name == "" {
		name = schema.DefaultOrg
	}
	var o Org
	err := s.db.QueryRowContext(ctx, `INSERT INTO orgs(name) VALUES(?)
		ON CONFLICT(name) DO UPDATE SET name=excluded.name RETURNING id, name`, name).Scan(&o.ID, &o.Name)
	if err != nil {
		return Org{}, fmt.Errorf("org %q: %w", name, err)
	}
	return o, nil
}

// LookupOrg returns the organisation with the given name, or ENotFound.
func (s *Store) LookupOrg(ctx context.Context, name string) (Org, error) {
	if name == "" {
		name = schema.DefaultOrg
	}
	if o, ok := s.orgs.Load(name); ok {
		return o.(Org), nil
	}
	var o Org
	err := s.db.QueryRowContext(ctx, `SELECT id, name FROM orgs WHERE name=?`, name).Scan(&o.ID, &o.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return Org{}, schema.Errorf(schema.ENotFound, "no organisation %q", name)
	}
	if err != nil {
		return Org{}, fmt.Errorf("org %q: %w", name, err)
	}
	s.orgs.Store(name, o)
	return o, nil
}

// isConstraint reports whether err is a constraint violation.
func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint || pg.IsConstraint(err)
}

// isBusy reports whether err is the database saying another writer holds
// a lock it needs (or, on PostgreSQL, another transient refusal).
func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) || pg.IsBusy(err)
}

// wrapErr maps driver errors to the error vocabulary.
func wrapErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	switch {
	case isBusy(err):
		return schema.WrapError(schema.EUnavailable, err, "%s: the store is busy", msg)
	case isConstraint(err):
		return schema.WrapError(schema.EConflict, err, "%s", msg)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// Digest returns a hash of the audience state: every source's snapshot and
// position (a source nothing was applied to holds nothing and is left
// out), every recipient, tombstone and lift. Two stores with
// the same digest hold the same audience; crash tests compare it with the
// state before and after a drop.
func (s *Store) Digest(ctx context.Context) (string, error) {
	h := sha256.New()
	for _, q := range []string{
		// Whether a source is removed is audience state; when is not.
		`SELECT org_id, name, seq, rows, CASE WHEN removed_at IS NULL THEN 0 ELSE 1 END FROM sources WHERE seq > 0 ORDER BY org_id, name`,
		`SELECT source_id, key, seq, line, hash, status, data FROM snapshot ORDER BY source_id, key`,
		`SELECT source_id, key, seq, until_seq, hash FROM snapshot_history ORDER BY source_id, key, seq`,
		`SELECT org_id, key, coalesce(nullif(email, ''), key), first_name, last_name, coalesce(attrs, ''), status, group_ids, created_seq, updated_seq
			FROM recipients ORDER BY org_id, key`,
		`SELECT org_id, source_id, key, seq FROM tombstones ORDER BY source_id, key`,
		`SELECT org_id, key, source_id, say FROM lifts ORDER BY org_id, key, source_id`,
	} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			return "", wrapErr(err, "digest")
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", wrapErr(err, "digest")
			}
			fmt.Fprintf(h, "%v\n", vals)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", wrapErr(err, "digest")
		}
		h.Write([]byte("--\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
