package store

import (
	"fmt"
	"testing"

	"muster/schema"
)

// TestBulkValsAsBoxed: the driver values bulkVals makes for recipients and
// snapshot rows are, type and value, those plain conversions make
// (encodeAttrs, groupList, encodeData and the search text as it was first
// defined; the address as storedEmail keeps it), for ASCII and non-ASCII names, addresses that are and are not
// the key, empty and full attributes and groups, small and large
// integers. Every value is compared only after all rows were made, so a
// value whose element was written again, or moved as its slice grew, is
// caught.
func TestBulkValsAsBoxed(t *testing.T) {
	search := func(r *Recipient) string { // searchText as first written
		name := schema.Fold(r.FirstName + " " + r.LastName)
		if email := schema.Fold(r.Email); email != r.Key {
			return email + searchSep + name
		}
		return name
	}
	var rs []Recipient
	var as []Assertion
	for i := range 600 {
		key := fmt.Sprintf("p%d@example.com", i)
		r := Recipient{Key: key, Email: key, FirstName: "Ann", LastName: "Lee", Status: StatusActive}
		a := Assertion{Key: key, Email: key, FirstName: "Ann", LastName: "Lee", Line: i, Hash: uint64(i) * 0x9e3779b97f4a7c15,
			Status: schema.Status(i % 3)}
		switch i % 5 {
		case 1:
			r.Email, r.FirstName, r.LastName = fmt.Sprintf("P%d@Example.COM", i), "ÅSA", "Öberg"
			a.Email, a.UID = r.Email, "u1"
		case 2:
			r.FirstName, r.LastName = "Zoë", "O\u0308zil" // combining diaeresis
			a.Groups = []string{"Sales", "Öresund"}
		case 3:
			r.Email = "Mixed.Case@Example.com"
			r.FirstName, r.LastName = "", ""
		case 4: // an address that is the key but does not fold to itself
			r.Key = fmt.Sprintf("Ö%d@example.com", i)
			if i%10 == 9 {
				r.Key = fmt.Sprintf("UP%d@example.com", i)
			}
			r.Email = r.Key
		}
		if i%2 == 0 {
			r.Attrs[0], r.Attrs[3] = "Engineering", "Lyon"
			a.Attrs = r.Attrs
		}
		if i%4 == 0 {
			r.GroupIDs = []int64{3, 17, int64(i) + 1000}
		}
		rs, as = append(rs, r), append(as, a)
	}
	vals := newBulkVals(1, 1, 1, 1, 1) // far too small: every slice grows
	var got []any
	for i := range rs {
		got = vals.recipient(got, &rs[i])
		got = vals.assertion(got, &as[i])
	}
	var want []any
	for i := range rs {
		r, a := &rs[i], &as[i]
		email := r.Email
		if email == r.Key {
			email = "" // the key, kept once
		}
		want = append(want, r.Key, email, r.FirstName, r.LastName, encodeAttrs(&r.Attrs), string(r.Status),
			groupList(r.GroupIDs), search(r))
		want = append(want, a.Key, int64(a.Line), int64(a.Hash), int64(a.Status), encodeData(a))
	}
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if fmt.Sprintf("%T %q", got[i], got[i]) != fmt.Sprintf("%T %q", want[i], want[i]) {
			t.Fatalf("value %d (row %d): %T %q, want %T %q", i, i/13, got[i], got[i], want[i], want[i])
		}
	}
	for i := range rs {
		if got, want := searchText(&rs[i]), search(&rs[i]); got != want {
			t.Fatalf("searchText(row %d) %q, want %q", i, got, want)
		}
	}
}

// TestBulkValsAllocateNothingPerValue: a batch's values cost no heap
// allocation each once the batch's slices are made (plain conversions
// cost one per string, blob and large integer).
func TestBulkValsAllocateNothingPerValue(t *testing.T) {
	r := Recipient{Key: "ann.lee@example.com", Email: "Ann.Lee@example.com", FirstName: "Ann", LastName: "Lee",
		Status: StatusActive, GroupIDs: []int64{3, 17}}
	r.Attrs[0] = "Engineering"
	a := Assertion{Key: r.Key, Email: r.Email, FirstName: "Ann", LastName: "Lee", Line: 1234, Hash: 1 << 40}
	const runs = 100
	vals := newBulkVals(runs+1, 9, 2, 1, (runs+1)*256)
	args := make([]any, 0, (runs+1)*13)
	allocs := testing.AllocsPerRun(runs, func() {
		args = vals.recipient(args, &r)
		args = vals.assertion(args, &a)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations a recipient and snapshot row, want 0", allocs)
	}
}

// TestBulkValsResetKeepsItsArrays: a transaction's next batch reuses the
// arrays of the one before (reset): no allocation once they are large
// enough, and its values are those a new bulkVals makes.
func TestBulkValsResetKeepsItsArrays(t *testing.T) {
	rs := make([]Recipient, 64)
	for i := range rs {
		k := fmt.Sprintf("p%d@example.com", i)
		rs[i] = Recipient{Key: k, Email: k, FirstName: "Ann", LastName: fmt.Sprint("Lee", i), Status: StatusActive,
			GroupIDs: []int64{3, int64(i) + 1000}}
		if i%2 == 1 {
			rs[i].Email = "Other." + k
		}
	}
	batch := func(vals *bulkVals, args []any, rs []Recipient) []any {
		vals.reset(len(rs), 8, 0, 0, len(rs)*128)
		for i := range rs {
			args = vals.recipient(args, &rs[i])
		}
		return args
	}
	var vals bulkVals
	args := batch(&vals, nil, rs)
	if allocs := testing.AllocsPerRun(10, func() { args = batch(&vals, args[:0], rs) }); allocs != 0 {
		t.Fatalf("%.1f allocations a batch after the first, want 0", allocs)
	}
	// The second half again, into the arrays of the first batch.
	got := fmt.Sprintf("%q", batch(&vals, nil, rs[32:]))
	if want := fmt.Sprintf("%q", batch(&bulkVals{}, nil, rs[32:])); got != want {
		t.Fatalf("values of a reused bulkVals:\n%s\nwant\n%s", got, want)
	}
}
