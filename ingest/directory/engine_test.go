package directory

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// engineTest is an engine on a real store with one pushed source "scim"
// and one pulled source "hr" whose snapshot is what people says.
type engineTest struct {
	t      testing.TB
	eng    *Engine
	st     *store.Store
	scim   *Source
	pulled *Source
	people func() []schema.Record
	// gate, if set, is waited for by the puller once it has started.
	gate    chan struct{}
	started chan struct{}
}

// The engine's tests run on SQLite, and again on PostgreSQL when
// MUSTER_TEST_POSTGRES names a server (storetest).
func TestMain(m *testing.M) { storetest.Main(m) }

func TestBackends(t *testing.T) { storetest.Report(t) }

func mustEngine(t testing.TB) *engineTest {
	t.Helper()
	dir := t.TempDir()
	st := storetest.Open(t)
	in := ingest.New(st)
	in.TempDir = dir
	et := &engineTest{t: t, st: st, eng: New(in, nil), started: make(chan struct{}, 10)}
	var err error
	t.Cleanup(func() { et.eng.Close() })
	// (Two people: the removal window's 20% share is tested on its own.)
	et.scim, err = et.eng.Add(Spec{Config: ingest.SourceConfig{Name: "scim", Kind: store.KindSCIM, Authoritative: true,
		MaxRemovePercent: -1, MaxRemoveCount: -1}})
	if err != nil {
		t.Fatal(err)
	}
	et.pulled, err = et.eng.Add(Spec{Config: ingest.SourceConfig{Name: "hr", Kind: store.KindWorkOS, Authoritative: true},
		Puller: PullerFunc(func(ctx context.Context) (*Snapshot, error) {
			et.started <- struct{}{}
			if et.gate != nil {
				select {
				case <-et.gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return &Snapshot{Name: "hr pull", Records: &schema.SliceStream{Records: et.people()}}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	return et
}

func person(email, first, uid string, groups ...string) schema.Record {
	_, key, err := schema.NormalizeEmail(email)
	if err != nil {
		panic(err)
	}
	return schema.Record{Email: email, Key: key, FirstName: first, LastName: "Test", SourceID: uid, Groups: groups}
}

func (et *engineTest) mustBe(email string, status store.RecipientStatus, first string, groups ...string) {
	et.t.Helper()
	ctx := context.Background()
	o, err := et.st.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		et.t.Fatal(err)
	}
	r, err := et.st.Recipient(ctx, o.ID, email)
	if err != nil {
		et.t.Fatalf("%s: %v", email, err)
	}
	gs, err := et.st.GroupsByID(ctx, o.ID, r.GroupIDs)
	if err != nil {
		et.t.Fatal(err)
	}
	var names []string
	for _, id := range r.GroupIDs {
		names = append(names, gs[id].SourceName+"/"+gs[id].Name)
	}
	if r.Status != status || (first != "*" && r.FirstName != first) || !slices.Equal(names, groups) {
		et.t.Fatalf("%s = %s %q %v, want %s %q %v", email, r.Status, r.FirstName, names, status, first, groups)
	}
}

// A push producer hands batches of upserts, deactivations, deletions and
// group changes; each is applied as one delta drop, committed when Apply
// returns.
func TestPushedBatchesApplyInOrderAsDeltaDrops(t *testing.T) {
	ctx := context.Background()
	et := mustEngine(t)
	steps := []struct {
		edits []ingest.Edit
		check func()
	}{
		{[]ingest.Edit{
			{Kind: ingest.EditUpsert, Record: person("ann@example.com", "Ann", "u1", "Sales")},
			{Kind: ingest.EditUpsert, Record: person("bob@example.com", "Bob", "u2")},
			{Kind: ingest.EditGroupAdd, Record: person("bob@example.com", "Bob", "u2"), Group: "Ops"},
		}, func() {
			et.mustBe("ann@example.com", store.StatusActive, "Ann", "scim/Sales")
			et.mustBe("bob@example.com", store.StatusActive, "Bob", "scim/Ops")
		}},
		// An upsert without groups keeps the person's groups; an email change
		// follows the user id.
		{[]ingest.Edit{
			{Kind: ingest.EditUpsert, Record: func() schema.Record {
				r := person("ann.new@example.com", "Annie", "u1")
				r.Groups = nil
				return r
			}()},
			{Kind: ingest.EditGroupRename, OldGroup: "Ops", Group: "Operations"},
		}, func() {
			et.mustBe("ann.new@example.com", store.StatusActive, "Annie", "scim/Sales")
			// The directory no longer lists the old address: an authoritative
			// source's removal, so it is offboarded (a stale file listing it
			// cannot bring it back).
			et.mustBe("ann@example.com", store.StatusOffboarded, "Ann")
			et.mustBe("bob@example.com", store.StatusActive, "Bob", "scim/Operations")
		}},
		// A deactivation and a deletion offboard (the source is authoritative).
		{[]ingest.Edit{
			{Kind: ingest.EditUpsert, Record: func() schema.Record {
				r := person("ann.new@example.com", "Annie", "u1")
				r.Status, r.Groups = schema.StatusInactive, nil
				return r
			}()},
			{Kind: ingest.EditOffboard, Record: schema.Record{SourceID: "u2"}},
		}, func() {
			et.mustBe("ann.new@example.com", store.StatusOffboarded, "Annie")
			et.mustBe("bob@example.com", store.StatusOffboarded, "Bob")
		}},
	}
	for i, step := range steps {
		res, err := et.scim.Apply(ctx, Batch{Name: "scim request", By: "scim:test", Edits: step.edits})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if res.Decision() != "applied" || res.Report.DropID == 0 {
			t.Fatalf("step %d: %s %+v", i, res.Decision(), res.Report)
		}
		step.check()
	}
	if res, err := et.scim.Apply(ctx, Batch{Name: "nothing"}); res.Decision() != "" || err != nil {
		t.Fatalf("empty batch = %v, %v; want nothing", res, err)
	}
	if _, err := et.scim.Pull(ctx, "test", ingest.Options{}); schema.ErrorCodeOf(err) != schema.EInvalid {
		t.Fatalf("pull of a pushed source: %v, want refused", err)
	}
	if err := et.eng.SyncNow(ctx, "", "scim", "api"); schema.ErrorCodeOf(err) != schema.EInvalid {
		t.Fatalf("sync of a pushed source: %v, want refused", err)
	}
}

// A pull and a batch of the same source never overlap: the batch waits for
// the pull (as long as its context allows), and a second pull is skipped.
func TestBatchWaitsForThePullOfItsSource(t *testing.T) {
	ctx := context.Background()
	et := mustEngine(t)
	et.people = func() []schema.Record {
		return []schema.Record{person("ann@example.com", "Ann", "u1", "All"), person("bob@example.com", "Bob", "u2", "All")}
	}
	et.gate = make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if rep, err := et.pulled.Pull(ctx, "test", ingest.Options{}); err != nil || rep.Decision != ingest.Applied {
			t.Errorf("pull = %v, %v", rep, err)
		}
	}()
	<-et.started
	if _, err := et.pulled.Pull(ctx, "second", ingest.Options{}); !errors.Is(err, ErrPullRunning) {
		t.Fatalf("second pull: %v, want skipped", err)
	}
	if _, ok := et.pulled.TryAcquire(); ok {
		t.Fatal("the source could be held during its pull")
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	edit := Batch{Name: "event", Edits: []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("bob@example.com", "Robert", "u2", "All")}}}
	if _, err := et.pulled.Apply(short, edit); schema.ErrorCodeOf(err) != schema.EUnavailable {
		t.Fatalf("batch during the pull: %v, want busy once its context ends", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := et.pulled.Apply(ctx, edit)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the batch ran during the pull: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(et.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	et.mustBe("bob@example.com", store.StatusActive, "Robert", "hr/All")
	if st := et.pulled.Status(); st.LastSuccess.IsZero() || st.LastEvents.IsZero() || st.LastError != "" {
		t.Fatalf("status = %+v", st)
	}
}
