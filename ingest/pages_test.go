package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"muster/schema"
	"muster/store"
)

// The pages the console, the API and the CLI read (a drop's changes, a
// search of recipients, a source's people) read ranges of indexes in key
// order (store migration 0009). These tests hold them to what the drops
// said, whatever the page size, on both backends.

// said is what a test drop says of someone.
type said struct {
	first, last, group string
	inactive           bool
}

func (p said) record(line int, key string) schema.Record {
	r := rec(line, key, p.first, p.last, p.group)
	if p.inactive {
		r = inactive(r)
	}
	return r
}

// A page of an applied drop's changes lists exactly what the drop changed
// in its source's snapshot (added, updated with the new values, removed
// with the values it ended), in key order, pages of any size joining up:
// random histories of two sources of one organisation, some drops held
// for removing too many and then approved.
func TestDropChangesFollowTheSnapshots(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ctx := context.Background()
			rnd := rand.New(rand.NewPCG(seed, 14))
			in := MustIngester(t)
			sources := []SourceConfig{src("hr", 10, false), src("payroll", 5, false)}
			sources[0].MaxRemovePercent = 20 // some drops are held, then approved
			now := []map[string]said{{}, {}}
			for round := range 14 {
				i := rnd.IntN(2)
				next := map[string]said{}
				for k, p := range now[i] {
					switch x := rnd.IntN(10); {
					case x == 0 && round > 0: // left
					case x == 1:
						p.last = fmt.Sprintf("Changed%d", round)
						next[k] = p
					case x == 2:
						p.inactive = !p.inactive
						next[k] = p
					case x == 3:
						p.group = fmt.Sprintf("G%d", rnd.IntN(3))
						next[k] = p
					default:
						next[k] = p
					}
				}
				for range rnd.IntN(40) + 1 {
					k := fmt.Sprintf("p%03d@example.com", rnd.IntN(300))
					if _, ok := next[k]; !ok {
						next[k] = said{first: fmt.Sprintf("F%d", round), last: "Person", group: "G0"}
					}
				}
				keys := slices.Sorted(mapKeys(next))
				var recs []schema.Record
				for j, k := range keys {
					recs = append(recs, next[k].record(j+2, k))
				}
				name := fmt.Sprintf("%s-%d.csv", sources[i].Name, round)
				rep := MustIngest(t, in, "acme", sources[i], name, recs...)
				if rep.Decision == Held {
					if rep, err := in.Approve(ctx, "acme", rep.DropID, Options{By: "test"}); err != nil || rep.Decision != Applied {
						t.Fatalf("approve %s: %v %+v", name, err, rep)
					}
				} else if rep.Decision != Applied && rep.Decision != Duplicate {
					t.Fatalf("%s: %s (%s)", name, rep.Decision, rep.Reason)
				}
				if rep.Decision != Duplicate {
					checkDropChanges(t, in, rep.DropID, now[i], next)
				}
				now[i] = next
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkDropChanges pages through the drop's changes with several page
// sizes and compares them with the difference of before and after.
func checkDropChanges(t *testing.T, in *Ingester, id int64, before, after map[string]said) {
	t.Helper()
	ctx := context.Background()
	org, err := in.Store.LookupOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	d, err := in.Store.Drop(ctx, org.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range slices.Sorted(mapKeys(before)) {
		if _, ok := after[k]; !ok {
			want = append(want, "removed "+k+" "+before[k].last)
		}
	}
	for k, p := range after {
		old, ok := before[k]
		switch {
		case !ok:
			want = append(want, "added "+k+" "+p.last)
		case old != p:
			want = append(want, "updated "+k+" "+p.last)
		}
	}
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(strings.Fields(a)[1], strings.Fields(b)[1]) })
	for _, limit := range []int{1, 3, 100} {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := in.Store.DropChanges(ctx, d, cursor, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit || pages > 400 {
				t.Fatalf("drop %d: a page of %d, limit %d", id, len(page), limit)
			}
			for _, c := range page {
				got = append(got, c.Op.String()+" "+c.Key+" "+c.LastName)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("drop %d (%s), pages of %d:\ngot\n%s\nwant\n%s", id, d.Name, limit, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// A search matches a recipient when the folded search is part of its key,
// of its address as written, or of "first last" (schema.Fold: Unicode lower
// case of the NFC form), as the CLI and the API document; the stored
// search text follows names changed by later drops and by hand; a source's
// people are those its snapshot lists; a page that may look at only Scan
// recipients at a time still finds everyone, over its short pages.
func TestRecipientSearchAndSourceFilter(t *testing.T) {
	ctx := context.Background()
	in := MustIngester(t)
	people := []schema.Record{
		rec(2, "Asa.Oberg@Example.com", "Åsa", "Öberg", "Staff"),
		rec(3, "zoe@example.com", "ZOË", "Saldaña", "Staff"),
		rec(4, "renee@example.com", "Rene\u0301e", "Ångström", "Board"), // decomposed é
		rec(5, "ibrahim@example.com", "İbrahim", "Yılmaz", "Staff"),
		rec(6, "strasse@example.com", "Hans", "Straße", "Staff"),
		rec(7, "pct_50%@example.com", "Per", "Cent", "Staff"),
		rec(8, "back\\slash@example.com", "Back", "Slash", "Staff"),
	}
	// An address with a Unicode domain: its key has the ASCII (IDNA) form.
	uni, key, err := schema.NormalizeEmail("Jürgen@Bücher.example")
	if err != nil {
		t.Fatal(err)
	}
	people = append(people, schema.Record{Line: 9, Email: uni, Key: key, FirstName: "Jürgen", LastName: "Buch", Groups: []string{"Staff"}})
	for i := range 40 {
		people = append(people, rec(10+i, fmt.Sprintf("filler%02d@example.org", i), "Filler", fmt.Sprintf("Number%d", i), "Staff"))
	}
	MustIngest(t, in, "acme", src("hr", 10, false), "hr.csv", people...)
	MustIngest(t, in, "acme", src("crm", 5, false), "crm.csv",
		rec(2, "zoe@example.com", "Zoë", "Saldaña", "Customers"), rec(3, "extra@example.net", "Extra", "Person", "Customers"))
	// A later drop renames someone (an update of the stored text), and a
	// manual edit adds one.
	people[5] = rec(6, "strasse@example.com", "Hans", "Gasse", "Staff")
	MustIngest(t, in, "acme", src("hr", 10, false), "hr2.csv", people...)
	manual := SourceConfig{Name: "manual", Kind: store.KindManual, Mode: store.ModeDelta, Priority: 100}
	if _, err := in.Ingest(ctx, Drop{Org: "acme", Source: manual, Delta: true, Kind: store.DropKindManual, Name: "add",
		Records: &schema.SliceStream{Records: []schema.Record{rec(1, "Manual.Person@Example.com", "Mänual", "Persön")}}}, Options{}); err != nil {
		t.Fatal(err)
	}
	org, err := in.Store.LookupOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := in.Store.Recipients(ctx, org.ID, store.RecipientFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(people)+2 {
		t.Fatalf("%d recipients, want %d", len(all), len(people)+2)
	}
	matches := func(r store.Recipient, q string) bool {
		f := schema.Fold(q)
		return strings.Contains(r.Key, f) || strings.Contains(schema.Fold(r.Email), f) ||
			strings.Contains(schema.Fold(r.FirstName+" "+r.LastName), f)
	}
	for _, q := range []string{"åsa", "ÖBERG", "asa.oberg", "zoë", "ZOË SALDAÑA", "renée", "Rene\u0301e ång", "i\u0307brahim", "İBRAHIM", "YILMAZ",
		"straße", "strasse", "gasse", "hans straße", "xn--", "bücher", "jürgen@bücher", "_50%", "%", "_", "\\", "back\\s",
		"a\x1fb", "filler1", "number3", "@example.", "mänual persön", "manual.said", "nobody", "e ", " "} {
		var want []string
		for _, r := range all {
			if matches(r, q) {
				want = append(want, r.Key)
			}
		}
		for _, f := range []store.RecipientFilter{{Search: q, Limit: 1000}, {Search: q, Limit: 2}, {Search: q, Limit: 3, Scan: 4}} {
			got := pageAll(t, in.Store, org.ID, f)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("search %q (limit %d, scan %d): %v, want %v", q, f.Limit, f.Scan, got, want)
			}
		}
	}
	// A source's people (any status), alone and with a status, a group or a
	// search, on every page size.
	crm, err := in.Store.LookupSource(ctx, org.ID, "crm")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.RecipientFilter{
		{SourceID: crm.ID}, {SourceID: crm.ID, Status: store.StatusActive}, {SourceID: crm.ID, Search: "zoë"},
		{SourceID: crm.ID, Status: store.StatusGone},
	} {
		want := []string{"extra@example.net", "zoe@example.com"}
		switch {
		case f.Search != "":
			want = want[1:]
		case f.Status == store.StatusGone:
			want = nil
		}
		for _, limit := range []int{1, 100} {
			for _, scan := range []int{0, 1, 5} {
				f.Limit, f.Scan = limit, scan
				if got := pageAll(t, in.Store, org.ID, f); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("%+v: %v, want %v", f, got, want)
				}
			}
		}
	}
}

// pageAll follows f's pages to the end and returns the keys.
func pageAll(t *testing.T, st *store.Store, orgID int64, f store.RecipientFilter) []string {
	t.Helper()
	var keys []string
	for pages := 0; ; pages++ {
		page, next, err := st.Recipients(context.Background(), orgID, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > max(f.Limit, 1) || pages > 200 {
			t.Fatalf("%+v: a page of %d", f, len(page))
		}
		for _, r := range page {
			keys = append(keys, r.Key)
		}
		if next == "" {
			return keys
		}
		f.After = next
	}
}
