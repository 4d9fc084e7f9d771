package ingest

import (
	"context"
	"testing"

	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// secondProcess opens the store file of in again, with its own connections,
// as another muster process (the daemon beside a CLI command) would.
func secondProcess(t *testing.T, in *Ingester) *Ingester {
	t.Helper()
	other := New(storetest.OpenAt(t, in.Store.Target()))
	other.TempDir = t.TempDir()
	return other
}

// TestApproveRacingRejectKeepsTheRejection: an admin approves a held drop
// while another rejects it from another process. The rejection, committed
// after the approval read the drop as held, must stand: the approval fails
// as a conflict and applies nothing, instead of turning the rejected drop
// into an applied one.
func TestApproveRacingRejectKeepsTheRejection(t *testing.T) {
	in := MustIngester(t)
	other := secondProcess(t, in)
	ctx := context.Background()
	cfg := SourceConfig{Name: "hr"}
	MustIngest(t, in, org, cfg, "day0", people(10, "p")...)
	held := MustIngest(t, in, org, cfg, "half", people(5, "p")...)
	mustDecision(t, held, Held)
	before, err := in.Store.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rejected := false
	in.Hook = func(point string) {
		if point != "approve-checked" || rejected {
			return
		}
		rejected = true
		if _, err := other.Reject(ctx, org, held.DropID, "not today", Options{By: "bob"}); err != nil {
			t.Errorf("reject from the other process: %v", err)
		}
	}
	_, err = in.Approve(ctx, org, held.DropID, Options{By: "alice"})
	if !rejected {
		t.Fatal("the approval never reached approve-checked: the test proves nothing")
	}
	if schema.ErrorCodeOf(err) != schema.EConflict {
		t.Fatalf("approve of a drop rejected meanwhile: %v, want a conflict", err)
	}
	o, _ := in.Store.LookupOrg(ctx, org)
	d, err := in.Store.Drop(ctx, o.ID, held.DropID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != store.DropRejected || d.DecidedBy != "bob" || d.Seq != 0 {
		t.Fatalf("drop %d is %s (seq %d) by %q, want rejected by bob", d.ID, d.Status, d.Seq, d.DecidedBy)
	}
	if after, _ := in.Store.Digest(ctx); after != before {
		t.Fatal("the refused approval changed the audience")
	}
	if n := len(activeKeys(t, in, org)); n != 10 {
		t.Fatalf("%d active, want 10", n)
	}
}

// TestRollbackRacingAllowlistNarrowing: a rollback reads the earlier
// snapshot, then another process narrows the source's allowlist (its
// stored rows are scrubbed of the attribute) before the rollback applies.
// The rollback must not write back the values it read: it fails as a
// conflict, and run again it restores the scrubbed snapshot (merge rule 6:
// values of attributes not enabled are never stored).
func TestRollbackRacingAllowlistNarrowing(t *testing.T) {
	in := MustIngester(t)
	other := secondProcess(t, in)
	ctx := context.Background()
	cfg := src("hr", 1, false)
	cfg.Attrs = schema.AttrSet(0).With(schema.AttrJobTitle).With(schema.AttrCity)
	r := rec(2, "a@example.com", "A", "A")
	r.Attrs[schema.AttrJobTitle] = "Engineer"
	r.Attrs[schema.AttrCity] = "Lisbon"
	day0 := MustIngest(t, in, org, cfg, "day0", r)
	r2 := r
	r2.FirstName = "Ann"
	MustIngest(t, in, org, cfg, "day1", r2)
	narrow := cfg
	narrow.Attrs = schema.AttrSet(0).With(schema.AttrJobTitle)
	raced := false
	in.Hook = func(point string) {
		if point != "replace-diffed" || raced {
			return
		}
		raced = true
		MustIngest(t, other, org, narrow, "day1 again", r2)
	}
	_, err := in.Rollback(ctx, org, "hr", day0.DropID, Options{By: "alice"})
	if !raced {
		t.Fatal("the rollback never reached replace-diffed: the test proves nothing")
	}
	if schema.ErrorCodeOf(err) != schema.EConflict {
		t.Fatalf("rollback computed before the allowlist narrowed: %v, want a conflict", err)
	}
	in.Hook = nil
	if _, err := in.Rollback(ctx, org, "hr", day0.DropID, Options{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	rr := MustRecipient(t, in, org, "a@example.com")
	if rr.FirstName != "A" || rr.Attrs[schema.AttrCity] != "" || rr.Attrs[schema.AttrJobTitle] != "Engineer" {
		t.Fatalf("after the rollback: %q %q", rr.FirstName, rr.Attrs)
	}
	o, _ := in.Store.LookupOrg(ctx, org)
	vs, err := in.Store.Versions(ctx, o.ID, "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Attrs[schema.AttrCity] != "" {
			t.Fatalf("version of seq %d holds the city: %q", v.Seq, v.Attrs)
		}
	}
}
