package store

import (
	"context"
	"testing"
	"time"
)

// TestLease: one holder at a time; the holder renews (same term); another
// takes it only once it lapses (next term), and at once once released;
// the old holder then cannot renew.
func TestLease(t *testing.T) {
	ctx := context.Background()
	target := testTarget(t)
	a, b := openTarget(t, target), openTarget(t, target)
	const ttl = 400 * time.Millisecond
	la, held, err := a.TryLease(ctx, "scheduler", "a", ttl)
	if err != nil || !held || la.Holder != "a" || la.Term != 1 {
		t.Fatalf("first take: %+v held=%v %v", la, held, err)
	}
	lb, held, err := b.TryLease(ctx, "scheduler", "b", ttl)
	if err != nil || held || lb.Holder != "a" {
		t.Fatalf("b while a holds it: %+v held=%v %v", lb, held, err)
	}
	time.Sleep(ttl / 2)
	la2, held, err := a.TryLease(ctx, "scheduler", "a", ttl)
	if err != nil || !held || la2.Term != 1 || !la2.Expires.After(la.Expires) || !la2.Acquired.Equal(la.Acquired) {
		t.Fatalf("renewal: %+v held=%v %v (was %+v)", la2, held, err, la)
	}
	// b takes it once it lapses (a stopped renewing), not before.
	deadline := time.Now().Add(10 * ttl)
	for {
		lb, held, err = b.TryLease(ctx, "scheduler", "b", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never took the lapsed lease: %+v", lb)
		}
		time.Sleep(ttl / 8)
	}
	if lb.Term != 2 || lb.Holder != "b" {
		t.Fatalf("takeover: %+v, want term 2 held by b", lb)
	}
	if now, err := b.DBTime(ctx); err != nil || now.Before(la2.Expires.Add(-50*time.Millisecond)) {
		t.Fatalf("taken at %v, before the lease lapsed at %v (%v)", now, la2.Expires, err)
	}
	if l, held, err := a.TryLease(ctx, "scheduler", "a", ttl); err != nil || held || l.Holder != "b" {
		t.Fatalf("old holder renewing after the takeover: %+v held=%v %v", l, held, err)
	}
	// Released: a takes it at once.
	if err := b.ReleaseLease(ctx, "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if l, held, err := a.TryLease(ctx, "scheduler", "a", time.Minute); err != nil || !held || l.Term != 3 {
		t.Fatalf("after release: %+v held=%v %v", l, held, err)
	}
	if l, found, err := b.LeaseOf(ctx, "scheduler"); err != nil || !found || l.Holder != "a" {
		t.Fatalf("LeaseOf: %+v %v %v", l, found, err)
	}
}
