package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"muster/schema"
)

// SourceKind says where a source's drops come from.
type SourceKind string

// Source kinds.
const (
	KindCSV    SourceKind = "csv"    // files given to `muster ingest`
	KindFolder SourceKind = "folder" // a watched drop folder
	KindSFTP   SourceKind = "sftp"   // an SFTP account's inbox
	KindWorkOS SourceKind = "workos" // a WorkOS directory
	KindManual SourceKind = "manual" // people added by hand
	KindSCIM   SourceKind = "scim"   // users and groups an IdP pushes over SCIM 2.0
)

// Directory reports whether the kind is a directory (WorkOS, SCIM): while a
// directory source lists a person, their identity comes from directory
// sources (merge rule 2).
func (k SourceKind) Directory() bool { return k == KindWorkOS || k == KindSCIM }

// Mode says whether a source's drops are full snapshots or deltas.
type Mode string

// Modes.
const (
	// ModeFull: each drop lists everyone; who is missing is removed.
	ModeFull Mode = "full"
	// ModeDelta: each drop lists explicit upserts and removals.
	ModeDelta Mode = "delta"
)

// Defaults of the guards (README: Design, safety rules).
const (
	DefaultMaxRemovePercent  = 20.0
	DefaultMaxRemoveCount    = 500
	DefaultMaxInvalidPercent = 2.0
)

// SourceConfig is everything configurable about a source. Command-line
// flags and the config file both fill it; the store keeps the last one used.
type SourceConfig struct {
	Name string     `json:"name"`
	Kind SourceKind `json:"kind"`
	Mode Mode       `json:"mode"`
	// Priority decides attribute precedence (merge rule 3): higher wins.
	Priority int `json:"priority"`
	// Authoritative sources offboard people they mark inactive or delete
	// (merge rule 5).
	Authoritative bool `json:"authoritative"`
	// MaxRemovePercent and MaxRemoveCount hold a full snapshot that would
	// remove more than that share or number of the source's people. Zero
	// means the default; a negative value disables the check.
	MaxRemovePercent float64 `json:"max_remove_percent"`
	MaxRemoveCount   int     `json:"max_remove_count"`
	// MaxInvalidPercent rejects a drop whose invalid rows exceed that share
	// of its rows. Zero means the default; negative: never reject.
	MaxInvalidPercent float64 `json:"max_invalid_percent"`
	// Attrs is the attribute allowlist (merge rule 6): values of other
	// optional attributes are dropped before anything is stored.
	Attrs schema.AttrSet `json:"attrs"`
}

// WithDefaults returns c with zero fields given their defaults. WorkOS
// directories are authoritative by default (merge rule 5, README: Design), which
// a caller that means otherwise sets after.
func (c SourceConfig) WithDefaults() SourceConfig {
	if c.Kind == "" {
		c.Kind = KindCSV
	}
	if c.Mode == "" {
		c.Mode = ModeFull
		if c.Kind == KindManual {
			c.Mode = ModeDelta
		}
	}
	if c.MaxRemovePercent == 0 {
		c.MaxRemovePercent = DefaultMaxRemovePercent
	}
	if c.MaxRemoveCount == 0 {
		c.MaxRemoveCount = DefaultMaxRemoveCount
	}
	if c.MaxInvalidPercent == 0 {
		c.MaxInvalidPercent = DefaultMaxInvalidPercent
	}
	return c
}

// Validate checks the config; its errors name the field.
func (c SourceConfig) Validate() error {
	name := strings.TrimSpace(c.Name)
	switch {
	case name == "":
		return schema.Errorf(schema.EInvalid, "source: name is empty")
	case name != c.Name || strings.ContainsAny(name, "\x00\n\r"):
		return schema.Errorf(schema.EInvalid, "source %q: name has surrounding spaces or control characters", c.Name)
	}
	switch c.Kind {
	case KindCSV, KindFolder, KindSFTP, KindWorkOS, KindManual, KindSCIM:
	default:
		return schema.Errorf(schema.EInvalid, "source %q: kind %q is not one of csv, folder, sftp, workos, manual, scim", c.Name, c.Kind)
	}
	if c.Mode != ModeFull && c.Mode != ModeDelta {
		return schema.Errorf(schema.EInvalid, "source %q: mode %q is not full or delta", c.Name, c.Mode)
	}
	if c.MaxRemovePercent > 100 {
		return schema.Errorf(schema.EInvalid, "source %q: max_remove_percent %g is over 100", c.Name, c.MaxRemovePercent)
	}
	if c.MaxInvalidPercent > 100 {
		return schema.Errorf(schema.EInvalid, "source %q: max_invalid_percent %g is over 100", c.Name, c.MaxInvalidPercent)
	}
	return nil
}

// Source is a source as stored.
type Source struct {
	SourceConfig
	ID    int64 `json:"id"`
	OrgID int64 `json:"org_id"`
	// Seq is the seq of the drop whose result is the current snapshot.
	Seq int64 `json:"seq"`
	// Rows is the number of people in the current snapshot.
	Rows      int64  `json:"rows"`
	CreatedAt string `json:"created_at"`
	RemovedAt string `json:"removed_at,omitempty"`
	// SnapshotToken names the state of the snapshot (see snapindex.go).
	SnapshotToken int64 `json:"-"`
}

