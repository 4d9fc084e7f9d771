package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"muster/schema"
)

// Assertion is what one source says about one person: a row of its
// snapshot. Values are already filtered by the source's allowlist.
type Assertion struct {
	SourceID  int64         `json:"source_id"`
	Key       string        `json:"key"`
	Email     string        `json:"email"`
	FirstName string        `json:"first_name,omitempty"`
	LastName  string        `json:"last_name,omitempty"`
	Status    schema.Status `json:"status"`
	UID       string        `json:"uid,omitempty"`
	Groups    []string      `json:"groups,omitempty"`
	Attrs     schema.Attrs  `json:"-"`
	// Line is where the row was in its drop's file (0: not from a file).
	Line int `json:"line,omitempty"`
	// Hash is the content hash of the values above (not Line).
	Hash uint64 `json:"-"`
	// Seq and DropID name the drop that asserted this version.
	Seq    int64 `json:"seq"`
	DropID int64 `json:"drop_id"`
	// UntilSeq is, for a replaced version, the seq of the drop that replaced
	// or removed it; 0 for the current one.
	UntilSeq int64 `json:"until_seq,omitempty"`
}

// sep separates list items in one column: it cannot occur in a decoded
// value (schema strips control characters) and keeps rows small.
const sep = "\x1f"

func joinList(v []string) string { return strings.Join(v, sep) }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// encodeAttrs stores the optional attributes as one column, NULL when none
// is set (the default allowlist keeps none).
func encodeAttrs(a *schema.Attrs) any {
	if attrsEmpty(a) {
		return nil
	}
	return strings.Join(a[:], sep)
}

// attrsEmpty reports whether every attribute is empty (stored as NULL).
func attrsEmpty(a *schema.Attrs) bool {
	for _, v := range a {
		if v != "" {
			return false
		}
	}
	return true
}

func decodeAttrs(s sql.NullString) (a schema.Attrs) {
	if !s.Valid {
		return a
	}
	for i, v := range strings.SplitN(s.String, sep, int(schema.NumAttrs)) {
		a[i] = v
	}
	return a
}

// encodeData packs an assertion's values into the data column:
// length-prefixed strings (the email empty when it equals the key), the
// number of groups and each, then the attributes set as (index, value).
func encodeData(a *Assertion) []byte {
	return appendData(make([]byte, 0, 64), a)
}

// appendData appends encodeData(a) to b.
func appendData(b []byte, a *Assertion) []byte {
	email := a.Email
	if email == a.Key {
		email = ""
	}
	for _, v := range []string{email, a.FirstName, a.LastName, a.UID} {
		b = appendStr(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(a.Groups)))
	for _, g := range a.Groups {
		b = appendStr(b, g)
	}
	for i, v := range a.Attrs {
		if v != "" {
			b = append(b, byte(i))
			b = appendStr(b, v)
		}
	}
	return b
}

func appendStr(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func readStr(b []byte) (string, []byte, bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return "", nil, false
	}
	return string(b[n : n+int(l)]), b[n+int(l):], true
}

// decodeData unpacks encodeData into a, whose Key is set.
func decodeData(a *Assertion, b []byte) error {
	bad := fmt.Errorf("snapshot row %q: corrupt data", a.Key)
	var ok bool
	for _, p := range []*string{&a.Email, &a.FirstName, &a.LastName, &a.UID} {
		if *p, b, ok = readStr(b); !ok {
			return bad
		}
	}
	if a.Email == "" {
		a.Email = a.Key
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return bad
	}
	b = b[k:]
	a.Groups = nil
	for i := uint64(0); i < n; i++ {
		var g string
		if g, b, ok = readStr(b); !ok {
			return bad
		}
		a.Groups = append(a.Groups, g)
	}
	for len(b) > 0 {
		i := b[0]
		if i >= byte(schema.NumAttrs) {
			return bad
		}
		if a.Attrs[i], b, ok = readStr(b[1:]); !ok {
			return bad
		}
	}
	return nil
}

var assertionCols = assertionColsOf("")

type scanner interface{ Scan(...any) error }

func scanAssertion(sc scanner, extra ...any) (Assertion, error) {
	var a Assertion
	var hash int64
	var data []byte
	dest := []any{&a.SourceID, &a.Key, &a.Seq, &a.DropID, &a.Line, &hash, &a.Status, &data}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return a, err
	}
	a.Hash = uint64(hash)
	return a, decodeData(&a, data)
}

func assertionArgs(a *Assertion) []any {
	return []any{a.SourceID, a.Key, a.Seq, a.DropID, a.Line, int64(a.Hash), a.Status, encodeData(a)}
}

