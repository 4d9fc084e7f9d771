package console

import (
	"context"
	"sync"
	"testing"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// When only time says the counts may be stale (a lift changes the
// audience without a drop), a page gets the counts read before at once and
// they are read again behind it; the next pages see the new ones.
func TestCacheRefreshesBehindThePages(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenAt(t, storetest.Target(t))
	in := ingest.New(st)
	in.TempDir = t.TempDir()
	rec := func(line int, email string, active bool) schema.Record {
		_, key, _ := schema.NormalizeEmail(email)
		r := schema.Record{Line: line, Email: email, Key: key, FirstName: "F", LastName: "L"}
		if !active {
			r.Status = schema.StatusInactive
		}
		return r
	}
	for _, s := range []struct {
		src  ingest.SourceConfig
		recs []schema.Record
	}{
		{ingest.SourceConfig{Name: "hr", Kind: store.KindFolder, Authoritative: true, Priority: 10},
			[]schema.Record{rec(2, "a@example.com", true), rec(3, "b@example.com", false)}},
		{ingest.SourceConfig{Name: "crm", Kind: store.KindFolder, Priority: 5},
			[]schema.Record{rec(2, "b@example.com", true)}},
	} {
		if _, err := in.Ingest(ctx, ingest.Drop{Org: "acme", Source: s.src, Name: s.src.Name + ".csv",
			Records: &schema.SliceStream{Records: s.recs}}, ingest.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	org, err := st.LookupOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newCache(st, clock)
	off := func() int64 {
		t.Helper()
		counts, err := c.counts(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		return counts[store.StatusOffboarded]
	}
	if n := off(); n != 1 {
		t.Fatalf("%d offboarded, want 1", n)
	}
	if _, err := in.Lift(ctx, "acme", "b@example.com", "", "rehired", ingest.Options{By: "test"}); err != nil {
		t.Fatal(err)
	}
	if n := off(); n != 1 {
		t.Fatalf("within the TTL: %d offboarded, want the cached 1", n)
	}
	mu.Lock()
	now = now.Add(cacheTTL + time.Second)
	mu.Unlock()
	if n := off(); n != 1 {
		t.Fatalf("past the TTL the page waited for the new counts (%d offboarded): it gets the cached ones and they are read behind it", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for off() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the counts were not read again behind the pages")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