const sourceCols = `id, org_id, name, kind, mode, priority, authoritative, max_remove_percent,
	max_remove_count, max_invalid_percent, attrs, seq, rows, created_at, coalesce(removed_at, ''), snapshot_token`

func scanSource(sc interface{ Scan(...any) error }) (Source, error) {
	var s Source
	err := sc.Scan(&s.ID, &s.OrgID, &s.Name, &s.Kind, &s.Mode, &s.Priority, &s.Authoritative,
		&s.MaxRemovePercent, &s.MaxRemoveCount, &s.MaxInvalidPercent, &s.Attrs, &s.Seq, &s.Rows,
		&s.CreatedAt, &s.RemovedAt, &s.SnapshotToken)
	return s, err
}

// EnsureSource returns the organisation's source named cfg.Name, creating it
// with cfg or updating its stored settings to cfg. A removed source named
// again comes back (with the empty snapshot its removal left). prev is the
// configuration stored before (zero for a new source): when priority,
// authority or the allowlist changed, merged recipients must be derived
// again, and values of attributes no longer allowed must be scrubbed.
func (s *Store) EnsureSource(ctx context.Context, orgID int64, cfg SourceConfig) (src Source, prev SourceConfig, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return Source{}, prev, err
	}
	tx, err := s.beginOrg(ctx, orgID)
	if err != nil {
		return Source{}, prev, wrapErr(err, "source %q", cfg.Name)
	}
	defer tx.Rollback()
	old, err := scanSource(tx.QueryRowContext(ctx, `SELECT `+sourceCols+` FROM sources WHERE org_id=? AND name=?`, orgID, cfg.Name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO sources(org_id, name, kind, mode, priority, authoritative,
			max_remove_percent, max_remove_count, max_invalid_percent, attrs, created_at)
			VALUES(?,?,?,?,?,?,?,?,?,?,?)`, orgID, cfg.Name, cfg.Kind, cfg.Mode, cfg.Priority, cfg.Authoritative,
			cfg.MaxRemovePercent, cfg.MaxRemoveCount, cfg.MaxInvalidPercent, cfg.Attrs, s.timestamp())
	case err == nil:
		prev = old.SourceConfig
		if old.SourceConfig == cfg && old.RemovedAt == "" {
			return old, prev, nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE sources SET kind=?, mode=?, priority=?, authoritative=?,
			max_remove_percent=?, max_remove_count=?, max_invalid_percent=?, attrs=?, removed_at=NULL
			WHERE id=?`, cfg.Kind, cfg.Mode, cfg.Priority, cfg.Authoritative, cfg.MaxRemovePercent,
			cfg.MaxRemoveCount, cfg.MaxInvalidPercent, cfg.Attrs, old.ID)
	}
	if err != nil {
		return Source{}, prev, wrapErr(err, "source %q", cfg.Name)
	}
	src, err = scanSource(tx.QueryRowContext(ctx, `SELECT `+sourceCols+` FROM sources WHERE org_id=? AND name=?`, orgID, cfg.Name))
	if err != nil {
		return Source{}, prev, wrapErr(err, "source %q", cfg.Name)
	}
	return src, prev, wrapErr(tx.Commit(), "source %q", cfg.Name)
}

// LookupSource returns the organisation's source with that name, or an
// ENotFound error.
func (s *Store) LookupSource(ctx context.Context, orgID int64, name string) (Source, error) {
	src, err := scanSource(s.db.QueryRowContext(ctx, `SELECT `+sourceCols+` FROM sources WHERE org_id=? AND name=?`, orgID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Source{}, schema.Errorf(schema.ENotFound, "no source %q", name)
	}
	return src, wrapErr(err, "source %q", name)
}

// SourceByID returns the organisation's source with that id.
func (s *Store) SourceByID(ctx context.Context, orgID, id int64) (Source, error) {
	src, err := scanSource(s.db.QueryRowContext(ctx, `SELECT `+sourceCols+` FROM sources WHERE org_id=? AND id=?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Source{}, schema.Errorf(schema.ENotFound, "no source %d", id)
	}
	return src, wrapErr(err, "source %d", id)
}

// Sources lists the organisation's sources by name, removed ones included.
func (s *Store) Sources(ctx context.Context, orgID int64) ([]Source, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sourceCols+` FROM sources WHERE org_id=? ORDER BY name`, orgID)
	if err != nil {
		return nil, wrapErr(err, "list sources")
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		src, err := scanSource(rows)
		if err != nil {
			return nil, wrapErr(err, "list sources")
		}
		out = append(out, src)
	}
	return out, wrapErr(rows.Err(), "list sources")
}

// String names the source for messages.
func (s Source) String() string { return fmt.Sprintf("%s (%s, %s)", s.Name, s.Kind, s.Mode) }
