package ingest

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"muster/schema"
	"muster/store"
)

// An export's CSV is byte for byte what encoding/csv writes of the same
// values, whatever they hold.
func TestExportCSVLikeEncodingCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "b c", ",", `"`, "\r", "\n", "\r\n", " ", "\t", "\u00a0", "\u2003", `\.`, "é", "\xff", "'", "=1", ""}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for range 5000 {
		rec := []string{str(), str(), str()}
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		if err := cw.Write(rec); err != nil {
			t.Fatal(err)
		}
		cw.Flush()
		got := appendCSVField(nil, rec[0])
		for _, f := range rec[1:] {
			got = appendCSVField(append(got, ','), f)
		}
		got = append(got, '\n')
		if string(got) != want.String() {
			t.Fatalf("%q:\n got %q\nwant %q", rec, got, want.String())
		}
	}
}

func TestExportFieldAsNeutralisedCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"a", "Z9", "b c", ",", `"`, "\r", "\n", " ", "\t", "\u00a0", `\.`, `\`, ".", "é", "\xff", "'",
		"=1", "+", "-", "@", ";", "!", "~", "\x7f", "\x00", ""}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		want := "x" + string(appendCSVField(nil, NeutraliseCSV(s)))
		if got := string(appendExportField([]byte("x"), s)); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
		if got := string(appendExportField([]byte("x"), []byte(s))); got != want {
			t.Fatalf("%q as bytes: got %q, want %q", s, got, want)
		}
	}
}

// An export of an audience of several batches (the reader hands the
// writer a thousand members at a time, their values copied out of the
// store's buffer) is byte for byte what encoding/csv writes of the
// members' neutralised values read one by one through database/sql, with
// values that need quotes, neutralising or neither, and long ones.
func TestExportAudienceOfManyBatches(t *testing.T) {
	ctx := context.Background()
	in := MustIngester(t)
	rng := rand.New(rand.NewPCG(7, 8))
	pieces := []string{"a", "Zoë", "b c", ",", `"`, "=1", "+", "-", "@x", "'", " ", `\.`, strings.Repeat("long", 300)}
	str := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(3) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	var recs []schema.Record
	for i := range 2600 {
		groups := []string{"staff"}
		if i%3 == 0 {
			groups = []string{"board"}
		}
		recs = append(recs, rec(i+2, fmt.Sprintf("p%05d@example.com", i), str(), str(), groups...))
	}
	mustDecision(t, MustIngest(t, in, org, src("hr", 1, true), "people.csv", recs...), Applied)
	o, err := in.Store.LookupOrg(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := in.Store.FindGroups(ctx, o.ID, "staff", "")
	if err != nil || len(ids) != 1 {
		t.Fatalf("group staff: %v %v", ids, err)
	}
	var want bytes.Buffer
	cw := csv.NewWriter(&want)
	_ = cw.Write([]string{"email", "first_name", "last_name"})
	members := 0
	if err := in.Store.EachRecipient(ctx, o.ID, store.RecipientFilter{Status: store.StatusActive, GroupIDs: ids}, 0, func(r store.Recipient) error {
		members++
		return cw.Write([]string{NeutraliseCSV(r.Email), NeutraliseCSV(r.FirstName), NeutraliseCSV(r.LastName)})
	}); err != nil {
		t.Fatal(err)
	}
	cw.Flush()
	var got bytes.Buffer
	n, err := ExportAudience(ctx, in.Store, o.ID, ids, ExportCSV, &got)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(members) || members < 1700 || got.String() != want.String() {
		t.Fatalf("%d members exported (%d bytes), want %d (%d bytes); first difference at byte %d", n, got.Len(), members,
			want.Len(), firstByteDiff(got.Bytes(), want.Bytes()))
	}
}

func firstByteDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
