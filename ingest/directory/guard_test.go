package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// staff returns n people p0..p(n-1) of source hr, all active.
func staff(n int) []schema.Record {
	var out []schema.Record
	for i := range n {
		out = append(out, person(fmt.Sprintf("p%d@example.com", i), fmt.Sprintf("P%d", i), fmt.Sprintf("u%d", i), "All"))
	}
	return out
}

func deletions(from, to int) []ingest.Edit {
	var out []ingest.Edit
	for i := from; i < to; i++ {
		out = append(out, ingest.Edit{Kind: ingest.EditOffboard, Record: schema.Record{SourceID: fmt.Sprintf("u%d", i)}})
	}
	return out
}

func deactivations(from, to int) []ingest.Edit {
	var out []ingest.Edit
	for i := from; i < to; i++ {
		r := person(fmt.Sprintf("p%d@example.com", i), fmt.Sprintf("P%d", i), fmt.Sprintf("u%d", i))
		r.Status, r.Groups = schema.StatusInactive, nil
		out = append(out, ingest.Edit{Kind: ingest.EditUpsert, Record: r})
	}
	return out
}

func (et *engineTest) apply(name string, edits []ingest.Edit) *Result {
	et.t.Helper()
	res, err := et.pulled.Apply(context.Background(), Batch{Name: name, By: "test", Edits: edits})
	if err != nil {
		et.t.Fatalf("%s: %v", name, err)
	}
	return res
}

func (et *engineTest) status(email string) store.RecipientStatus {
	et.t.Helper()
	ctx := context.Background()
	o, err := et.st.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		et.t.Fatal(err)
	}
	r, err := et.st.Recipient(ctx, o.ID, email)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return ""
	}
	if err != nil {
		et.t.Fatal(err)
	}
	return r.Status
}

func (et *engineTest) heldChanges(dropID int64) []string {
	et.t.Helper()
	var out []string
	err := et.st.HeldChanges(context.Background(), dropID, func(c store.Change) error {
		out = append(out, c.Op.String()+" "+c.Key)
		return nil
	})
	if err != nil {
		et.t.Fatal(err)
	}
	return out
}

