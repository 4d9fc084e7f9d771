package ingest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"muster/schema"
	"muster/store"
)

func TestRule1OneRecipientPerEmail(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, org, src("hr", 10, false), "hr.csv", rec(2, "Ann.Lee@Example.com", "Ann", "Lee", "Sales"))
	MustIngest(t, in, org, src("crm", 5, false), "crm.csv", rec(2, "ann.lee@example.COM", "Annie", "Lee", "VIP"),
		rec(3, "ann.lee+news@example.com", "Ann", "News"))
	keys := activeKeys(t, in, org)
	if want := []string{"ann.lee+news@example.com", "ann.lee@example.com"}; !slices.Equal(keys, want) {
		t.Fatalf("recipients = %v, want %v (one per normalised email, +tags kept)", keys, want)
	}
	r := MustRecipient(t, in, org, "ann.lee@example.com")
	if r.Email != "Ann.Lee@Example.com" {
		t.Errorf("email as written = %q, want the higher-priority source's spelling", r.Email)
	}
	if g := groupsOf(t, in, org, r); !slices.Equal(g, []string{"hr/Sales", "crm/VIP"}) && !slices.Equal(g, []string{"crm/VIP", "hr/Sales"}) {
		t.Errorf("groups = %v", g)
	}
}

func TestRule2SourceOwnsOnlyItsAssertions(t *testing.T) {
	in := MustIngester(t)
	dir := src("directory", 20, true)
	csv := src("csv", 10, false)
	MustIngest(t, in, org, dir, "pull 1", rec(0, "dana@example.com", "Dana", "Dir", "Eng"))
	MustIngest(t, in, org, csv, "a.csv", rec(2, "dana@example.com", "Dana", "Csv", "All"), rec(3, "carl@example.com", "Carl", "Csv", "All"))
	// The CSV stops listing Dana: she stays, listed by the directory.
	rep := MustIngest(t, in, org, csv, "b.csv", rec(2, "carl@example.com", "Carl", "Csv", "All"))
	mustDecision(t, rep, Applied)
	if rep.Counts.Removed != 1 {
		t.Fatalf("removed = %d, want 1", rep.Counts.Removed)
	}
	d := MustRecipient(t, in, org, "dana@example.com")
	if d.Status != store.StatusActive || !slices.Equal(groupsOf(t, in, org, d), []string{"directory/Eng"}) {
		t.Fatalf("dana = %s %v, want active in directory/Eng only", d.Status, groupsOf(t, in, org, d))
	}
	if d.Status == store.StatusOffboarded {
		t.Fatal("a CSV removal must never offboard")
	}
	// Deleting the CSV source withdraws its assertions: Carl (CSV only) goes,
	// Dana (directory-synced) is untouched.
	rep, err := in.RemoveSource(context.Background(), org, "csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts.Removed != 1 {
		t.Fatalf("source removal removed %d, want 1", rep.Counts.Removed)
	}
	if c := MustRecipient(t, in, org, "carl@example.com"); c.Status != store.StatusGone {
		t.Errorf("carl = %s, want gone", c.Status)
	}
	if d := MustRecipient(t, in, org, "dana@example.com"); d.Status != store.StatusActive {
		t.Errorf("dana = %s after removing the CSV source, want active", d.Status)
	}
}

