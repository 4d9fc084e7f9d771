package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"muster/schema"
)

// A page and an export read their text columns joined into one (on
// SQLite): they must read what the plain columns hold, also around a value
// holding the separator byte (not UTF-8, so SQLite only), which sends the
// rest of the read to the plain query.
func TestJoinedReadsEqualPlainReads(t *testing.T) {
	ctx := context.Background()
	s := openTarget(t, testTarget(t))
	org, err := s.EnsureOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	statuses := []RecipientStatus{StatusActive, StatusActive, StatusActive, StatusGone, StatusOffboarded}
	for i := range 2500 {
		key := fmt.Sprintf("p%05d@example.com", i)
		email, first, last := key, fmt.Sprintf("First %d", i), "Last, \"quoted\" <&>"
		if i%7 == 0 {
			email = fmt.Sprintf("P%05d@Example.com", i)
		}
		var attrs schema.Attrs
		if i%3 == 0 {
			attrs[0], attrs[2] = "Dept "+first, "x"
		}
		groups := []string{"", ",1,", ",1,2,", ",2,3,"}[i%4]
		if testBackend == "sqlite" {
			switch i {
			case 5, 1001, 1600:
				first = "Bad\xfeName" // the separator byte
			case 6:
				last = "\xfe"
			case 7:
				first, last = "\xff\xfe\xfe", "\xfe\xfe"
			}
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO recipients(org_id, key, email, first_name, last_name, attrs, status,
			group_ids, created_seq, updated_seq) VALUES(?,?,?,?,?,?,?,?,?,?)`, org.ID, key, email, first, last,
			encodeAttrs(&attrs), string(statuses[i%len(statuses)]), groups, i+1, 3*i+1000); err != nil {
			t.Fatal(err)
		}
	}
	// The reference: database/sql and scanRecipient, every column.
	var all []Recipient
	rows, err := s.db.QueryContext(ctx, `SELECT `+recipientCols+` FROM recipients WHERE org_id=? ORDER BY key`, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		r, err := scanRecipient(rows)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	norm := func(r Recipient) Recipient {
		if len(r.GroupIDs) == 0 {
			r.GroupIDs = nil
		}
		return r
	}
	for _, status := range []RecipientStatus{"", StatusActive} {
		var want []Recipient
		for _, r := range all {
			if status == "" || r.Status == status {
				want = append(want, r)
			}
		}
		for _, limit := range []int{1, 6, 700, 1000} {
			var got, gotEach []Recipient
			for after := ""; ; {
				page, next, err := s.Recipients(ctx, org.ID, RecipientFilter{Status: status, After: after, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				nextEach, err := s.EachRecipientPage(ctx, org.ID, RecipientFilter{Status: status, After: after, Limit: limit}, func(r *Recipient) error {
					gotEach = append(gotEach, cloneRecipient(r))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if next != nextEach {
					t.Fatalf("status %q limit %d after %q: next %q, EachRecipientPage's %q", status, limit, after, next, nextEach)
				}
				if after = next; after == "" || limit == 1 && len(got) > 40 {
					break
				}
			}
			for i := range got {
				if i >= len(want) || !reflect.DeepEqual(norm(got[i]), norm(want[i])) || !reflect.DeepEqual(norm(gotEach[i]), norm(want[i])) {
					t.Fatalf("status %q limit %d: recipient %d is %+v / %+v, want %+v", status, limit, i, got[i], gotEach[i], want[min(i, len(want)-1)])
				}
			}
			if limit > 1 && len(got) != len(want) {
				t.Fatalf("status %q limit %d: %d recipients, want %d", status, limit, len(got), len(want))
			}
		}
	}
	var members, wantMembers [][3]string
	for _, r := range all {
		if r.Status == StatusActive && slices.ContainsFunc(r.GroupIDs, func(id int64) bool { return id == 1 || id == 3 }) {
			wantMembers = append(wantMembers, [3]string{r.Email, r.FirstName, r.LastName})
		}
	}
	if err := s.EachAudienceMember(ctx, org.ID, []int64{1, 3}, func(email, first, last string) error {
		members = append(members, [3]string{strings.Clone(email), strings.Clone(first), strings.Clone(last)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(members, wantMembers) {
		t.Fatalf("audience: %d members, want %d (first difference near %v)", len(members), len(wantMembers), firstDiff(members, wantMembers))
	}
}

// cloneRecipient copies what EachRecipientPage reuses: the recipient's
// strings, attributes and group ids.
func cloneRecipient(r *Recipient) Recipient {
	c := *r
	for _, s := range []*string{&c.Key, &c.Email, &c.FirstName, &c.LastName} {
		*s = strings.Clone(*s)
	}
	c.Status = RecipientStatus(strings.Clone(string(r.Status)))
	for i := range c.Attrs {
		c.Attrs[i] = strings.Clone(r.Attrs[i])
	}
	c.GroupIDs = slices.Clone(r.GroupIDs)
	return c
}

func firstDiff(a, b [][3]string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%d: %q vs %q", i, a[i], b[i])
		}
	}
	return "the end"
}

func TestSplitJoined(t *testing.T) {
	out := make([]string, 3)
	for _, c := range []struct {
		in   string
		ok   bool
		want []string
	}{
		{"a\xfeb\xfec", true, []string{"a", "b", "c"}},
		{"\xfe\xfe", true, []string{"", "", ""}},
		{"a\xfeb", false, nil},
		{"a\xfeb\xfec\xfed", false, nil},
		{"", false, nil},
	} {
		ok := splitJoined(c.in, out)
		if ok != c.ok || ok && !slices.Equal(out, c.want) {
			t.Errorf("splitJoined(%q) = %v %q, want %v %q", c.in, ok, out, c.ok, c.want)
		}
	}
}

func TestParseIDAsParseInt(t *testing.T) {
	for _, s := range []string{"0", "7", "42", "007", "-3", "+5", "12a", "999999999999999999", "9223372036854775807",
		"9223372036854775808", "18446744073709551616", "1_000"} {
		want, err := strconv.ParseInt(s, 10, 64)
		if got, ok := parseID(s); ok != (err == nil) || ok && got != want {
			t.Errorf("parseID(%q) = %d %v, want %d (%v)", s, got, ok, want, err)
		}
	}
}

// A page's query binds only what changes from page to page (the cursor,
// a search, groups): the organisation, a source and a known status are in
// its text, so that SQLite runs the statement it has prepared instead of
// preparing it again for each page. A status no recipient has is bound,
// never written into the text.
func TestPageQueryBindsOnlyTheCursor(t *testing.T) {
	for _, c := range []struct {
		f        RecipientFilter
		args     []any
		has, not string
	}{
		{RecipientFilter{Status: StatusActive, After: "k"}, []any{"k"}, "r.org_id=42 AND r.status='active' AND r.key>?", ""},
		{RecipientFilter{After: "k", until: "z"}, []any{"k", "z"}, "r.org_id=42 AND r.key>? AND r.key<=?", "r.status="},
		{RecipientFilter{SourceID: 7, Status: StatusGone}, nil, "a.source_id=7 AND r.org_id=42 AND r.key=a.key AND r.status='gone'", ""},
		{RecipientFilter{Status: "x' OR 1=1 --"}, []any{"x' OR 1=1 --"}, "r.status=?", "OR 1=1"},
	} {
		q, args := pageQuery(42, c.f, 1001).query(true)
		if !strings.Contains(q, c.has) || c.not != "" && strings.Contains(q, c.not) {
			t.Errorf("%+v: query %s", c.f, q)
		}
		if !slices.Equal(args, c.args) {
			t.Errorf("%+v: args %v, want %v", c.f, args, c.args)
		}
	}
}

// appendIDs reads a list of digits and commas in one pass: the same ids as
// parseID reads from each element, for any list (signs, letters, empty
// elements, numbers too long for 18 digits or for int64), after what out
// held.
func TestAppendIDsAsEach(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{",", ",", "0", "7", "42", "007", "-3", "+5", "x", "999999999999999999", "9223372036854775807",
		"9223372036854775808", "1234567890123456789", " "}
	for range 20_000 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		got, want := appendIDs([]int64{-1}, s), appendIDsEach([]int64{-1}, s)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
	}
}
