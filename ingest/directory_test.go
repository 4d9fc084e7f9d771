package ingest

import (
	"context"
	"slices"
	"testing"

	"muster/schema"
	"muster/store"
)

func dirSource() SourceConfig {
	return SourceConfig{Name: "okta", Kind: store.KindWorkOS, Priority: 20, Authoritative: true, MaxRemovePercent: -1}
}

// person builds a directory record: "email first last uid [group...]";
// groups nil means "not known" (user events).
func dirRec(email, first, uid string, groups []string) schema.Record {
	r := rec(0, email, first, "Dir")
	r.SourceID, r.Groups = uid, groups
	return r
}

func mustEdits(t testing.TB, in *Ingester, cfg SourceConfig, edits ...Edit) *Report {
	t.Helper()
	rep, err := in.ApplyEdits(context.Background(), Edits{Source: cfg, Name: "workos events", Edits: edits}, Options{By: "workos"})
	if err != nil {
		t.Fatalf("apply edits: %v", err)
	}
	return rep
}

func mustStatus(t testing.TB, in *Ingester, email string, want store.RecipientStatus) store.Recipient {
	t.Helper()
	r := MustRecipient(t, in, org, email)
	if r.Status != want {
		t.Fatalf("%s is %s, want %s", email, r.Status, want)
	}
	return r
}

func snapshotGroups(t testing.TB, in *Ingester, source, key string) ([]string, bool) {
	t.Helper()
	_, src, err := in.lookup(context.Background(), org, source)
	if err != nil {
		t.Fatal(err)
	}
	a, err := in.Store.SnapshotAssertion(context.Background(), src.ID, key)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return a.Groups, true
}

func TestEditsKeepGroupsAndFollowTheUserID(t *testing.T) {
	in := MustIngester(t)
	dir := dirSource()
	MustIngest(t, in, org, dir, "pull", dirRec("ann@example.com", "Ann", "u1", []string{"Eng", "Ops"}),
		dirRec("bob@example.com", "Bob", "u2", []string{"Sales"}))
	// A user event carries no groups: the source's groups are kept.
	rep := mustEdits(t, in, dir, Edit{Kind: EditUpsert, Record: dirRec("ann@example.com", "Annie", "u1", nil)})
	mustDecision(t, rep, Applied)
	if rep.Counts.Updated != 1 || rep.Mode != "delta" {
		t.Fatalf("counts = %+v mode %s, want one update of a delta", rep.Counts, rep.Mode)
	}
	if g, _ := snapshotGroups(t, in, "okta", "ann@example.com"); !slices.Equal(g, []string{"Eng", "Ops"}) {
		t.Fatalf("groups after a user update = %v, want kept", g)
	}
	if r := MustRecipient(t, in, org, "ann@example.com"); r.FirstName != "Annie" {
		t.Fatalf("first name = %q", r.FirstName)
	}
	// The same user with a new address: found by id, moved, groups kept.
	rep = mustEdits(t, in, dir, Edit{Kind: EditUpsert, Record: dirRec("ann.lee@example.com", "Annie", "u1", nil)})
	if rep.Counts.Added != 1 || rep.Counts.Removed != 1 {
		t.Fatalf("email change counts = %+v, want one added, one removed", rep.Counts)
	}
	if g, ok := snapshotGroups(t, in, "okta", "ann.lee@example.com"); !ok || !slices.Equal(g, []string{"Eng", "Ops"}) {
		t.Fatalf("new address groups = %v (%v)", g, ok)
	}
	if _, ok := snapshotGroups(t, in, "okta", "ann@example.com"); ok {
		t.Fatal("the old address is still listed")
	}
	mustStatus(t, in, "ann.lee@example.com", store.StatusActive)
	// Several edits of one person in a batch fold into one change.
	rep = mustEdits(t, in, dir,
		Edit{Kind: EditGroupAdd, Group: "VIP", Record: dirRec("bob@example.com", "Bob", "u2", nil)},
		Edit{Kind: EditGroupRemove, Group: "Sales", Record: dirRec("bob@example.com", "Bob", "u2", nil)},
		Edit{Kind: EditUpsert, Record: dirRec("bob@example.com", "Robert", "u2", nil)})
	if rep.Counts.Rows != 3 || rep.Counts.Updated != 1 || rep.Counts.Unchanged != 2 {
		t.Fatalf("counts = %+v, want 3 edits, 1 update", rep.Counts)
	}
	if g, _ := snapshotGroups(t, in, "okta", "bob@example.com"); !slices.Equal(g, []string{"VIP"}) {
		t.Fatalf("bob's groups = %v, want [VIP]", g)
	}
	if r := MustRecipient(t, in, org, "bob@example.com"); r.FirstName != "Robert" || !slices.Equal(groupsOf(t, in, org, r), []string{"okta/VIP"}) {
		t.Fatalf("bob = %s %v", r.FirstName, groupsOf(t, in, org, r))
	}
}