func TestRule3AttributePrecedence(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, org, src("low", 1, false), "low", rec(1, "p@example.com", "Low", "Low"))
	MustIngest(t, in, org, src("high", 9, false), "high", rec(1, "p@example.com", "High", ""))
	r := MustRecipient(t, in, org, "p@example.com")
	if r.FirstName != "High" || r.LastName != "Low" {
		t.Fatalf("name = %q %q, want High (higher priority) Low (only source with a value)", r.FirstName, r.LastName)
	}
	// A later change by the lower-priority source does not win.
	MustIngest(t, in, org, src("low", 1, false), "low 2", rec(1, "p@example.com", "Lower", "Low"))
	if r := MustRecipient(t, in, org, "p@example.com"); r.FirstName != "High" {
		t.Fatalf("first name = %q, want High", r.FirstName)
	}
	// Equal priority: the fixed order of the sources (by name) decides,
	// never which drop came last.
	MustIngest(t, in, org, src("tie-b", 5, false), "b", rec(1, "q@example.com", "B", "X"))
	MustIngest(t, in, org, src("tie-a", 5, false), "a", rec(1, "q@example.com", "A", "X"))
	if r := MustRecipient(t, in, org, "q@example.com"); r.FirstName != "A" {
		t.Fatalf("tie: first name = %q, want A (tie-a comes first)", r.FirstName)
	}
	MustIngest(t, in, org, src("tie-b", 5, false), "b2", rec(1, "q@example.com", "B2", "X"))
	if r := MustRecipient(t, in, org, "q@example.com"); r.FirstName != "A" {
		t.Fatalf("tie: first name = %q, want A (a later change of tie-b does not win)", r.FirstName)
	}
	MustIngest(t, in, org, src("tie-a", 5, false), "a2", rec(1, "q@example.com", "A2", "X"))
	if r := MustRecipient(t, in, org, "q@example.com"); r.FirstName != "A2" {
		t.Fatalf("tie: first name = %q, want A2 (tie-a's new value)", r.FirstName)
	}
	ex, err := in.Explain(context.Background(), org, "q@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Winners["first_name"] != "tie-a" || len(ex.Assertions) != 2 {
		t.Fatalf("explain winners = %v, %d assertions", ex.Winners, len(ex.Assertions))
	}
}

func TestRule4GroupsUnion(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, org, src("a", 1, false), "a", rec(1, "g@example.com", "G", "G", "Eng", "London"))
	MustIngest(t, in, org, src("b", 2, false), "b", rec(1, "g@example.com", "G", "G", "Eng"))
	got := groupsOf(t, in, org, MustRecipient(t, in, org, "g@example.com"))
	slices.Sort(got)
	if want := []string{"a/Eng", "a/London", "b/Eng"}; !slices.Equal(got, want) {
		t.Fatalf("groups = %v, want %v (named within their source, union over sources)", got, want)
	}
	MustIngest(t, in, org, src("a", 1, false), "a2", rec(1, "g@example.com", "G", "G"))
	if got := groupsOf(t, in, org, MustRecipient(t, in, org, "g@example.com")); !slices.Equal(got, []string{"b/Eng"}) {
		t.Fatalf("after a drops its groups: %v, want [b/Eng]", got)
	}
	o, _ := in.Store.LookupOrg(context.Background(), org)
	ids, _ := in.Store.FindGroups(context.Background(), o.ID, "eng", "")
	if len(ids) != 2 {
		t.Fatalf("groups named Eng = %v, want one per source", ids)
	}
}

