package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"muster/schema"
)

// Tx is one write transaction on an organisation: a drop's apply, a
// rollback, a source's removal, an approval, a lifted suppression. Its
// methods are the building blocks ingest/ uses to apply the merge rules;
// nothing is visible to others until Commit. Every method is scoped to the
// organisation the Tx was begun for.
type Tx struct {
	s     *Store
	ctx   context.Context
	tx    *txn // on a connection of its own (tx.conn)
	bulk  bulkWriter
	org   int64
	stmts map[string]*sql.Stmt
	group map[groupKey]int64
	// reused by the bulk statements
	bulkArgs []any
	// tokens holds the sources whose snapshot rows the transaction wrote,
	// with the snapshot token to record for each (0: draw one at commit).
	tokens map[int64]int64
}

type groupKey struct {
	source int64
	name   string
}

// Begin starts a write transaction on the organisation. It takes the write
// lock at once: SQLite's (BEGIN IMMEDIATE), waiting up to the busy
// timeout; on PostgreSQL the organisation's, waiting for its other writers
// (whatever instance runs them) as long as ctx allows. A recipient merges
// what every source of its organisation says, so one organisation's
// writes go one at a time, as on SQLite; other organisations' go beside.
func (s *Store) Begin(ctx context.Context, orgID int64) (*Tx, error) {
	tx, err := s.beginOrg(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return &Tx{s: s, ctx: ctx, tx: tx, org: orgID, stmts: map[string]*sql.Stmt{}, group: map[groupKey]int64{},
		tokens: map[int64]int64{}}, nil
}

// beginOrg starts a write transaction holding the organisation's lock.
func (s *Store) beginOrg(ctx context.Context, orgID int64) (*txn, error) {
	tx, err := s.db.beginWrite(ctx)
	if err != nil {
		return nil, wrapErr(err, "begin")
	}
	if err := tx.lock(ctx, lockNSOrg, orgID); err != nil {
		tx.Rollback()
		return nil, wrapErr(err, "begin: lock organisation %d", orgID)
	}
	if !s.d.postgres && s.path != "" {
		tx.writeback = startWriteback(s.path, s.path+"-wal")
	}
	return tx, nil
}

// Commit makes everything done in the transaction durable at once.
func (t *Tx) Commit() error {
	if err := t.saveTokens(); err != nil {
		return err
	}
	if err := t.tx.flush(); err != nil {
		return wrapErr(err, "commit")
	}
	t.closeStmts()
	return wrapErr(t.tx.Commit(), "commit")
}

// Rollback abandons the transaction; it is safe after Commit.
func (t *Tx) Rollback() error {
	t.closeStmts()
	err := t.tx.Rollback()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// touch records that the transaction writes the source's snapshot rows:
// its snapshot token changes at commit, so no index file of the state
// before is used again. Every method writing snapshot rows calls it.
func (t *Tx) touch(sourceID int64) {
	if _, ok := t.tokens[sourceID]; !ok {
		t.tokens[sourceID] = 0
	}
}

// NewSnapshotToken draws the snapshot token the source gets when the
// transaction commits, so that an index file of the state the transaction
// leaves can be written under it before (see snapindex.go).
func (t *Tx) NewSnapshotToken(sourceID int64) int64 {
	tok := newToken()
	t.tokens[sourceID] = tok
	return tok
}

// saveTokens records a new snapshot token for each source whose snapshot
// the transaction wrote.
func (t *Tx) saveTokens() error {
	for id, tok := range t.tokens {
		if tok == 0 {
			tok = newToken()
		}
		if _, err := t.exec("snapshot token", `UPDATE sources SET snapshot_token=? WHERE id=? AND org_id=?`, tok, id, t.org); err != nil {
			return err
		}
	}
	clear(t.tokens)
	return nil
}

func newToken() int64 { return rand.Int64N(math.MaxInt64) + 1 }

func (t *Tx) closeStmts() {
	for q, st := range t.stmts {
		st.Close()
		delete(t.stmts, q)
	}
	if t.tx.conn != nil {
		t.bulk.close(t.tx.conn)
	}
}

// OrgID returns the organisation the transaction is scoped to.
func (t *Tx) OrgID() int64 { return t.org }

// Now returns the store's current timestamp text.
func (t *Tx) Now() string { return t.s.timestamp() }

// stmt returns a statement prepared once per transaction: a million-row
// apply runs the same few statements a million times.
func (t *Tx) stmt(q string) (*sql.Stmt, error) {
	if err := t.tx.flush(); err != nil {
		return nil, wrapErr(err, "write rows")
	}
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(t.ctx, q)
	if err != nil {
		return nil, wrapErr(err, "prepare")
	}
	t.stmts[q] = st
	return st, nil
}

func (t *Tx) exec(what, q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(t.ctx, args...)
	return res, wrapErr(err, "%s", what)
}

func (t *Tx) queryRow(q string, args ...any) (*sql.Row, error) {
	st, err := t.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(t.ctx, args...), nil
}

// Source re-reads a source of the organisation under the write lock.
func (t *Tx) Source(id int64) (Source, error) {
	row, err := t.queryRow(`SELECT `+sourceCols+` FROM sources WHERE org_id=? AND id=?`, t.org, id)
	if err != nil {
		return Source{}, err
	}
	src, err := scanSource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Source{}, schema.Errorf(schema.ENotFound, "no source %d", id)
	}
	return src, wrapErr(err, "source %d", id)
}

// Sources lists the organisation's sources that are not removed.
func (t *Tx) Sources() ([]Source, error) {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT `+sourceCols+` FROM sources WHERE org_id=? AND removed_at IS NULL`, t.org)
	if err != nil {
		return nil, wrapErr(err, "sources")
	}
	defer rows.Close()
	var out []Source
	for rows.Next() {
		src, err := scanSource(rows)
		if err != nil {
			return nil, wrapErr(err, "sources")
		}
		out = append(out, src)
	}
	return out, wrapErr(rows.Err(), "sources")
}

// NextSeq returns the seq the next applied drop gets. Drops of an
// organisation apply one at a time under its write lock, so seqs increase
// in the order they apply (on SQLite, without gaps: dialect.nextSeq).
func (t *Tx) NextSeq() (int64, error) {
	var seq int64
	err := t.tx.QueryRowContext(t.ctx, t.s.d.nextSeq).Scan(&seq)
	return seq, wrapErr(err, "next seq")
}

// Has says whether the organisation has any recipient, and any tombstone
// or lift, so an apply into an empty organisation can skip lookups that
// cannot find anything. (EXISTS: counting a million rows would cost more
// than the lookups it saves.)
func (t *Tx) Has() (recipients, offboarding bool, err error) {
	err = t.tx.QueryRowContext(t.ctx, `SELECT EXISTS(SELECT 1 FROM recipients WHERE org_id=?1),
		EXISTS(SELECT 1 FROM tombstones WHERE org_id=?1) OR EXISTS(SELECT 1 FROM lifts WHERE org_id=?1)`, t.org).
		Scan(&recipients, &offboarding)
	return recipients, offboarding, wrapErr(err, "counts")
}

// Current returns the source's current assertion about key.
func (t *Tx) Current(sourceID int64, key string) (Assertion, bool, error) {
	row, err := t.queryRow(`SELECT `+assertionCols+` FROM snapshot WHERE source_id=? AND key=?`, sourceID, key)
	if err != nil {
		return Assertion{}, false, err
	}
	a, err := scanAssertion(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Assertion{}, false, nil
	}
	return a, err == nil, wrapErr(err, "snapshot row %q", key)
}

// Assertions returns the current assertions about key by the given sources
// (which the caller took from this organisation).
func (t *Tx) Assertions(key string, sourceIDs []int64) ([]Assertion, error) {
	if len(sourceIDs) == 0 {
		return nil, nil
	}
	st, err := t.stmt(`SELECT ` + assertionCols + ` FROM snapshot WHERE source_id IN (` + formatIDs(sourceIDs) + `) AND key=?`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(t.ctx, key)
	if err != nil {
		return nil, wrapErr(err, "assertions of %q", key)
	}
	var out []Assertion
	err = eachAssertion(rows, func(a Assertion) error { out = append(out, a); return nil })
	return out, err
}

// Assert makes a the source's current assertion about a.Key. If old is not
// nil it is the assertion a replaces, kept as a version until a.Seq.
func (t *Tx) Assert(a Assertion, old *Assertion) error {
	t.touch(a.SourceID)
	if old == nil {
		_, err := t.exec("add snapshot row", `INSERT INTO snapshot(source_id, key, seq, drop_id, line, hash, status, data)
			VALUES(?,?,?,?,?,?,?,?)`, assertionArgs(&a)...)
		return err
	}
	if err := t.archive(*old, a.Seq); err != nil {
		return err
	}
	args := assertionArgs(&a)
	// Another seq: in snapshot_seq (firstdrop.go).
	_, err := t.exec("update snapshot row", `UPDATE snapshot SET seq=?3, drop_id=?4, line=?5, hash=?6, status=?7, data=?8,
		first_drop=false WHERE source_id=?1 AND key=?2`, args...)
	return err
}

// Withdraw removes the source's assertion old, kept as a version until seq.
func (t *Tx) Withdraw(old Assertion, seq int64) error {
	t.touch(old.SourceID)
	if err := t.archive(old, seq); err != nil {
		return err
	}
	_, err := t.exec("remove snapshot row", `DELETE FROM snapshot WHERE source_id=? AND key=?`, old.SourceID, old.Key)
	return err
}

func (t *Tx) archive(old Assertion, until int64) error {
	args := append(assertionArgs(&old), until)
	_, err := t.exec("keep snapshot version", `INSERT INTO snapshot_history(source_id, key, seq, drop_id, line, hash,
		status, data, until_seq) VALUES(?,?,?,?,?,?,?,?,?)`, args...)
	return err
}

// Recipient returns the organisation's recipient with key.
func (t *Tx) Recipient(key string) (Recipient, bool, error) {
	row, err := t.queryRow(`SELECT `+recipientCols+` FROM recipients WHERE org_id=? AND key=?`, t.org, key)
	if err != nil {
		return Recipient{}, false, err
	}
	r, err := scanRecipient(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Recipient{}, false, nil
	}
	return r, err == nil, wrapErr(err, "recipient %q", key)
}

// SaveRecipient inserts r, or updates it when it exists.
func (t *Tx) SaveRecipient(r *Recipient, exists bool) error {
	r.OrgID = t.org
	if exists {
		_, err := t.exec("update recipient", `UPDATE recipients SET email=?, first_name=?, last_name=?, attrs=?,
			status=?, group_ids=?, updated_seq=?, search=? WHERE org_id=? AND key=?`, storedEmail(r), r.FirstName, r.LastName,
			encodeAttrs(&r.Attrs), r.Status, groupList(r.GroupIDs), r.UpdatedSeq, searchText(r), t.org, r.Key)
		return err
	}
	_, err := t.exec("add recipient", `INSERT INTO recipients(org_id, key, email, first_name, last_name, attrs,
		status, group_ids, created_seq, updated_seq, search) VALUES(?,?,?,?,?,?,?,?,?,?,?)`, recipientArgs(t.org, r)...)
	return err
}

func recipientArgs(org int64, r *Recipient) []any {
	return []any{org, r.Key, storedEmail(r), r.FirstName, r.LastName, encodeAttrs(&r.Attrs), r.Status, groupList(r.GroupIDs),
		r.CreatedSeq, r.UpdatedSeq, searchText(r)}
}

// GroupID returns the id of the source's group with that name, creating it.
func (t *Tx) GroupID(sourceID int64, name string) (int64, error) {
	k := groupKey{sourceID, name}
	if id, ok := t.group[k]; ok {
		return id, nil
	}
	row, err := t.queryRow(`INSERT INTO groups(org_id, source_id, name) VALUES(?,?,?)
		ON CONFLICT(source_id, name) DO UPDATE SET name=excluded.name RETURNING id`, t.org, sourceID, name)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := row.Scan(&id); err != nil {
		return 0, wrapErr(err, "group %q", name)
	}
	t.group[k] = id
	return id, nil
}

// SetSource records that the source's snapshot is now the result of the
// drop with seq, holding rows people.
func (t *Tx) SetSource(sourceID, seq, rows int64) error {
	_, err := t.exec("update source", `UPDATE sources SET seq=?, rows=? WHERE id=? AND org_id=?`, seq, rows, sourceID, t.org)
	return err
}

// MarkSourceRemoved records the source as removed.
func (t *Tx) MarkSourceRemoved(sourceID int64) error {
	_, err := t.exec("remove source", `UPDATE sources SET removed_at=? WHERE id=? AND org_id=?`, t.Now(), sourceID, t.org)
	return err
}

// CreateDrop records a drop inside the transaction (rollbacks, removals and
// approvals create their drop with their change).
func (t *Tx) CreateDrop(d *Drop) error {
	d.Status = DropReceived
	d.ReceivedAt = t.Now()
	d.OrgID = t.org
	err := t.tx.QueryRowContext(t.ctx, `INSERT INTO drops(org_id, source_id, kind, name, content_hash, status,
		base_seq, received_at) VALUES(?,?,?,?,?,?,?,?) RETURNING id`, d.OrgID, d.SourceID, d.Kind, d.Name,
		d.ContentHash, d.Status, d.BaseSeq, d.ReceivedAt).Scan(&d.ID)
	return wrapErr(err, "record drop")
}

// Drop re-reads a drop of the organisation under the write lock.
func (t *Tx) Drop(id int64) (Drop, error) {
	d, err := scanDrop(t.tx.QueryRowContext(t.ctx, `SELECT `+dropCols+` FROM drops d JOIN sources s ON s.id=d.source_id
		WHERE d.org_id=? AND d.id=?`, t.org, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Drop{}, schema.Errorf(schema.ENotFound, "no drop %d", id)
	}
	return d, wrapErr(err, "drop %d", id)
}

// FinishDrop records a drop's outcome in the transaction: for an applied
// drop, its seq.
func (t *Tx) FinishDrop(d Drop) error {
	if d.Status == DropReceived {
		return fmt.Errorf("finish drop %d: no outcome", d.ID)
	}
	var seq any
	if d.Seq > 0 {
		seq = d.Seq
	}
	// Only an undecided drop gets an outcome: another process may have
	// decided it (rejected a held drop) after the caller last read it, and
	// that decision stands; this transaction then rolls back whole.
	res, err := t.exec("finish drop", `UPDATE drops SET status=?, seq=?, base_seq=?, report=?, decided_at=?,
		decided_by=nullif(?, '') WHERE id=? AND org_id=? AND status IN ('received', 'held')`,
		d.Status, seq, d.BaseSeq, nullJSON(d.Report), t.Now(), d.DecidedBy, d.ID, t.org)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return t.decidedMeanwhile(d.ID, err)
	}
	if _, err := t.exec("drop held changes", `DELETE FROM drop_changes WHERE drop_id=?`, d.ID); err != nil {
		return err
	}
	return nil
}

// decidedMeanwhile explains why a drop could not be given its outcome.
func (t *Tx) decidedMeanwhile(id int64, err error) error {
	if err != nil {
		return wrapErr(err, "finish drop %d", id)
	}
	cur, err := t.Drop(id)
	if err != nil {
		return err
	}
	return schema.Errorf(schema.EConflict, "drop %d is already %s (decided by another process meanwhile): left as it is", id, cur.Status)
}