func TestEditsOffboardInactiveAndDeletedEvenWhenNotListed(t *testing.T) {
	in := MustIngester(t)
	dir := dirSource()
	csv := src("hr", 5, false)
	MustIngest(t, in, org, dir, "pull", dirRec("ann@example.com", "Ann", "u1", []string{"Eng"}),
		dirRec("bob@example.com", "Bob", "u2", []string{"Eng"}))
	MustIngest(t, in, org, csv, "hr.csv", rec(2, "ann@example.com", "Ann", "Hr", "All"), rec(3, "bob@example.com", "Bob", "Hr", "All"),
		rec(4, "cat@example.com", "Cat", "Hr", "All"))
	// Ann made inactive, Bob deleted, Cat (never in the directory) deleted
	// before the directory was pulled again: all three offboarded.
	rep := mustEdits(t, in, dir,
		Edit{Kind: EditUpsert, Record: inactive(dirRec("ann@example.com", "Ann", "u1", nil))},
		Edit{Kind: EditOffboard, Record: dirRec("bob@example.com", "Bob", "u2", nil)},
		Edit{Kind: EditOffboard, Record: dirRec("cat@example.com", "Cat", "u3", nil)})
	mustDecision(t, rep, Applied)
	if rep.Counts.Suppressed != 3 || rep.Counts.Removed != 1 || rep.Counts.Updated != 1 {
		t.Fatalf("counts = %+v, want 3 suppressed (1 removed, 1 updated)", rep.Counts)
	}
	for _, e := range []string{"ann@example.com", "bob@example.com", "cat@example.com"} {
		if r := mustStatus(t, in, e, store.StatusOffboarded); len(r.GroupIDs) != 0 {
			t.Fatalf("%s is offboarded but in groups %v", e, r.GroupIDs)
		}
	}
	_, s, _ := in.lookup(context.Background(), org, "okta")
	if s.Rows != 1 {
		t.Fatalf("directory source rows = %d, want 1 (ann, inactive)", s.Rows)
	}
	// A stale CSV cannot bring them back (merge rule 5).
	MustIngest(t, in, org, csv, "hr2.csv", rec(2, "ann@example.com", "Ann", "Hr2", "All"), rec(3, "bob@example.com", "Bob", "Hr2", "All"),
		rec(4, "cat@example.com", "Cat", "Hr2", "All"))
	for _, e := range []string{"ann@example.com", "bob@example.com", "cat@example.com"} {
		mustStatus(t, in, e, store.StatusOffboarded)
	}
	// The directory lists Ann as active again: reinstated.
	mustEdits(t, in, dir, Edit{Kind: EditUpsert, Record: dirRec("ann@example.com", "Ann", "u1", nil)})
	mustStatus(t, in, "ann@example.com", store.StatusActive)
	// A repeat of a deletion changes nothing.
	rep = mustEdits(t, in, dir, Edit{Kind: EditOffboard, Record: dirRec("bob@example.com", "Bob", "u2", nil)})
	if rep.Counts.Suppressed != 0 || rep.Counts.Removed != 0 {
		t.Fatalf("repeated deletion counts = %+v, want nothing", rep.Counts)
	}
}

func TestEditsOfANonAuthoritativeSourceOnlyWithdraw(t *testing.T) {
	in := MustIngester(t)
	dir := dirSource()
	dir.Authoritative = false
	MustIngest(t, in, org, dir, "pull", dirRec("ann@example.com", "Ann", "u1", []string{"Eng"}))
	MustIngest(t, in, org, src("hr", 5, false), "hr.csv", rec(2, "ann@example.com", "Ann", "Hr", "All"))
	mustEdits(t, in, dir, Edit{Kind: EditOffboard, Record: dirRec("ann@example.com", "Ann", "u1", nil)},
		Edit{Kind: EditOffboard, Record: dirRec("zed@example.com", "Zed", "u9", nil)})
	r := mustStatus(t, in, "ann@example.com", store.StatusActive)
	if g := groupsOf(t, in, org, r); !slices.Equal(g, []string{"hr/All"}) {
		t.Fatalf("ann's groups = %v, want only the CSV's", g)
	}
	o, _ := in.Store.LookupOrg(context.Background(), org)
	if _, err := in.Store.Recipient(context.Background(), o.ID, "zed@example.com"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("an unknown person deleted by a non-authoritative source: %v, want no recipient", err)
	}
}