func TestRule5Offboarding(t *testing.T) {
	in := MustIngester(t)
	dir := src("directory", 1, true)
	csv := src("csv", 9, false)
	MustIngest(t, in, org, dir, "pull 1", rec(0, "o@example.com", "O", "O", "Eng"), rec(0, "never@example.com", "N", "N"))
	MustIngest(t, in, org, csv, "a.csv", rec(2, "o@example.com", "O", "O", "All"), rec(3, "s@example.com", "S", "S", "All"))
	// The directory marks O inactive: O leaves every group of every source.
	rep := MustIngest(t, in, org, dir, "pull 2", inactive(rec(0, "o@example.com", "O", "O", "Eng")), rec(0, "never@example.com", "N", "N"))
	if rep.Counts.Suppressed != 1 {
		t.Fatalf("suppressed = %d, want 1", rep.Counts.Suppressed)
	}
	o := MustRecipient(t, in, org, "o@example.com")
	if o.Status != store.StatusOffboarded || len(o.GroupIDs) != 0 {
		t.Fatalf("o = %s in %v, want offboarded in no group", o.Status, groupsOf(t, in, org, o))
	}
	// A stale CSV that changes O cannot bring them back.
	MustIngest(t, in, org, csv, "b.csv", rec(2, "o@example.com", "Olivia", "O", "All", "New"), rec(3, "s@example.com", "S", "S", "All"))
	if o := MustRecipient(t, in, org, "o@example.com"); o.Status != store.StatusOffboarded || len(o.GroupIDs) != 0 {
		t.Fatalf("after stale CSV: %s in %d groups", o.Status, len(o.GroupIDs))
	}
	// A non-authoritative inactive row only withdraws that source's say.
	MustIngest(t, in, org, csv, "c.csv", rec(2, "o@example.com", "Olivia", "O", "All", "New"), inactive(rec(3, "s@example.com", "S", "S", "All")))
	if s := MustRecipient(t, in, org, "s@example.com"); s.Status != store.StatusInactive {
		t.Fatalf("s = %s, want inactive (not offboarded)", s.Status)
	}
	// The directory lists O as active again: back, in both sources' groups.
	MustIngest(t, in, org, dir, "pull 3", rec(0, "o@example.com", "O", "O", "Eng"), rec(0, "never@example.com", "N", "N"))
	o = MustRecipient(t, in, org, "o@example.com")
	if o.Status != store.StatusActive || len(o.GroupIDs) != 3 {
		t.Fatalf("after re-activation: %s in %v", o.Status, groupsOf(t, in, org, o))
	}
	// Deleted by the directory: offboarded; an admin lifts it.
	MustIngest(t, in, org, dir, "pull 4", rec(0, "never@example.com", "N", "N"))
	if o := MustRecipient(t, in, org, "o@example.com"); o.Status != store.StatusOffboarded {
		t.Fatalf("deleted by the directory: %s, want offboarded", o.Status)
	}
	r, err := in.Lift(context.Background(), org, "o@example.com", "", "contractor now", Options{By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != store.StatusActive || len(r.GroupIDs) != 2 {
		t.Fatalf("after lift: %s in %d groups, want active in the CSV's 2 groups", r.Status, len(r.GroupIDs))
	}
	// Inactive directory members are never added to the audience.
	MustIngest(t, in, org, dir, "pull 5", rec(0, "never@example.com", "N", "N"), inactive(rec(0, "gone@example.com", "G", "G", "Eng")))
	if g := MustRecipient(t, in, org, "gone@example.com"); g.Status == store.StatusActive {
		t.Fatal("an inactive directory member was added to the audience")
	}
}

func TestRule6AttributeAllowlist(t *testing.T) {
	in := MustIngester(t)
	r := rec(2, "a@example.com", "A", "A")
	r.Attrs[schema.AttrJobTitle] = "Chief Secret Officer"
	r.Attrs[schema.AttrCity] = "Zanzibar-City-Secret"
	cfg := src("hr", 1, false)
	cfg.Attrs = schema.AttrSet(0).With(schema.AttrJobTitle)
	MustIngest(t, in, org, cfg, "hr.csv", r)
	rr := MustRecipient(t, in, org, "a@example.com")
	if rr.Attrs[schema.AttrJobTitle] != "Chief Secret Officer" || rr.Attrs[schema.AttrCity] != "" {
		t.Fatalf("attrs = %q", rr.Attrs)
	}
	// The value of an attribute not enabled is nowhere in the store's files.
	for i, f := range storedBytes(t, in.Store) {
		if bytes.Contains(f.data, []byte("Zanzibar-City-Secret")) {
			t.Fatalf("%s holds the value of an attribute that is not enabled", f.name)
		}
		if i == 0 && !bytes.Contains(f.data, []byte("Chief Secret Officer")) {
			t.Fatalf("%s lacks the enabled attribute: the check would prove nothing", f.name)
		}
	}
}

func TestRule3PriorityChangeDerivesAgain(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, org, src("a", 1, false), "a", rec(1, "p@example.com", "FromA", "X"))
	MustIngest(t, in, org, src("b", 2, false), "b", rec(1, "p@example.com", "FromB", "X"))
	if r := MustRecipient(t, in, org, "p@example.com"); r.FirstName != "FromB" {
		t.Fatalf("first name = %q, want FromB", r.FirstName)
	}
	// Source a now outranks b: the same drop content again (a duplicate,
	// nothing to apply) still re-derives a's people under the new priority.
	MustIngest(t, in, org, src("a", 3, false), "a", rec(1, "p@example.com", "FromA", "X"))
	if r := MustRecipient(t, in, org, "p@example.com"); r.FirstName != "FromA" {
		t.Fatalf("after raising a's priority: first name = %q, want FromA", r.FirstName)
	}
}

func TestRule6AllowlistNarrowedScrubsStoredValues(t *testing.T) {
	in := MustIngester(t)
	r := rec(2, "a@example.com", "A", "A")
	r.Attrs[schema.AttrJobTitle] = "Engineer"
	r.Attrs[schema.AttrCity] = "Lisbon"
	cfg := src("hr", 1, false)
	cfg.Attrs = schema.AttrSet(0).With(schema.AttrJobTitle).With(schema.AttrCity)
	MustIngest(t, in, org, cfg, "day0", r)
	r2 := r
	r2.FirstName = "Ann" // a second version, so history holds the city too
	MustIngest(t, in, org, cfg, "day1", r2)
	// A held drop (it removes 3 of 4 people) whose diff carries a city too.
	hold := cfg
	hold.MaxRemovePercent = 20
	others := people(3, "p")
	for i := range others {
		others[i].Attrs[schema.AttrCity] = "Porto"
	}
	MustIngest(t, in, org, hold, "day1b", append([]schema.Record{r2}, others...)...)
	r3 := r2
	r3.Attrs[schema.AttrCity] = "Faro"
	heldRep := MustIngest(t, in, org, hold, "held", r3)
	mustDecision(t, heldRep, Held)
	cfg.Attrs = schema.AttrSet(0).With(schema.AttrJobTitle)
	// Narrow the allowlist: the same content again is now unchanged, and
	// the city is gone from the snapshot, its history and the recipient.
	rep := MustIngest(t, in, org, cfg, "day2", r2)
	if rep.Counts.Unchanged != 1 || rep.Counts.Updated != 0 {
		t.Fatalf("after narrowing, same content: %+v", rep.Counts)
	}
	o, _ := in.Store.LookupOrg(context.Background(), org)
	vs, err := in.Store.Versions(context.Background(), o.ID, "a@example.com")
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions: %d, %v", len(vs), err)
	}
	for _, v := range vs {
		if v.Attrs[schema.AttrCity] != "" || v.Attrs[schema.AttrJobTitle] != "Engineer" {
			t.Fatalf("version of seq %d still holds %q", v.Seq, v.Attrs)
		}
	}
	if rr := MustRecipient(t, in, org, "a@example.com"); rr.Attrs[schema.AttrCity] != "" || rr.Attrs[schema.AttrJobTitle] != "Engineer" {
		t.Fatalf("recipient attrs = %q", rr.Attrs)
	}
	updates := 0
	err = in.Store.HeldChanges(context.Background(), heldRep.DropID, func(c store.Change) error {
		if c.Op == store.OpUpdate {
			updates++
		}
		if c.Attrs[schema.AttrCity] != "" {
			return fmt.Errorf("held change %s %s still holds %q", c.Op, c.Key, c.Attrs[schema.AttrCity])
		}
		return nil
	})
	if err != nil || updates != 1 {
		t.Fatalf("held changes: %v, %d updates (want the one carrying a city)", err, updates)
	}
}

