package scimsource

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"muster/ingest"
	"muster/store"
)

// TestBurstOfDeactivationsIsHeld: an IdP deactivates 30% of a source's 20
// people at once (6 concurrent PATCHes). Every SCIM answer is 200 and the
// resources read back inactive, but the audience change that crosses the
// source's removal guard (20%) is held for an admin, and what follows it
// waits; approving it applies them all.
func TestBurstOfDeactivationsIsHeld(t *testing.T) {
	guarded := store.SourceConfig{Name: "idp", Kind: store.KindSCIM, Mode: store.ModeDelta, Authoritative: true,
		MaxInvalidPercent: -1}.WithDefaults() // max_remove_percent 20, as configured by default
	r := MustRig(t, guarded)
	ids := make([]string, 20)
	for i := range ids {
		_, _, m := r.do("POST", "/Users", fmt.Sprintf(`{"userName":"p%02d@example.org"}`, i))
		ids[i] = m["id"].(string)
	}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s, _, m := r.do("PATCH", "/Users/"+ids[i], `{"Operations":[{"op":"replace","value":{"active":false}}]}`); s != 200 || m["active"] != false {
				t.Errorf("deactivate %d: %d %v", i, s, m)
			}
		}()
	}
	wg.Wait()
	offboarded := 0
	for i := range 6 {
		if _, _, m := r.do("GET", "/Users/"+ids[i], ""); m["active"] != false {
			t.Fatalf("user %d reads %v", i, m["active"])
		}
		if rec, _ := r.recipient(fmt.Sprintf("p%02d@example.org", i)); rec.Status == store.StatusOffboarded {
			offboarded++
		}
	}
	if offboarded > 4 {
		t.Fatalf("%d of 20 offboarded at once: the 20%% guard did not hold the burst", offboarded)
	}
	ctx := context.Background()
	org, _ := r.st.LookupOrg(ctx, r.org)
	held, _, err := r.st.Drops(ctx, org.ID, store.DropFilter{Status: store.DropHeld})
	if err != nil || len(held) != 1 {
		t.Fatalf("held drops: %v %v", held, err)
	}
	if _, err := r.in.Approve(ctx, r.org, held[0].ID, ingest.Options{By: "test"}); err != nil {
		t.Fatal(err)
	}
	// The batches queued behind the held one apply once it is decided.
	if err := r.b.eng.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		r.wantRecipient(fmt.Sprintf("p%02d@example.org", i), store.StatusOffboarded)
	}
}
