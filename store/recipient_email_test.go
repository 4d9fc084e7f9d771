package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestAddressEqualToKeyStoredOnce: a recipient whose address is its key
// keeps an empty recipients.email, whichever write made it (the bulk insert
// and upsert, PostgreSQL's COPY, the one-row insert and update); another
// address is kept as written. Every read gives the address back, of those
// rows and of rows written in full before (as older stores hold them):
// the recipient by key, a batch by keys, a page (database/sql and the C
// read path), the list, the export's members, a search of the address,
// and the store's digest, which is the same for both forms. On both
// backends.
func TestAddressEqualToKeyStoredOnce(t *testing.T) {
	ctx := context.Background()
	s, org, _ := mustOrgSource(t)
	person := func(i int) Recipient {
		k := fmt.Sprintf("p%03d@example.com", i)
		r := Recipient{OrgID: org.ID, Key: k, Email: k, FirstName: "Ann", LastName: fmt.Sprint("Lee", i),
			Status: StatusActive, GroupIDs: []int64{}, CreatedSeq: 1, UpdatedSeq: 1}
		if i%3 == 1 {
			r.Email = fmt.Sprintf("Ann.Lee.%03d@Example.com", i) // not the key
		}
		return r
	}
	const n = 90
	var bulk, one, old []Recipient // written by the bulk writes, one at a time, and in full by SQL
	for i := range n {
		switch r := person(i); i % 9 / 3 {
		case 0:
			bulk = append(bulk, r)
		case 1:
			one = append(one, r)
		default:
			old = append(old, r)
		}
	}
	write := func(fn func(tx *Tx) error) {
		t.Helper()
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := fn(tx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	write(func(tx *Tx) error {
		if err := tx.InsertRecipients(slices.Clone(bulk)); err != nil {
			return err
		}
		for i := range one {
			if err := tx.SaveRecipient(&one[i], false); err != nil {
				return err
			}
		}
		return nil
	})
	// Updated: the bulk rows by the one-row update, half the others by the
	// bulk upsert.
	for i := range bulk {
		bulk[i].UpdatedSeq, bulk[i].LastName = 2, bulk[i].LastName+"x"
	}
	for i := range one[:len(one)/2] {
		one[i].UpdatedSeq, one[i].FirstName = 2, "Bo"
	}
	write(func(tx *Tx) error {
		for i := range bulk {
			if err := tx.SaveRecipient(&bulk[i], true); err != nil {
				return err
			}
		}
		return tx.UpdateRecipients(slices.Clone(one[:len(one)/2]))
	})
	for _, r := range old {
		if _, err := s.db.ExecContext(ctx, s.d.rebind(`INSERT INTO recipients(org_id, key, email, first_name, last_name,
			attrs, status, group_ids, created_seq, updated_seq, search) VALUES(?,?,?,?,?,NULL,'active','',1,1,?)`),
			org.ID, r.Key, r.Email, r.FirstName, r.LastName, searchText(&r)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]Recipient{}
	for _, r := range slices.Concat(bulk, one, old) {
		want[r.Key] = r
	}

	// What the column holds.
	rows, err := s.db.QueryContext(ctx, `SELECT key, email FROM recipients WHERE org_id=`+fmt.Sprint(org.ID))
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for rows.Next() {
		var k, email string
		if err := rows.Scan(&k, &email); err != nil {
			t.Fatal(err)
		}
		r := want[k]
		wantStored := r.Email
		if r.Email == r.Key && !slices.ContainsFunc(old, func(o Recipient) bool { return o.Key == k }) {
			wantStored = ""
		}
		if email != wantStored {
			t.Errorf("%s: email column %q, want %q", k, email, wantStored)
		}
		stored++
	}
	if err := rows.Err(); err != nil || stored != n {
		t.Fatalf("%d rows (%v), want %d", stored, err, n)
	}

	check := func(how string, r Recipient) {
		t.Helper()
		w, ok := want[r.Key]
		if !ok {
			t.Fatalf("%s: unknown recipient %q", how, r.Key)
		}
		if r.Email != w.Email || r.FirstName != w.FirstName || r.LastName != w.LastName || r.UpdatedSeq != w.UpdatedSeq {
			t.Errorf("%s: %s read as %q %q %q seq %d, want %q %q %q seq %d", how, r.Key, r.Email, r.FirstName,
				r.LastName, r.UpdatedSeq, w.Email, w.FirstName, w.LastName, w.UpdatedSeq)
		}
	}
	keys := make([]string, 0, n)
	for k := range want {
		keys = append(keys, k)
		r, err := s.Recipient(ctx, org.ID, k)
		if err != nil {
			t.Fatal(err)
		}
		check("Recipient", r)
	}
	write(func(tx *Tx) error {
		got, err := tx.RecipientsOf(keys)
		if err != nil || len(got) != n {
			return fmt.Errorf("RecipientsOf: %d (%v), want %d", len(got), err, n)
		}
		for _, r := range got {
			check("RecipientsOf", r)
		}
		r, ok, err := tx.Recipient(keys[0])
		if err != nil || !ok {
			return fmt.Errorf("Tx.Recipient: %v %v", ok, err)
		}
		check("Tx.Recipient", r)
		return nil
	})
	page, _, err := s.Recipients(ctx, org.ID, RecipientFilter{Limit: 1000})
	if err != nil || len(page) != n {
		t.Fatalf("Recipients: %d (%v), want %d", len(page), err, n)
	}
	for _, r := range page {
		check("Recipients", r)
	}
	seen := 0
	if _, err := s.EachRecipientPage(ctx, org.ID, RecipientFilter{Limit: 1000}, func(r *Recipient) error {
		seen++
		check("EachRecipientPage", *r)
		return nil
	}); err != nil || seen != n {
		t.Fatalf("EachRecipientPage: %d (%v), want %d", seen, err, n)
	}
	seen = 0
	if err := s.EachRecipient(ctx, org.ID, RecipientFilter{}, 0, func(r Recipient) error {
		seen++
		check("EachRecipient", r)
		return nil
	}); err != nil || seen != n {
		t.Fatalf("EachRecipient: %d (%v), want %d", seen, err, n)
	}
	seen = 0
	if err := s.EachAudienceMember(ctx, org.ID, nil, func(email, first, last string) error {
		seen++
		if !slices.ContainsFunc(page, func(r Recipient) bool { return r.Email == email && r.FirstName == first && r.LastName == last }) {
			t.Errorf("EachAudienceMember: %q %q %q is no recipient", email, first, last)
		}
		return nil
	}); err != nil || seen != n {
		t.Fatalf("EachAudienceMember: %d (%v), want %d", seen, err, n)
	}
	// A search of the address finds those whose address is not the key
	// (their search text) and those whose address is (their key).
	for _, r := range []Recipient{person(1), person(0), person(6)} {
		found, _, err := s.Recipients(ctx, org.ID, RecipientFilter{Search: r.Email, Limit: 10})
		if err != nil || len(found) != 1 || found[0].Key != r.Key {
			t.Errorf("search %q: %v (%v), want %s", r.Email, found, err, r.Key)
		}
	}

	// The digest reads addresses, not how they are stored.
	before, err := s.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE recipients SET email=key WHERE email=''`); err != nil {
		t.Fatal(err)
	}
	if after, err := s.Digest(ctx); err != nil || after != before {
		t.Fatalf("digest with the addresses written in full %s (%v), want %s", after, err, before)
	}
}
