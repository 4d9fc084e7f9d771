package store

import (
	"context"
	"testing"
	"time"
)

// TestClaimFile: on PostgreSQL one process at a time holds a file's claim,
// and a released claim can be taken again. On SQLite every claim succeeds (one instance).
func TestClaimFile(t *testing.T) {
	ctx := context.Background()
	target := testTarget(t)
	a, b := openTarget(t, target), openTarget(t, target)
	rel, ok, err := a.ClaimFile(ctx, "default/hr/spool/0/x.csv", "default/hr")
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	_, ok, err = b.ClaimFile(ctx, "default/hr/spool/0/x.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	if testBackend == "sqlite" {
		if !ok {
			t.Fatal("SQLite refused a claim")
		}
		return
	}
	if ok {
		t.Fatal("two processes hold the same claim")
	}
	if _, ok, _ := b.ClaimFile(ctx, "default/hr/spool/0/y.csv", ""); !ok {
		t.Fatal("another file's claim refused")
	}
	rel()
	relB, ok, err := b.ClaimFile(ctx, "default/hr/spool/0/x.csv", "")
	if err != nil || !ok {
		t.Fatalf("claim after release: %v %v", ok, err)
	}
	relB()
	// (A claim whose process dies ends with its connection: the
	// two-instance end-to-end test kills one during an apply.)
}

// TestPruneFileClaims: the claims a dead process left (unlocked, old) are
// pruned; a held claim is not, however old, nor an unheld one just made;
// a pruned name can be claimed again. SQLite keeps none.
func TestPruneFileClaims(t *testing.T) {
	ctx := context.Background()
	s := openTarget(t, testTarget(t))
	if testBackend == "sqlite" {
		if n, err := s.PruneFileClaims(ctx, 0); n != 0 || err != nil {
			t.Fatalf("SQLite pruned %d claims (%v)", n, err)
		}
		return
	}
	// Rows as the claims leave them: a dead instance's (an hour old,
	// unlocked), one being made (unlocked, just now), and an old one held.
	for _, q := range []string{
		`INSERT INTO file_claims(name, claimed_ms) VALUES('dead.csv', ` + s.d.nowMillis + ` - 3600000)`,
		`INSERT INTO file_claims(name, claimed_ms) VALUES('new.csv', ` + s.d.nowMillis + `)`,
		`INSERT INTO file_claims(name, claimed_ms) VALUES('held.csv', ` + s.d.nowMillis + ` - 3600000)`,
	} {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	release, ok, err := s.ClaimFile(ctx, "held.csv", "")
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	n, err := s.PruneFileClaims(ctx, 10*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	names := func() string {
		var got string
		if err := s.db.QueryRow(`SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM file_claims`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := names(); got != "held.csv,new.csv" {
		t.Fatalf("claims left: %s, want held.csv,new.csv", got)
	}
	release()
	relDead, ok, err := s.ClaimFile(ctx, "dead.csv", "")
	if err != nil || !ok {
		t.Fatalf("claim of a pruned name: %v %v", ok, err)
	}
	relDead()
	if got := names(); got != "new.csv" {
		t.Fatalf("claims left after release: %s, want new.csv", got)
	}
}
