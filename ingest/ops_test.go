package ingest

import (
	"context"
	"slices"
	"testing"

	"muster/schema"
	"muster/store"
)

func TestApproveHeldAppliesComputedDiff(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	MustIngest(t, in, org, cfg, "day0", people(10, "p")...)
	held := MustIngest(t, in, org, cfg, "half", people(5, "p")...)
	mustDecision(t, held, Held)
	rep, err := in.Approve(context.Background(), org, held.DropID, Options{By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep, Applied)
	if n := len(activeKeys(t, in, org)); n != 5 {
		t.Fatalf("%d active after approval, want 5", n)
	}
	if _, err := in.Approve(context.Background(), org, held.DropID, Options{}); schema.ErrorCodeOf(err) != schema.EConflict {
		t.Fatalf("approving twice: %v, want a conflict", err)
	}
}

func TestApproveRefusedWhenSnapshotMoved(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	MustIngest(t, in, org, cfg, "day0", people(10, "p")...)
	held := MustIngest(t, in, org, cfg, "half", people(5, "p")...)
	mustDecision(t, held, Held)
	mustDecision(t, MustIngest(t, in, org, cfg, "day1", people(11, "p")...), Applied)
	_, err := in.Approve(context.Background(), org, held.DropID, Options{})
	if schema.ErrorCodeOf(err) != schema.EConflict {
		t.Fatalf("approve after the snapshot moved: %v, want a conflict", err)
	}
	if n := len(activeKeys(t, in, org)); n != 11 {
		t.Fatalf("%d active, want 11 (the refused approval changed something)", n)
	}
	rep, err := in.Reject(context.Background(), org, held.DropID, "stale", Options{By: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep, Rejected)
	o, _ := in.Store.LookupOrg(context.Background(), org)
	d, _ := in.Store.Drop(context.Background(), o.ID, held.DropID)
	if d.Status != store.DropRejected || d.DecidedBy != "bob" {
		t.Fatalf("drop = %s by %q", d.Status, d.DecidedBy)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	MustIngest(t, in, org, cfg, "day0", people(10, "p")...)
	o, _ := in.Store.LookupOrg(context.Background(), org)
	before, _, _ := in.Store.Drops(context.Background(), o.ID, store.DropFilter{})
	recs := people(12, "p")
	recs[0].FirstName = "Changed"
	rep, err := in.Ingest(context.Background(), Drop{Source: cfg, Name: "day1", Records: &schema.SliceStream{Records: recs}}, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Decision != Applied || rep.Counts.Added != 2 || rep.Counts.Updated != 1 || len(rep.Sample) != 3 {
		t.Fatalf("dry run report = %+v", rep)
	}
	after, _, _ := in.Store.Drops(context.Background(), o.ID, store.DropFilter{})
	if len(after) != len(before) || len(activeKeys(t, in, org)) != 10 || MustRecipient(t, in, org, "p000@example.com").FirstName == "Changed" {
		t.Fatal("a dry run wrote to the store")
	}
	// A dry run of a source nobody has seen creates nothing either.
	if _, err := in.Ingest(context.Background(), Drop{Org: "other", Source: SourceConfig{Name: "new"}, Records: &schema.SliceStream{Records: recs}}, Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Store.LookupOrg(context.Background(), "other"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("dry run created an organisation: %v", err)
	}
}

func TestRollbackRestoresEarlierSnapshot(t *testing.T) {
	in := MustIngester(t)
	cfg := src("hr", 1, false)
	day0 := MustIngest(t, in, org, cfg, "day0", people(10, "p")...)
	recs := people(12, "p")[2:]
	recs[0].FirstName = "Changed"
	MustIngest(t, in, org, cfg, "day1", recs...)
	if n := len(activeKeys(t, in, org)); n != 10 {
		t.Fatalf("day1: %d active", n)
	}
	rep, err := in.Rollback(context.Background(), org, "hr", day0.DropID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Counts
	if c.Added != 2 || c.Removed != 2 || c.Updated != 1 {
		t.Fatalf("rollback counts = %+v", c)
	}
	keys := activeKeys(t, in, org)
	var want []string
	for _, r := range people(10, "p") {
		want = append(want, r.Key)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("after rollback: %v", keys)
	}
	if r := MustRecipient(t, in, org, "p002@example.com"); r.FirstName != "F" {
		t.Fatalf("p002 = %q, want day0's value", r.FirstName)
	}
	// The rollback is a change of its own: the history shows it, and the
	// file of day0 dropped again is now a duplicate of the current state.
	ex, err := in.Explain(context.Background(), org, "p002@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.History) != 3 || ex.History[0].Kind != HistUpdated || ex.History[0].DropID != rep.DropID {
		t.Fatalf("history = %+v", ex.History)
	}
	if ex.History[0].Changes["first_name"] != [2]string{"Changed", "F"} {
		t.Fatalf("rollback change = %v", ex.History[0].Changes)
	}
}

func TestExplainRecipient(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, org, src("hr", 5, false), "hr.csv", rec(7, "e@example.com", "Eve", "Hr", "Eng"))
	MustIngest(t, in, org, src("crm", 1, false), "crm.csv", rec(3, "e@example.com", "Evie", "Crm", "VIP"))
	ex, err := in.Explain(context.Background(), org, "e@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Recipient.FirstName != "Eve" || ex.Winners["first_name"] != "hr" || len(ex.Assertions) != 2 {
		t.Fatalf("explain = %+v", ex)
	}
	a := ex.Assertions[0]
	if a.Source != "hr" || a.Assertion.Line != 7 || a.Drop != "hr.csv" {
		t.Fatalf("winning assertion = %+v", a)
	}
	if len(ex.Groups) != 2 || len(ex.History) != 2 || ex.History[0].Kind != HistAdded {
		t.Fatalf("groups %v history %v", ex.Groups, ex.History)
	}
}

func TestOrganisationsAreIsolated(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, "acme", src("hr", 1, true), "acme.csv", rec(2, "x@example.com", "Acme", "X", "Eng"))
	MustIngest(t, in, "globex", src("hr", 1, true), "globex.csv", rec(2, "x@example.com", "Globex", "X", "Ops"))
	// The same source name and the same email in two organisations: two
	// recipients, each with its own organisation's values and groups.
	if r := MustRecipient(t, in, "acme", "x@example.com"); r.FirstName != "Acme" || !slices.Equal(groupsOf(t, in, "acme", r), []string{"hr/Eng"}) {
		t.Fatalf("acme: %+v", r)
	}
	// globex's authoritative source deletes x: acme's x is untouched.
	MustIngest(t, in, "globex", src("hr", 1, true), "globex2.csv", rec(2, "y@example.com", "Y", "Y"))
	if r := MustRecipient(t, in, "globex", "x@example.com"); r.Status != store.StatusOffboarded {
		t.Fatalf("globex x = %s", r.Status)
	}
	if r := MustRecipient(t, in, "acme", "x@example.com"); r.Status != store.StatusActive {
		t.Fatalf("acme x = %s: a merge crossed organisations", r.Status)
	}
	// Queries and commands are scoped: a drop of one is not found in the other.
	acme, _ := in.Store.LookupOrg(context.Background(), "acme")
	globex, _ := in.Store.LookupOrg(context.Background(), "globex")
	gd, _, _ := in.Store.Drops(context.Background(), globex.ID, store.DropFilter{})
	if _, err := in.Store.Drop(context.Background(), acme.ID, gd[0].ID); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("acme can see globex's drop: %v", err)
	}
	if _, err := in.Rollback(context.Background(), "acme", "hr", gd[0].ID, Options{}); err == nil {
		t.Fatal("acme rolled back to globex's drop")
	}
	ids, _ := in.Store.FindGroups(context.Background(), acme.ID, "Ops", "")
	if len(ids) != 0 {
		t.Fatal("acme finds globex's group")
	}
	if keys := activeKeys(t, in, "acme"); !slices.Equal(keys, []string{"x@example.com"}) {
		t.Fatalf("acme audience = %v", keys)
	}
}

func TestDeltaSource(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "manual", Kind: store.KindManual}
	ingest := func(recs ...schema.Record) *Report {
		rep, err := in.Ingest(context.Background(), Drop{Source: cfg, Kind: store.DropKindManual, Records: &schema.SliceStream{Records: recs}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	mustDecision(t, ingest(rec(0, "a@example.com", "A", "A")), Applied)
	rep := ingest(rec(0, "b@example.com", "B", "B"))
	if rep.Mode != "delta" || rep.Counts.Added != 1 || rep.Counts.Removed != 0 {
		t.Fatalf("delta report = %+v", rep)
	}
	rm := rec(0, "a@example.com", "", "")
	rm.Action = schema.ActionRemove
	rep = ingest(rm)
	if rep.Counts.Removed != 1 {
		t.Fatalf("removal: %+v", rep.Counts)
	}
	if keys := activeKeys(t, in, org); !slices.Equal(keys, []string{"b@example.com"}) {
		t.Fatalf("audience = %v", keys)
	}
	rep = ingest(rm)
	if rep.Counts.Removed != 0 || len(rep.Problems) != 1 {
		t.Fatalf("removing someone not listed: %+v", rep)
	}
}

// Rolling an authoritative source back to a snapshot that did not list a
// person withdraws its say about them; it does not offboard them as a
// deletion would. A status the snapshot gave still counts.
func TestRollbackOfAuthoritativeSourceWithdrawsWithoutOffboarding(t *testing.T) {
	in := MustIngester(t)
	dir := src("dir", 10, true)
	d1 := MustIngest(t, in, org, dir, "p1", rec(2, "x@example.org", "X", "X", "Eng"), inactive(rec(3, "z@example.org", "Z", "Z")))
	MustIngest(t, in, org, src("hr", 0, false), "h1", rec(2, "y@example.org", "Y", "Y", "Sales"))
	MustIngest(t, in, org, dir, "p2", rec(2, "x@example.org", "X", "X", "Eng"), rec(3, "y@example.org", "Y", "Y", "Eng"),
		rec(4, "z@example.org", "Z", "Z"))
	if r := MustRecipient(t, in, org, "z@example.org"); r.Status != store.StatusActive {
		t.Fatalf("z = %s, want reinstated by p2", r.Status)
	}
	rep, err := in.Rollback(context.Background(), org, "dir", d1.DropID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := MustRecipient(t, in, org, "y@example.org")
	if got := groupsOf(t, in, org, r); r.Status != store.StatusActive || !slices.Equal(got, []string{"hr/Sales"}) {
		t.Fatalf("y = %s %v after rolling dir back to before it listed y (hr still lists y); report %+v", r.Status, got, rep.Counts)
	}
	if r := MustRecipient(t, in, org, "z@example.org"); r.Status != store.StatusOffboarded {
		t.Fatalf("z = %s, want offboarded again: p1 said inactive", r.Status)
	}
	if rep.Counts.Suppressed != 1 {
		t.Fatalf("suppressed = %d, want 1 (z)", rep.Counts.Suppressed)
	}
}

// TestRemoveSourceMarksItRemoved: removing a source withdraws its people and
// marks it removed in the same transaction, so removing it again is a
// conflict, and a drop of it brings it back. Withdrawing all of them is
// over the source's guard: the removal is held, and applied (as a removal)
// when an admin approves it.
func TestRemoveSourceMarksItRemoved(t *testing.T) {
	ctx := context.Background()
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	MustIngest(t, in, org, cfg, "day0", people(3, "p")...)
	rep, err := in.RemoveSource(ctx, org, "hr", Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep, Held)
	if r := MustRecipient(t, in, org, "p000@example.com"); r.Status != store.StatusActive {
		t.Fatalf("a held removal changed p0: %s", r.Status)
	}
	if rep, err = in.Approve(ctx, org, rep.DropID, Options{By: "test"}); err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep, Applied)
	o, _ := in.Store.LookupOrg(ctx, org)
	s, err := in.Store.LookupSource(ctx, o.ID, "hr")
	if err != nil {
		t.Fatal(err)
	}
	if s.RemovedAt == "" || s.Rows != 0 {
		t.Fatalf("after removal: removed at %q, %d rows; want removed, 0 rows", s.RemovedAt, s.Rows)
	}
	if _, err := in.RemoveSource(ctx, org, "hr", Options{}); schema.ErrorCodeOf(err) != schema.EConflict {
		t.Fatalf("removing twice: %v, want a conflict", err)
	}
	mustDecision(t, MustIngest(t, in, org, cfg, "day1", people(3, "p")...), Applied)
	if s, _ = in.Store.LookupSource(ctx, o.ID, "hr"); s.RemovedAt != "" || s.Rows != 3 {
		t.Fatalf("after a new drop: removed at %q, %d rows; want back, 3 rows", s.RemovedAt, s.Rows)
	}
}

// A source whose guard is off is removed at once.
func TestRemoveSourceWithoutGuardIsApplied(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, org, SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1}, "day0", people(3, "p")...)
	rep, err := in.RemoveSource(context.Background(), org, "hr", Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep, Applied)
}
