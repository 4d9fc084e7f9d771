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

func (et *engineTest) health(name string) ingest.SourceHealth {
	et.t.Helper()
	hs, err := et.eng.Ingester.SourcesHealth(context.Background(), schema.DefaultOrg, []ingest.ConfiguredSource{
		{Org: schema.DefaultOrg, Config: ingest.SourceConfig{Name: "later", Kind: store.KindWorkOS, Authoritative: true}}})
	if err != nil {
		et.t.Fatal(err)
	}
	for _, h := range hs {
		if h.Name == name {
			return h
		}
	}
	et.t.Fatalf("no source %s in %+v", name, hs)
	return ingest.SourceHealth{}
}

// A source's health is read from the store (any process sees it): never
// synced before its first run, failing with the error and how many runs
// in a row after failed pulls, held while a drop waits for an admin, ok
// again after a run that works; the next scheduled run is shown.
func TestSourceHealthFollowsTheRuns(t *testing.T) {
	ctx := context.Background()
	et := mustEngine(t)
	if h := et.health("later"); h.State != ingest.StateNeverSynced || !h.Configured || !h.Authoritative {
		t.Fatalf("configured, never run: %+v", h)
	}
	var fail error
	et.people = func() []schema.Record { return staff(20) }
	et.pulled.puller.Store(&pullerRef{PullerFunc(func(ctx context.Context) (*Snapshot, error) {
		if fail != nil {
			return nil, fail
		}
		return &Snapshot{Name: "hr pull", Records: &schema.SliceStream{Records: et.people()}}, nil
	})})
	fail = schema.Errorf(schema.EUnavailable, "workos: GET /directories/d1: 500 Internal Server Error [request id r1]")
	for range 3 {
		if _, err := et.pulled.Pull(ctx, "test", ingest.Options{}); err == nil {
			t.Fatal("a failing pull succeeded")
		}
	}
	h := et.health("hr")
	if h.State != ingest.StateFailing || h.ConsecutiveFailures != 3 || h.LastError != fail.Error() || h.LastAttempt.IsZero() ||
		!h.LastSuccess.IsZero() {
		t.Fatalf("after 3 failed pulls: %+v", h)
	}
	next := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := et.pulled.SetNextRun(ctx, next); err != nil {
		t.Fatal(err)
	}
	fail = nil
	if _, err := et.pulled.Pull(ctx, "test", ingest.Options{}); err != nil {
		t.Fatal(err)
	}
	h = et.health("hr")
	if h.State != ingest.StateOK || h.ConsecutiveFailures != 0 || h.LastError != "" || h.LastSuccess.IsZero() ||
		h.People != 20 || !h.NextRun.Equal(next) {
		t.Fatalf("after a pull that works: %+v", h)
	}
	// A batch crossing the removal window: held.
	if res := et.apply("delete 5", deletions(0, 5)); res.Decision() != "held" {
		t.Fatalf("delete 5: %s", res.Decision())
	}
	et.apply("hire", []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("new@example.com", "New", "u99")}})
	if h := et.health("hr"); h.State != ingest.StateHeld || h.HeldDrops != 1 || h.QueuedBatches != 1 {
		t.Fatalf("held: %+v", h)
	}
	// A pushed source's failures are its batches'.
	if _, err := et.scim.Apply(ctx, Batch{Name: "one", Edits: []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("x@example.com", "X", "x1")}}}); err != nil {
		t.Fatal(err)
	}
	if err := et.scim.RecordFailure(ctx, errors.New("a refused request")); err != nil {
		t.Fatal(err)
	}
	if h := et.health("scim"); h.State != ingest.StateFailing || h.LastError != "a refused request" {
		t.Fatalf("scim after a failure: %+v", h)
	}
	if _, err := et.scim.Apply(ctx, Batch{Name: "two", Edits: []ingest.Edit{{Kind: ingest.EditUpsert, Record: person("y@example.com", "Y", "y1")}}}); err != nil {
		t.Fatal(err)
	}
	if h := et.health("scim"); h.State != ingest.StateOK || h.People != 2 {
		t.Fatalf("scim after a batch: %+v", h)
	}
}
