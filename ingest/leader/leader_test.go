package leader

import (
	"context"
	"testing"
	"time"

	"muster/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestBackends(t *testing.T) { storetest.Report(t) }

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestOneLeaderTakeoverAndRelease: of two instances one leads; when it dies
// (stops renewing, lease not released) the other leads within the TTL and
// a renewal period; when the new one stops cleanly (released) the first
// one back leads at its next look. OnElected's context ends when the
// leadership does.
func TestOneLeaderTakeoverAndRelease(t *testing.T) {
	target := storetest.Target(t)
	const ttl = 600 * time.Millisecond
	elected := make(chan context.Context, 4)
	mk := func(id string) *Elector {
		e := &Elector{Store: storetest.OpenAt(t, target), ID: id, TTL: ttl,
			OnElected: func(ctx context.Context) { elected <- ctx }}
		if err := e.Open(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := mk("a")
	if !a.IsLeader() {
		t.Fatal("the first instance does not lead once open")
	}
	actx := <-elected
	b := mk("b")
	t.Cleanup(func() { b.Close() })
	if b.IsLeader() {
		t.Fatal("two leaders")
	}
	if st := b.Status(); st.Leader || st.Holder != "a" || st.Term != 1 || st.Age > ttl {
		t.Fatalf("follower's status: %+v", st)
	}
	// a dies: it stops renewing without releasing the lease.
	a.cancel()
	a.wg.Wait()
	took := waitFor(t, "b takes over", ttl+ttl/3+2*time.Second, b.IsLeader)
	t.Logf("b led %s after a stopped renewing (TTL %s)", took, ttl)
	if actx.Err() == nil && a.IsLeader() {
		t.Fatal("a still believes it leads past its lease")
	}
	if st := b.Status(); !st.Leader || st.Holder != "b" || st.Term != 2 {
		t.Fatalf("new leader's status: %+v", st)
	}
	<-elected
	// a comes back as a new process; b stops cleanly: a leads at its next
	// look, without waiting for the lease to lapse.
	a2 := mk("a2")
	t.Cleanup(func() { a2.Close() })
	if a2.IsLeader() {
		t.Fatal("two leaders after a restart")
	}
	b.Close()
	waitFor(t, "a2 takes over after b released the lease", ttl/3+time.Second, a2.IsLeader)
}

// TestSoloLeadsWithoutALease: alone (a SQLite store) an instance leads from
// Open to Close and writes no lease.
func TestSoloLeadsWithoutALease(t *testing.T) {
	st := storetest.Open(t)
	elected := make(chan context.Context, 1)
	e := &Elector{Store: st, ID: "solo", TTL: 300 * time.Millisecond, Solo: true,
		OnElected: func(ctx context.Context) { elected <- ctx }}
	if err := e.Open(); err != nil {
		t.Fatal(err)
	}
	ctx := <-elected
	time.Sleep(time.Second) // past several TTLs: nothing to renew
	if !e.IsLeader() || !e.Status().Leader {
		t.Fatal("a solo instance stopped leading")
	}
	if _, found, err := st.LeaseOf(context.Background(), "scheduler"); err != nil || found {
		t.Fatalf("a solo instance wrote a lease (found %v, %v)", found, err)
	}
	e.Close()
	if ctx.Err() == nil {
		t.Fatal("leadership's context did not end at Close")
	}
}
