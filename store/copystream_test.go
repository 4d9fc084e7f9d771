package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"muster/schema"
)

// streamPeople writes n people (a snapshot row and a recipient each) in
// batches of 256, as an apply does, keys from p<from>; it stops at the
// first error. after, if set, runs once the given number of people are
// written.
func streamPeople(tx *Tx, srcID int64, from, n int, at int, after func()) error {
	for i := 0; i < n; i += 256 {
		k := min(256, n-i)
		as := make([]Assertion, k)
		rs := make([]Recipient, k)
		for j := range k {
			key := fmt.Sprintf("p%07d@example.com", from+i+j)
			as[j] = Assertion{SourceID: srcID, Seq: 2, DropID: 2, Key: key, Line: from + i + j, Status: schema.StatusActive}
			rs[j] = Recipient{Key: key, Email: key, FirstName: "P", LastName: strings.Repeat("q", 40), Status: StatusActive,
				CreatedSeq: 2, UpdatedSeq: 2}
		}
		if err := tx.InsertAssertions(as); err != nil {
			return err
		}
		if err := tx.InsertRecipients(rs); err != nil {
			return err
		}
		if after != nil && i < at && at <= i+k {
			after()
		}
	}
	return nil
}

// TestStreamedCopyFailureLeavesTheStoreAsItWas: on PostgreSQL an apply's
// new rows go by COPYs streamed beside it; a COPY that fails (a row the
// server refuses, the context cancelled, the connection killed) fails the
// transaction, whichever later call reports it, and nothing of it stays:
// the store is as it was, and the next transaction works. The same
// failures on SQLite (its multi-row INSERTs) end the same way.
func TestStreamedCopyFailureLeavesTheStoreAsItWas(t *testing.T) {
	ctx := context.Background()
	s, org, src := mustOrgSource(t)
	tx, err := s.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := streamPeople(tx, src.ID, 0, 300, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	before, err := s.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 3*copyRowsMax + 7 // several COPYs of each table, and a last short one
	// A recipient the server refuses, in the first COPY of recipients:
	// the COPY runs while later batches are handed over.
	bad := "p0001000@example.com"
	refuse := `ALTER TABLE recipients ADD CONSTRAINT stream_test CHECK (key <> '` + bad + `')`
	if !s.d.postgres {
		refuse = `CREATE TRIGGER stream_test BEFORE INSERT ON recipients WHEN NEW.key = '` + bad + `'
			BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`
	}
	if _, err := s.db.Exec(refuse); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		// run writes the transaction's rows and returns the first error.
		run func(t *testing.T) error
	}{
		{"a row refused by the server", func(t *testing.T) error {
			tx, err := s.Begin(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			err = streamPeople(tx, src.ID, 1000, n, 0, nil)
			if err == nil {
				err = tx.Commit()
			}
			if schema.ErrorCodeOf(err) != schema.EConflict {
				t.Errorf("error %v, want a conflict (the refused row)", err)
			}
			return err
		}},
		{"the context cancelled", func(t *testing.T) error {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			tx, err := s.Begin(cctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			// Cancelled once the first COPYs are on their way.
			err = streamPeople(tx, src.ID, 2000000, n, copyRowsMax+10, cancel)
			if err == nil {
				err = tx.Commit()
			}
			return err
		}},
		{"the connection killed", func(t *testing.T) error {
			if !s.d.postgres {
				t.Skip("SQLite has no connection to kill")
			}
			tx, err := s.Begin(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			var pid int
			if err := tx.tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			kill := func() {
				var ok bool
				if err := s.db.QueryRow(`SELECT pg_terminate_backend(?)`, pid).Scan(&ok); err != nil || !ok {
					t.Errorf("terminate backend %d: %v %v", pid, ok, err)
				}
			}
			err = streamPeople(tx, src.ID, 3000000, n, copyRowsMax+10, kill)
			if err == nil {
				err = tx.Commit()
			}
			return err
		}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			if err := c.run(t); err == nil {
				t.Fatal("committed, want the transaction failed")
			}
			after, err := s.Digest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Fatalf("the store changed (digest %s, was %s)", after, before)
			}
			// The store works on: a transaction of its own commits.
			tx, err := s.Begin(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if err := streamPeople(tx, src.ID, 5000000, 10, 0, nil); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatalf("the next transaction: %v", err)
			}
			var got int
			if err := s.db.QueryRow(`SELECT count(*) FROM recipients WHERE key LIKE 'p5%'`).Scan(&got); err != nil || got != 10 {
				t.Fatalf("%d recipients of the next transaction (%v), want 10", got, err)
			}
			if _, err := s.db.Exec(`DELETE FROM recipients WHERE key LIKE 'p5%'`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(`DELETE FROM snapshot WHERE key LIKE 'p5%'`); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// mustOrgSource returns a fresh store of the run's backend with its
// default organisation and a file source "hr" in it.
func mustOrgSource(t *testing.T) (*Store, Org, Source) {
	t.Helper()
	ctx := context.Background()
	s := openTarget(t, testTarget(t))
	org, err := s.EnsureOrg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := s.EnsureSource(ctx, org.ID, SourceConfig{Name: "hr"})
	if err != nil {
		t.Fatal(err)
	}
	return s, org, src
}
