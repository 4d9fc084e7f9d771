package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"muster/schema"
)

// TestForeignKeysOfPerPersonTables: a snapshot row must name a source and a
// recipient an organisation that exist, and a source or organisation rows
// still name cannot be deleted or renumbered, on both backends (SQLite
// checks its foreign keys per row; PostgreSQL, from migration 0010, once
// per statement, COPY included).
func TestForeignKeysOfPerPersonTables(t *testing.T) {
	ctx := context.Background()
	s, org, src := mustOrgSource(t)
	refused := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: accepted, want a foreign key violation", what)
		}
		if !isConstraint(err) && schema.ErrorCodeOf(err) != schema.EConflict {
			t.Fatalf("%s: %v, want a constraint error", what, err)
		}
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := s.db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The store's bulk path (a COPY on PostgreSQL), in an apply's
	// transaction: rows of a source that does not exist fail the commit at
	// the latest, and nothing is kept.
	for _, n := range []int{1, 3, copyRowsMax + 5} {
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		as := make([]Assertion, n)
		for i := range as {
			as[i] = Assertion{SourceID: src.ID + 1000, Seq: 1, DropID: 1, Key: fmt.Sprintf("p%d@example.com", i)}
		}
		err = tx.InsertAssertions(as)
		if err == nil {
			err = tx.Commit()
		}
		tx.Rollback()
		refused("snapshot rows of a source that does not exist", err)
	}
	// The same with one good row beside the bad ones in one statement.
	tx, err := s.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	err = tx.InsertAssertions([]Assertion{{SourceID: src.ID, Seq: 1, DropID: 1, Key: "good@example.com"}})
	if err == nil {
		err = tx.InsertAssertions([]Assertion{{SourceID: src.ID + 1000, Seq: 1, DropID: 1, Key: "bad@example.com"}})
	}
	if err == nil {
		err = tx.Commit()
	}
	tx.Rollback()
	refused("a statement with one row of a source that does not exist", err)
	if n := count(`SELECT count(*) FROM snapshot`); n != 0 {
		t.Fatalf("%d snapshot rows kept after refused writes", n)
	}

	// A recipient of an organisation that does not exist.
	_, err = s.db.Exec(`INSERT INTO recipients(org_id, key, email, first_name, last_name, status, group_ids, created_seq, updated_seq)
		VALUES(?, 'x@example.com', 'x@example.com', '', '', 'active', '', 1, 1)`, org.ID+1000)
	refused("a recipient of an organisation that does not exist", err)

	// Rows that name their parents are accepted, through both paths.
	tx, err = s.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.InsertAssertions([]Assertion{{SourceID: src.ID, Seq: 1, DropID: 1, Key: "a@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.InsertRecipients([]Recipient{{Key: "a@example.com", Email: "a@example.com", Status: StatusActive, CreatedSeq: 1, UpdatedSeq: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM snapshot`) + count(`SELECT count(*) FROM recipients`); n != 2 {
		t.Fatalf("%d rows after an apply of one person, want 2", n)
	}

	// A parent still named cannot go, nor change its id. (An organisation
	// and a source of their own, named by nothing else, so only these keys
	// are at stake.)
	if _, err := s.db.Exec(`INSERT INTO orgs(id, name) VALUES(900, 'fk-test')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO sources(id, org_id, name, kind, mode, priority, authoritative, max_remove_percent,
		max_remove_count, max_invalid_percent, attrs, created_at) VALUES(901, 900, 'fk', 'file', 'full', 0, false, 0, 0, 0, 0, 'now')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO snapshot(source_id, key, seq, drop_id, line, hash, status, data) VALUES(901, 'k', 1, 1, 1, 1, 0, ?)`, []byte{0}); err != nil {
		t.Fatal(err)
	}
	_, err = s.db.Exec(`DELETE FROM sources WHERE id=901`)
	refused("deleting a source its snapshot rows name", err)
	_, err = s.db.Exec(`UPDATE sources SET id=902 WHERE id=901`)
	refused("renumbering a source its snapshot rows name", err)
	_, err = s.db.Exec(`UPDATE snapshot SET source_id=903 WHERE source_id=901`)
	refused("moving snapshot rows to a source that does not exist", err)
	if _, err := s.db.Exec(`DELETE FROM snapshot WHERE source_id=901`); err != nil {
		t.Fatal(err)
	}
	if testBackend == "postgres" {
		// As the constraint's check does, a transaction writing rows of a
		// source holds it (FOR KEY SHARE) until it ends: a delete of the
		// source waits (here: gives up after 300 ms) instead of deleting
		// it under rows about to commit.
		writer, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writer.Exec(`INSERT INTO snapshot(source_id, key, seq, drop_id, line, hash, status, data) VALUES(901, 'w', 1, 1, 1, 1, 0, ?)`, []byte{0}); err != nil {
			t.Fatal(err)
		}
		other, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Exec(`SET LOCAL lock_timeout = '300ms'`); err != nil {
			t.Fatal(err)
		}
		_, err = other.Exec(`DELETE FROM sources WHERE id=901`)
		other.Rollback()
		if err == nil || !strings.Contains(err.Error(), "55P03") {
			t.Fatalf("deleting a source while another transaction writes its rows: %v, want to wait for it (lock timeout, 55P03)", err)
		}
		writer.Rollback()
	}
	if _, err := s.db.Exec(`DELETE FROM sources WHERE id=901`); err != nil {
		t.Fatalf("deleting a source nothing names: %v", err)
	}
	if _, err := s.db.Exec(`INSERT INTO recipients(org_id, key, email, first_name, last_name, status, group_ids, created_seq, updated_seq)
		VALUES(900, 'x@example.com', 'x@example.com', '', '', 'active', '', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	_, err = s.db.Exec(`DELETE FROM orgs WHERE id=900`)
	refused("deleting an organisation its recipients name", err)
	_, err = s.db.Exec(`UPDATE orgs SET id=904 WHERE id=900`)
	refused("renumbering an organisation its recipients name", err)
	if _, err := s.db.Exec(`DELETE FROM recipients WHERE org_id=900`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`DELETE FROM orgs WHERE id=900`); err != nil {
		t.Fatalf("deleting an organisation nothing names: %v", err)
	}
}