func TestEditsGroupRenameDeleteAndIfListed(t *testing.T) {
	in := MustIngester(t)
	dir := dirSource()
	MustIngest(t, in, org, dir, "pull", dirRec("ann@example.com", "Ann", "u1", []string{"Eng", "Ops"}),
		dirRec("bob@example.com", "Bob", "u2", []string{"Eng"}), dirRec("cat@example.com", "Cat", "u3", []string{"Sales"}))
	rep := mustEdits(t, in, dir,
		Edit{Kind: EditGroupAdd, Group: "Eng", Record: dirRec("cat@example.com", "Cat", "u3", nil)},
		Edit{Kind: EditGroupRename, OldGroup: "Eng", Group: "Engineering"},
		Edit{Kind: EditGroupDelete, Group: "Ops"})
	if rep.Counts.Updated != 3 {
		t.Fatalf("counts = %+v, want 3 updated", rep.Counts)
	}
	for key, want := range map[string][]string{"ann@example.com": {"Engineering"}, "bob@example.com": {"Engineering"},
		"cat@example.com": {"Engineering", "Sales"}} {
		if g, _ := snapshotGroups(t, in, "okta", key); !slices.Equal(g, want) {
			t.Errorf("%s groups = %v, want %v", key, g, want)
		}
	}
	// A group-limited source ignores user events about people it does not
	// list, and adds nobody from them.
	rep = mustEdits(t, in, dir, Edit{Kind: EditUpsert, IfListed: true, Record: dirRec("dan@example.com", "Dan", "u4", nil)},
		Edit{Kind: EditGroupAdd, IfListed: true, Group: "Engineering", Record: dirRec("dan@example.com", "Dan", "u4", nil)},
		Edit{Kind: EditUpsert, IfListed: true, Record: dirRec("bob@example.com", "Bobby", "u2", nil)},
		Edit{Kind: EditOffboard, IfListed: true, Record: dirRec("fay@example.com", "Fay", "u6", nil)})
	if rep.Counts.Added != 0 || rep.Counts.Updated != 1 || rep.Counts.Suppressed != 0 {
		t.Fatalf("if-listed counts = %+v, want only bob updated", rep.Counts)
	}
	// Someone new joining a group is added with it.
	mustEdits(t, in, dir, Edit{Kind: EditGroupAdd, Group: "Sales", Record: dirRec("eve@example.com", "Eve", "u5", nil)})
	if g, ok := snapshotGroups(t, in, "okta", "eve@example.com"); !ok || !slices.Equal(g, []string{"Sales"}) {
		t.Fatalf("eve groups = %v (%v)", g, ok)
	}
}

// Edits are deltas, not a file (issue 11): an invalid one is skipped with
// a warning, and the batch is applied, even when every edit of it is
// invalid (it used to be rejected by the file rule "more than 2% invalid").
func TestEditsWithInvalidRecordsAreSkipped(t *testing.T) {
	in := MustIngester(t)
	dir := dirSource()
	MustIngest(t, in, org, dir, "pull", dirRec("ann@example.com", "Ann", "u1", []string{"Eng"}))
	bad := invalid(schema.Record{SourceID: "u7"}, "directory user u7 has no primary email")
	rep := mustEdits(t, in, dir, Edit{Kind: EditUpsert, Record: bad})
	mustDecision(t, rep, Applied)
	if rep.Counts.Invalid != 1 || len(rep.Problems) != 2 || rep.DropID == 0 {
		t.Fatalf("report = %+v", rep)
	}
	for _, p := range rep.Problems {
		if p.Severity != schema.SeverityWarning {
			t.Fatalf("problem %+v, want a warning", p)
		}
	}
	o, _ := in.Store.LookupOrg(context.Background(), org)
	d, err := in.Store.Drop(context.Background(), o.ID, rep.DropID)
	if err != nil || d.Status != store.DropApplied || d.Kind != store.DropKindStream {
		t.Fatalf("drop = %+v, %v: want an applied stream drop", d, err)
	}
	// A dry run writes nothing.
	before, _, _ := in.Store.Drops(context.Background(), o.ID, store.DropFilter{})
	rep, err = in.ApplyEdits(context.Background(), Edits{Source: dir, Name: "dry", Edits: []Edit{
		{Kind: EditUpsert, Record: dirRec("new@example.com", "New", "u8", nil)}}}, Options{DryRun: true})
	if err != nil || rep.Counts.Added != 1 || !rep.DryRun {
		t.Fatalf("dry run = %+v, %v", rep, err)
	}
	after, _, _ := in.Store.Drops(context.Background(), o.ID, store.DropFilter{})
	if len(after) != len(before) {
		t.Fatal("a dry run recorded a drop")
	}
	if _, ok := snapshotGroups(t, in, "okta", "new@example.com"); ok {
		t.Fatal("a dry run applied")
	}
}