// SnapshotHashes calls fn with the key, content hash and status of every
// row of the source's current snapshot, in key order: all a diff needs. The
// key is valid only during the call: fn must copy what it keeps.
//
// Rows come back as one text per hashPage rows, joined by SQLite itself: a
// million rows read one by one cost a million round trips through cgo,
// which took longer than decoding the file they are compared with.
func (s *Store) SnapshotHashes(ctx context.Context, sourceID int64, fn func(key string, hash uint64, st schema.Status)) error {
	if s.d.postgres {
		return s.snapshotHashRows(ctx, sourceID, fn)
	}
	const hashPage = 20000
	after := ""
	for {
		var page sql.NullString
		var last sql.NullString
		err := s.db.QueryRowContext(ctx, `SELECT group_concat(key || char(31) || hash || char(31) || status, char(30)), max(key)
			FROM (SELECT key, hash, status FROM snapshot WHERE source_id=? AND key>? ORDER BY key LIMIT ?)`,
			sourceID, after, hashPage).Scan(&page, &last)
		if err != nil {
			return wrapErr(err, "read snapshot")
		}
		if !page.Valid {
			return nil
		}
		rest := page.String
		for rest != "" {
			row := rest
			if i := strings.IndexByte(rest, 30); i >= 0 {
				row, rest = rest[:i], rest[i+1:]
			} else {
				rest = ""
			}
			key, tail, ok1 := strings.Cut(row, "\x1f")
			hash, status, ok2 := strings.Cut(tail, "\x1f")
			h, err1 := strconv.ParseInt(hash, 10, 64)
			st, err2 := strconv.Atoi(status)
			if !ok1 || !ok2 || err1 != nil || err2 != nil {
				return fmt.Errorf("read snapshot: malformed row %q", row)
			}
			fn(key, uint64(h), schema.Status(st))
		}
		after = last.String
	}
}

// snapshotHashRows is SnapshotHashes on PostgreSQL: rows as they come (no
// cgo to cross, and pgx reads them in binary).
func (s *Store) snapshotHashRows(ctx context.Context, sourceID int64, fn func(key string, hash uint64, st schema.Status)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT key, hash, status FROM snapshot WHERE source_id=? ORDER BY key`, sourceID)
	if err != nil {
		return wrapErr(err, "read snapshot")
	}
	defer rows.Close()
	var key sql.RawBytes
	var h int64
	var st schema.Status
	for rows.Next() {
		if err := rows.Scan(&key, &h, &st); err != nil {
			return wrapErr(err, "read snapshot")
		}
		fn(string(key), uint64(h), st)
	}
	return wrapErr(rows.Err(), "read snapshot")
}

// SnapshotRow returns the content hash of the source's row for key.
func (s *Store) SnapshotRow(ctx context.Context, sourceID int64, key string) (hash uint64, found bool, err error) {
	var h int64
	err = s.db.QueryRowContext(ctx, `SELECT hash FROM snapshot WHERE source_id=? AND key=?`, sourceID, key).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(h), err == nil, wrapErr(err, "read snapshot")
}

// SnapshotAssertion returns the source's current row for key, or ENotFound.
func (s *Store) SnapshotAssertion(ctx context.Context, sourceID int64, key string) (Assertion, error) {
	a, err := scanAssertion(s.db.QueryRowContext(ctx, `SELECT `+assertionCols+` FROM snapshot WHERE source_id=? AND key=?`, sourceID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Assertion{}, schema.Errorf(schema.ENotFound, "source %d does not list %q", sourceID, key)
	}
	return a, wrapErr(err, "read snapshot")
}

// Snapshot calls fn with every row of the source's current snapshot, in key
// order.
func (s *Store) Snapshot(ctx context.Context, sourceID int64, fn func(Assertion) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+assertionCols+` FROM snapshot WHERE source_id=? ORDER BY key`, sourceID)
	if err != nil {
		return wrapErr(err, "read snapshot")
	}
	return eachAssertion(rows, fn)
}

// SnapshotAt calls fn, in key order, with every row of the source's snapshot
// as it was right after the drop with the given seq was applied: current
// rows asserted by then, and replaced versions that were current then.
func (s *Store) SnapshotAt(ctx context.Context, sourceID, seq int64, fn func(Assertion) error) error {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+assertionCols+` FROM snapshot WHERE source_id=?1 AND seq<=?2
		UNION ALL
		SELECT `+assertionCols+` FROM snapshot_history WHERE source_id=?1 AND seq<=?2 AND until_seq>?2
		ORDER BY key`, sourceID, seq)
	if err != nil {
		return wrapErr(err, "read snapshot at seq %d", seq)
	}
	return eachAssertion(rows, fn)
}

func eachAssertion(rows *sql.Rows, fn func(Assertion) error) error {
	defer rows.Close()
	for rows.Next() {
		a, err := scanAssertion(rows)
		if err != nil {
			return wrapErr(err, "read snapshot")
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return wrapErr(rows.Err(), "read snapshot")
}

// Assertions returns every current assertion about key by the
// organisation's sources, highest priority first.
func (s *Store) Assertions(ctx context.Context, orgID int64, key string) ([]Assertion, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+assertionColsOf("a.")+` FROM snapshot a
		JOIN sources s ON s.id=a.source_id WHERE s.org_id=? AND a.key=? ORDER BY s.priority DESC, a.seq DESC`, orgID, key)
	if err != nil {
		return nil, wrapErr(err, "assertions")
	}
	var out []Assertion
	err = eachAssertion(rows, func(a Assertion) error { out = append(out, a); return nil })
	return out, err
}

// assertionColsOf is assertionCols qualified with a table alias.
func assertionColsOf(t string) string {
	return t + `source_id, ` + t + `key, ` + t + `seq, ` + t + `drop_id, ` + t + `line, ` + t + `hash, ` +
		t + `status, ` + t + `data`
}