// A value of an attribute that is not enabled never reaches the store, not
// even quoted in a problem of the report.
func TestRule6DisabledAttributeNotInReport(t *testing.T) {
	in := MustIngester(t)
	csv := "Email,First Name,Last Name,Hire Date,Manager Email\n" +
		"a@example.com,A,A,Secret-Hire-Date-Value,secret-manager-value\n" +
		"b@example.com,B,B,2024-01-02,b@example.com\n"
	d, err := FileDrop(strings.NewReader(csv), "hr.csv", "sha256:x", schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Source = src("hr", 0, false)
	rep, err := in.Ingest(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep, Applied)
	// Where the attributes are enabled, the warnings are reported.
	d, _ = FileDrop(strings.NewReader(csv), "hr.csv", "sha256:x", schema.DecodeOptions{})
	d.Org, d.Source = "other", src("hr", 0, false)
	d.Source.Attrs = schema.AttrSet(0).With(schema.AttrEmploymentStartDate).With(schema.AttrManagerEmail)
	if rep, err = in.Ingest(context.Background(), d, Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if codes := fmt.Sprint(rep.Problems); !strings.Contains(codes, "invalid_date") || !strings.Contains(codes, "invalid_manager_email") {
		t.Fatalf("problems with the attributes enabled = %v", rep.Problems)
	}
	for _, f := range storedBytes(t, in.Store) {
		for _, secret := range []string{"Secret-Hire-Date-Value", "secret-manager-value"} {
			if bytes.Contains(f.data, []byte(secret)) {
				t.Errorf("%s holds %q, the value of an attribute that is not enabled", f.name, secret)
			}
		}
	}
}

// Enabling an attribute and ingesting the same file again picks its values
// up: the content is the same but what the source keeps of it is not.
func TestRule6AllowlistWidenedSameFileApplies(t *testing.T) {
	in := MustIngester(t)
	r := rec(2, "a@example.com", "A", "A")
	r.Attrs[schema.AttrJobTitle] = "Engineer"
	cfg := src("hr", 0, false)
	ingest := func() *Report {
		rep, err := in.Ingest(context.Background(), Drop{Source: cfg, Name: "hr.csv", ContentHash: "sha256:same",
			Records: &schema.SliceStream{Records: []schema.Record{r}}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	mustDecision(t, ingest(), Applied)
	cfg.Attrs = schema.AttrSet(0).With(schema.AttrJobTitle)
	rep := ingest()
	mustDecision(t, rep, Applied)
	if got := MustRecipient(t, in, org, "a@example.com").Attrs[schema.AttrJobTitle]; got != "Engineer" {
		t.Fatalf("job_title = %q after enabling it (report: %s, %s)", got, rep.Decision, rep.Reason)
	}
	mustDecision(t, ingest(), Duplicate)
}

// The same person listed by two sources with different casing is one
// recipient, and stays while either lists them.
func TestRule1CasingAcrossSources(t *testing.T) {
	in := MustIngester(t)
	MustIngest(t, in, org, src("a", 0, false), "a", rec(2, "Jane.Doe@Example.ORG", "Jane", "Doe", "A"))
	MustIngest(t, in, org, src("b", 0, false), "b", rec(2, "jane.doe@example.org", "Jane", "Doe", "B"))
	if got := activeKeys(t, in, org); len(got) != 1 {
		t.Fatalf("active = %v", got)
	}
	MustIngest(t, in, org, src("a", 0, false), "a2", rec(2, "other@example.org", "O", "O"))
	r := MustRecipient(t, in, org, "jane.doe@example.org")
	if r.Status != store.StatusActive || strings.Join(groupsOf(t, in, org, r), ",") != "b/B" {
		t.Fatalf("after a drops her: %s %v", r.Status, groupsOf(t, in, org, r))
	}
}

// Ties in priority go to a fixed order of the sources (by name), never to
// the most recent change (it was, before issue 11: the result then
// depended on which drop came last): both orders give the same winner.
func TestRule3TieGoesToAFixedOrderNotToRecency(t *testing.T) {
	for _, order := range [][]string{{"a", "b"}, {"b", "a"}} {
		in := MustIngester(t)
		first := map[string]string{"a": "Alpha", "b": "Bravo"}
		for _, name := range order {
			MustIngest(t, in, org, src(name, 1, false), name+"1", rec(2, "x@example.org", first[name], "X"))
		}
		if r := MustRecipient(t, in, org, "x@example.org"); r.FirstName != "Alpha" {
			t.Fatalf("order %v: first = %q, want Alpha (a comes before b)", order, r.FirstName)
		}
		MustIngest(t, in, org, src("b", 1, false), "b2", rec(2, "x@example.org", "Bravo2", "X"))
		if r := MustRecipient(t, in, org, "x@example.org"); r.FirstName != "Alpha" {
			t.Fatalf("order %v: first = %q, want Alpha (b changing last does not win)", order, r.FirstName)
		}
		// a withdraws its value: the next in the order gives it.
		MustIngest(t, in, org, src("a", 1, false), "a2", rec(2, "x@example.org", "", "X"))
		if r := MustRecipient(t, in, org, "x@example.org"); r.FirstName != "Bravo2" {
			t.Fatalf("order %v: first = %q, want Bravo2 (a gives none)", order, r.FirstName)
		}
	}
}

// Merge rule 2: while a directory lists a person, a CSV of the same
// priority changes none of their identity (names, address as written,
// status, attributes) and adds only its own groups; a CSV configured above
// the directories wins the values; removing the CSV never touches them.
func TestRule2DirectoryOutranksFilesForIdentity(t *testing.T) {
	in := MustIngester(t)
	dir := SourceConfig{Name: "okta", Kind: store.KindWorkOS, Authoritative: true, MaxRemovePercent: -1}
	csv := src("hr", 0, false)
	MustIngest(t, in, org, csv, "hr.csv", rec(2, "Dee@Example.org", "Dolores", "HR", "All Staff"), rec(3, "eve@example.org", "Eve", "HR", "All Staff"))
	MustIngest(t, in, org, dir, "pull", rec(0, "dee@example.org", "Dee", "Dir", "Eng"), inactive(rec(0, "eve@example.org", "Eve", "Dir", "Eng")))
	r := MustRecipient(t, in, org, "dee@example.org")
	if r.FirstName != "Dee" || r.LastName != "Dir" || r.Email != "dee@example.org" {
		t.Fatalf("dee = %q %q <%s>, want the directory's name and address", r.FirstName, r.LastName, r.Email)
	}
	if got := groupsOf(t, in, org, r); strings.Join(got, ",") != "hr/All Staff,okta/Eng" && strings.Join(got, ",") != "okta/Eng,hr/All Staff" {
		t.Fatalf("dee's groups = %v, want the directory's and the CSV's own", got)
	}
	// The CSV says active; the (authoritative) directory inactive: out.
	if e := MustRecipient(t, in, org, "eve@example.org"); e.Status != store.StatusOffboarded || e.FirstName != "Eve" || e.LastName != "Dir" {
		t.Fatalf("eve = %s %q %q, want offboarded with the directory's name", e.Status, e.FirstName, e.LastName)
	}
	// A later CSV change is still no rename.
	MustIngest(t, in, org, csv, "hr2.csv", rec(2, "dee@example.org", "Dolly", "HR", "All Staff"), rec(3, "eve@example.org", "Eve", "HR", "All Staff"))
	if r := MustRecipient(t, in, org, "dee@example.org"); r.FirstName != "Dee" {
		t.Fatalf("dee renamed by the CSV: %q", r.FirstName)
	}
	// Configured above the directories, the CSV wins the values.
	csv.Priority = 5
	MustIngest(t, in, org, csv, "hr3.csv", rec(2, "dee@example.org", "Dolly", "HR", "All Staff"), rec(3, "eve@example.org", "Eve", "HR", "All Staff"))
	if r := MustRecipient(t, in, org, "dee@example.org"); r.FirstName != "Dolly" {
		t.Fatalf("dee = %q, want Dolly (the CSV ranks above)", r.FirstName)
	}
	csv.Priority = 0
	MustIngest(t, in, org, csv, "hr4.csv", rec(2, "dee@example.org", "Dolly", "HR", "All Staff"))
	if _, err := in.RemoveSource(context.Background(), org, "hr", Options{}); err != nil {
		t.Fatal(err)
	}
	r = MustRecipient(t, in, org, "dee@example.org")
	if r.Status != store.StatusActive || r.FirstName != "Dee" || strings.Join(groupsOf(t, in, org, r), ",") != "okta/Eng" {
		t.Fatalf("after the CSV's removal dee = %s %q %v", r.Status, r.FirstName, groupsOf(t, in, org, r))
	}
}

// An offboarded person is not brought back by a stale CSV, even one that
// changes them; lifting brings them back.
func TestRule5StaleCSVAfterOffboarding(t *testing.T) {
	in := MustIngester(t)
	dir := src("dir", 10, true)
	MustIngest(t, in, org, dir, "p1", rec(2, "x@example.org", "X", "X", "Eng"), rec(3, "y@example.org", "Y", "Y"))
	MustIngest(t, in, org, src("hr", 0, false), "h1", rec(2, "x@example.org", "X", "X", "Sales"))
	MustIngest(t, in, org, dir, "p2", inactive(rec(2, "x@example.org", "X", "X", "Eng")), rec(3, "y@example.org", "Y", "Y"))
	MustIngest(t, in, org, src("hr", 0, false), "h2", rec(2, "x@example.org", "Xavier", "X", "Sales", "Ops"))
	if r := MustRecipient(t, in, org, "x@example.org"); r.Status == store.StatusActive || len(r.GroupIDs) > 0 {
		t.Fatalf("x = %s %v after a stale CSV", r.Status, r.GroupIDs)
	}
	if got := activeKeys(t, in, org); strings.Join(got, ",") != "y@example.org" {
		t.Fatalf("active = %v", got)
	}
}
