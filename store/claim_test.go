package store

import (
	"context"
	"testing"
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
