package directory

import (
	"context"
	"errors"
	"testing"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// storedPriority is the priority the store records for the source.
func (et *engineTest) storedPriority(name string) int {
	et.t.Helper()
	ctx := context.Background()
	o, err := et.st.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		et.t.Fatal(err)
	}
	src, err := et.st.LookupSource(ctx, o.ID, name)
	if err != nil {
		et.t.Fatal(err)
	}
	return src.Priority
}

// A reload changes a registered source's settings in place: a batch in
// progress commits with the old ones (Update waits for it), the new ones
// are recorded and the recipients derived again at once (a higher
// priority wins a name), and a later batch keeps them (it does not write
// the old ones back). Kind changes are refused; an unknown source is not
// found, and Put adds it.
func TestUpdateChangesSettingsBetweenBatches(t *testing.T) {
	ctx := context.Background()
	et := mustEngine(t)
	et.people = func() []schema.Record { return []schema.Record{person("ann@example.com", "Ann", "h1")} }
	if _, err := et.pulled.Pull(ctx, "test", ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	<-et.started
	upsert := func(first string) Batch {
		return Batch{Name: "scim request", Edits: []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("ann@example.com", first, "s1")}}}
	}
	if _, err := et.scim.Apply(ctx, upsert("Annie")); err != nil {
		t.Fatal(err)
	}
	// Same priority: the fixed order of the names gives hr the name.
	et.mustBe("ann@example.com", store.StatusActive, "Ann")

	// A batch holds the source: Update waits for it.
	lease, err := et.scim.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := et.scim.Config()
	cfg.Priority = 10
	updated := make(chan error, 1)
	go func() {
		_, err := et.eng.Update(ctx, Spec{Config: cfg})
		updated <- err
	}()
	select {
	case err := <-updated:
		t.Fatalf("Update returned while a batch held the source: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if got := et.scim.Config().Priority; got != 0 {
		t.Fatalf("settings changed under a batch in progress: priority %d", got)
	}
	if _, err := lease.Apply(ctx, upsert("Annabel")); err != nil {
		t.Fatal(err)
	}
	lease.Release()
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	if got := et.scim.Config().Priority; got != 10 || et.storedPriority("scim") != 10 {
		t.Fatalf("after Update: priority %d in force, %d stored", got, et.storedPriority("scim"))
	}
	// Derived again at once: scim now outranks hr.
	et.mustBe("ann@example.com", store.StatusActive, "Annabel")
	if _, err := et.scim.Apply(ctx, upsert("Anna")); err != nil {
		t.Fatal(err)
	}
	et.mustBe("ann@example.com", store.StatusActive, "Anna")
	if p := et.storedPriority("scim"); p != 10 {
		t.Fatalf("a batch after Update wrote the old priority back: %d", p)
	}

	// Unchanged settings: nothing waits.
	lease, _ = et.scim.Acquire(ctx)
	short, cancel := context.WithTimeout(ctx, time.Second)
	if _, err := et.eng.Update(short, Spec{Config: cfg}); err != nil {
		t.Fatalf("Update with the same settings waited: %v", err)
	}
	cancel()
	lease.Release()

	bad := cfg
	bad.Kind = store.KindWorkOS
	if _, err := et.eng.Update(ctx, Spec{Config: bad}); schema.ErrorCodeOf(err) != schema.EInvalid {
		t.Fatalf("a kind change: %v, want refused", err)
	}
	if _, err := et.eng.Update(ctx, Spec{Config: ingest.SourceConfig{Name: "entra", Kind: store.KindSCIM}}); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("Update of an unknown source: %v", err)
	}
	entra, err := et.eng.Put(ctx, Spec{Config: ingest.SourceConfig{Name: "entra", Kind: store.KindSCIM, Authoritative: true}})
	if err != nil || entra.Name() != "entra" || len(et.eng.Sources()) != 3 {
		t.Fatalf("Put of a new source: %v, %d sources", err, len(et.eng.Sources()))
	}
}

// Settings changed during a pull stop it (nothing of it applied) and pull
// again with the new settings and the new Puller; a removed source's pull
// stops, and the source can no longer be pulled, synced or leased.
func TestUpdateAndRemoveDuringAPull(t *testing.T) {
	ctx := context.Background()
	et := mustEngine(t)
	et.people = func() []schema.Record { return []schema.Record{person("ann@example.com", "Ann", "h1")} }
	et.gate = make(chan struct{})
	pulled := make(chan error, 1)
	go func() {
		_, err := et.pulled.Pull(ctx, "test", ingest.Options{})
		pulled <- err
	}()
	<-et.started // the pull waits at the gate
	cfg := et.pulled.Config()
	cfg.Priority = 4
	newPuller := PullerFunc(func(ctx context.Context) (*Snapshot, error) {
		return &Snapshot{Name: "hr pull (new)", Records: &schema.SliceStream{Records: []schema.Record{person("bob@example.com", "Bob", "h2")}}}, nil
	})
	if _, err := et.eng.Update(ctx, Spec{Config: cfg, Puller: newPuller}); err != nil {
		t.Fatal(err)
	}
	if err := <-pulled; err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("the pull in progress: %v, want stopped", err)
	}
	// Pulled again, in the background, with the new settings and Puller.
	waitFor(t, "the pull again", func() bool {
		st := et.pulled.Status()
		return st.LastDecision == string(ingest.Applied)
	})
	et.mustBe("bob@example.com", store.StatusActive, "Bob")
	if p := et.storedPriority("hr"); p != 4 {
		t.Fatalf("stored priority %d", p)
	}
	if _, err := et.st.Recipient(ctx, mustOrg(t, et), "ann@example.com"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("something of the stopped pull was applied: %v", err)
	}

	// Removed while its pull runs.
	gate := make(chan struct{})
	defer close(gate)
	started := make(chan struct{})
	if _, err := et.eng.Update(ctx, Spec{Config: cfg, Puller: PullerFunc(func(ctx context.Context) (*Snapshot, error) {
		close(started)
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &Snapshot{Name: "never", Records: &schema.SliceStream{}}, nil
	})}); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := et.pulled.Pull(ctx, "test", ingest.Options{})
		pulled <- err
	}()
	<-started
	if !et.eng.Remove("", "hr") || et.eng.Remove("", "hr") {
		t.Fatal("Remove did not report the source registered once")
	}
	if err := <-pulled; !errors.Is(err, context.Canceled) {
		t.Fatalf("the removed source's pull: %v, want stopped", err)
	}
	if _, err := et.pulled.Pull(ctx, "test", ingest.Options{}); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("pull of a removed source: %v", err)
	}
	if _, err := et.pulled.Acquire(ctx); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("lease of a removed source: %v", err)
	}
	if err := et.eng.SyncNow(ctx, "", "hr", "api"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("sync of a removed source: %v", err)
	}
	if n := len(et.eng.Sources()); n != 1 {
		t.Fatalf("%d sources after the removal", n)
	}
	// What the store holds of it is kept.
	et.mustBe("bob@example.com", store.StatusActive, "Bob")
}

func mustOrg(t testing.TB, et *engineTest) int64 {
	t.Helper()
	o, err := et.st.LookupOrg(context.Background(), schema.DefaultOrg)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