func TestWithdrawSourceDoesNotOffboard(t *testing.T) {
	in := MustIngester(t)
	dir := dirSource()
	MustIngest(t, in, org, dir, "pull", dirRec("ann@example.com", "Ann", "u1", []string{"Eng"}),
		dirRec("bob@example.com", "Bob", "u2", []string{"Eng"}))
	MustIngest(t, in, org, src("hr", 5, false), "hr.csv", rec(2, "ann@example.com", "Ann", "Hr", "All"))
	rep, err := in.WithdrawSource(context.Background(), org, "okta", "directory deleted", Options{By: "workos"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts.Removed != 2 || rep.Counts.Suppressed != 0 {
		t.Fatalf("counts = %+v, want 2 removed, none suppressed", rep.Counts)
	}
	mustStatus(t, in, "ann@example.com", store.StatusActive)
	mustStatus(t, in, "bob@example.com", store.StatusGone)
	if _, err := in.WithdrawSource(context.Background(), org, "nope", "x", Options{}); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("withdrawing an unknown source: %v", err)
	}
}

func TestRebuildFindsAndRepairsDifferences(t *testing.T) {
	ctx := context.Background()
	in := MustIngester(t)
	MustIngest(t, in, org, dirSource(), "pull", dirRec("ann@example.com", "Ann", "u1", []string{"Eng"}),
		inactive(dirRec("bob@example.com", "Bob", "u2", []string{"Eng"})))
	MustIngest(t, in, org, src("hr", 5, false), "hr.csv", rec(2, "cat@example.com", "Cat", "Hr", "All"))
	rep, err := in.Rebuild(ctx, org, Options{})
	if err != nil || rep.Checked != 3 || rep.Differed != 0 {
		t.Fatalf("rebuild of a consistent store = %+v, %v", rep, err)
	}
	// Spoil two recipients behind the pipeline's back.
	o, _ := in.Store.LookupOrg(ctx, org)
	tx, err := in.Store.Begin(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	ann, _, _ := tx.Recipient("ann@example.com")
	ann.GroupIDs, ann.FirstName = nil, "Wrong"
	bob, _, _ := tx.Recipient("bob@example.com")
	bob.Status = store.StatusActive
	for _, r := range []*store.Recipient{&ann, &bob} {
		if err := tx.SaveRecipient(r, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rep, err = in.Rebuild(ctx, org, Options{DryRun: true})
	if err != nil || rep.Differed != 2 || !slices.Equal(rep.Sample, []string{"ann@example.com", "bob@example.com"}) {
		t.Fatalf("dry rebuild = %+v, %v", rep, err)
	}
	if r := MustRecipient(t, in, org, "ann@example.com"); r.FirstName != "Wrong" {
		t.Fatal("a dry run repaired")
	}
	if rep, err = in.Rebuild(ctx, org, Options{}); err != nil || rep.Differed != 2 {
		t.Fatalf("rebuild = %+v, %v", rep, err)
	}
	r := mustStatus(t, in, "ann@example.com", store.StatusActive)
	if r.FirstName != "Ann" || !slices.Equal(groupsOf(t, in, org, r), []string{"okta/Eng"}) {
		t.Fatalf("ann after repair = %+v", r)
	}
	mustStatus(t, in, "bob@example.com", store.StatusOffboarded)
	if rep, _ = in.Rebuild(ctx, org, Options{}); rep.Differed != 0 {
		t.Fatalf("second rebuild found %d differences", rep.Differed)
	}
}