// Removals carried by batches (events, webhooks, SCIM writes) count against
// the source's thresholds over a rolling window: the batch that crosses
// them is held as one drop with its diff, the later batches of the source
// wait behind it, and once it is approved they apply in order.
func TestBatchRemovalsGuardedOverAWindowThenAppliedInOrder(t *testing.T) {
	ctx := context.Background()
	et := mustEngine(t)
	et.people = func() []schema.Record { return staff(40) }
	if rep, err := et.pulled.Pull(ctx, "test", ingest.Options{}); err != nil || rep.Decision != ingest.Applied {
		t.Fatalf("pull = %v, %v", rep, err)
	}
	// 4 + 3 of 40 (17.5%): under the 20% share.
	for _, b := range []struct {
		name  string
		edits []ingest.Edit
	}{{"delete 4", deletions(0, 4)}, {"deactivate 3", deactivations(4, 7)}} {
		if res := et.apply(b.name, b.edits); res.Decision() != "applied" {
			t.Fatalf("%s: %s %+v", b.name, res.Decision(), res.Report)
		}
	}
	// Two more (22.5% over the window): held, with its diff.
	res := et.apply("delete 2", deletions(7, 9))
	if res.Decision() != "held" || !strings.Contains(res.Report.Reason, "9 of 40") {
		t.Fatalf("crossing batch: %s %+v", res.Decision(), res.Report)
	}
	held := res.Report.DropID
	if got := et.heldChanges(held); !slices.Equal(got, []string{"removed p7@example.com", "removed p8@example.com"}) {
		t.Fatalf("held diff = %v", got)
	}
	if st := et.status("p7@example.com"); st != store.StatusActive {
		t.Fatalf("p7 = %s while held, want active", st)
	}
	// Later batches wait behind it, in order: a rename of someone the
	// held batch deletes, then a new hire, then the same person's deletion
	// again (no held drop may let it apply before the batch it follows).
	rename := person("p7@example.com", "Renamed", "u7")
	rename.Groups = nil
	q1 := et.apply("rename", []ingest.Edit{{Kind: ingest.EditUpsert, Record: rename}})
	q2 := et.apply("hire", []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("new@example.com", "New", "u99", "All")}})
	if q1.Decision() != "queued" || q1.Behind != held || q2.Decision() != "queued" {
		t.Fatalf("later batches: %s behind %d, %s", q1.Decision(), q1.Behind, q2.Decision())
	}
	if st := et.status("new@example.com"); st != "" {
		t.Fatalf("the new hire applied before the held drop was decided: %s", st)
	}
	// Nothing moves until an admin decides.
	if err := et.eng.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := et.status("new@example.com"); st != "" {
		t.Fatal("settled while still held")
	}
	if _, err := et.eng.Ingester.Approve(ctx, schema.DefaultOrg, held, ingest.Options{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := et.eng.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	// In order: p7 deleted (approved), then re-listed by the rename (the
	// directory said so after), then the hire.
	et.mustBe("p8@example.com", store.StatusOffboarded, "P8")
	et.mustBe("p7@example.com", store.StatusActive, "Renamed") // a user event keeps the groups listed: none then
	et.mustBe("new@example.com", store.StatusActive, "New", "hr/All")
	if q, _ := et.st.Queued(ctx, mustSourceID(t, et, "hr")); len(q) != 0 {
		t.Fatalf("%d batches still queued", len(q))
	}
}

// A rejected held batch is dropped, and the batches queued behind it apply
// without it. A full pull supersedes a held batch and what is queued before
// it started; removals before a full pull, or older than the window, do not
// count.
func TestHeldBatchRejectedOrSupersededByAPull(t *testing.T) {
	ctx := context.Background()
	et := mustEngine(t)
	people := staff(20)
	et.people = func() []schema.Record { return people }
	if _, err := et.pulled.Pull(ctx, "test", ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	res := et.apply("delete 5", deletions(0, 5)) // 25%
	if res.Decision() != "held" {
		t.Fatalf("delete 5 of 20: %s", res.Decision())
	}
	if q := et.apply("hire", []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("new@example.com", "New", "u99")}}); q.Decision() != "queued" {
		t.Fatalf("hire: %s", q.Decision())
	}
	if _, err := et.eng.Ingester.Reject(ctx, schema.DefaultOrg, res.Report.DropID, "a glitch of the IdP", ingest.Options{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	if err := et.eng.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	et.mustBe("p0@example.com", store.StatusActive, "P0", "hr/All")
	et.mustBe("new@example.com", store.StatusActive, "New")

	// Held again, a batch queued, then a full pull that still lists
	// everyone: the held batch and the queued one are superseded by it.
	res = et.apply("delete 5 again", deletions(0, 5))
	if res.Decision() != "held" {
		t.Fatalf("delete 5 again: %s", res.Decision())
	}
	et.apply("rename p1", []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("p1@example.com", "Stale", "u1")}})
	people = append(staff(20), person("new@example.com", "New", "u99"))
	if rep, err := et.pulled.Pull(ctx, "test", ingest.Options{}); err != nil || rep.Decision != ingest.Duplicate && rep.Decision != ingest.Applied {
		t.Fatalf("pull = %+v, %v", rep, err)
	}
	o, _ := et.st.LookupOrg(ctx, schema.DefaultOrg)
	d, err := et.st.Drop(ctx, o.ID, res.Report.DropID)
	if err != nil || d.Status != store.DropRejected || !strings.Contains(string(d.Report), "superseded by drop") {
		t.Fatalf("held batch after the pull: %s %s", d.Status, d.Report)
	}
	if q, _ := et.st.Queued(ctx, mustSourceID(t, et, "hr")); len(q) != 0 {
		t.Fatalf("%d batches still queued after the pull", len(q))
	}
	et.mustBe("p1@example.com", store.StatusActive, "P1", "hr/All")

	// The window restarted with the pull; removals older than it do not
	// count either.
	for i, b := range [][]ingest.Edit{deletions(0, 3), deletions(3, 6)} { // 3 of 21, then 3 more a day later (6 would be 28%)
		if i == 1 {
			et.st.SetClock(func() time.Time { return time.Now().Add(25 * time.Hour) })
		}
		if res := et.apply(fmt.Sprint("batch ", i), b); res.Decision() != "applied" {
			t.Fatalf("batch %d: %s %+v", i, res.Decision(), res.Report)
		}
	}
	et.st.SetClock(time.Now)
}

func mustSourceID(t testing.TB, et *engineTest, name string) int64 {
	t.Helper()
	ctx := context.Background()
	o, err := et.st.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := et.st.LookupSource(ctx, o.ID, name)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// Edits are deltas, not a file: a bad one (no email) is skipped with a
// warning and never rejects the batch, whatever their share.
func TestBadEditSkippedWithAWarning(t *testing.T) {
	et := mustEngine(t)
	et.people = func() []schema.Record { return staff(10) }
	if _, err := et.pulled.Pull(context.Background(), "test", ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	noEmail := schema.Record{SourceID: "svc-1", FirstName: "Service", Problems: []schema.Problem{{Code: "missing_email",
		Severity: schema.SeverityError, Message: "no email address"}}}
	res := et.apply("two events", append(deactivations(3, 4), ingest.Edit{Kind: ingest.EditUpsert, Record: noEmail}))
	if res.Decision() != "applied" || res.Report.Counts.Invalid != 1 || res.Report.Counts.Updated != 1 {
		t.Fatalf("batch = %s %+v", res.Decision(), res.Report)
	}
	for _, p := range res.Report.Problems {
		if p.Severity == schema.SeverityError {
			t.Fatalf("an error in the report of a batch: %+v", p)
		}
	}
	if !strings.Contains(fmt.Sprint(res.Report.Problems), "skipped") {
		t.Fatalf("problems = %+v, want the skip said", res.Report.Problems)
	}
	et.mustBe("p3@example.com", store.StatusOffboarded, "P3")
}
