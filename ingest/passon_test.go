package ingest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Jobs still queued when the queues close are handed back, and a Files
// replacing the closed one takes them up: a spooled file found again keeps
// its hand-over callback, a superseded upload's record is queued again, and
// a callback whose file is gone is told that no drop was made.
func TestPassOnCarriesQueuedJobsToTheNextQueues(t *testing.T) {
	started, release := make(chan string, 8), make(chan struct{})
	ls := newLanes(func(ctx context.Context, j job) {
		started <- j.path
		select {
		case <-ctx.Done():
		case <-release:
		}
	})
	told := map[string]int{}
	var mu sync.Mutex
	done := func(name string) func(*Report) {
		return func(r *Report) {
			mu.Lock()
			defer mu.Unlock()
			if r == nil {
				told[name]--
			} else {
				told[name]++
			}
		}
	}
	jobs := []job{
		{key: "default/hr", path: "/spool/a", done: done("a")}, // in progress when closed
		{key: "default/hr", path: "/spool/b", done: done("b")}, // found again by the next scan
		{key: "default/hr", name: "c.csv", superseded: "replaced", done: done("c")},
		{key: "default/hr", path: "/spool/d", done: done("d")}, // gone
	}
	for _, j := range jobs {
		if !ls.add(j) {
			t.Fatalf("job %+v refused", j)
		}
	}
	if p := <-started; p != "/spool/a" {
		t.Fatalf("first job %q", p)
	}
	left := ls.close(0)
	if len(left) != 3 || left[0].path != "/spool/b" || left[1].superseded == "" || left[2].path != "/spool/d" {
		t.Fatalf("left %+v", left)
	}

	old := &Files{left: left}
	var ran []job
	next := &Files{Logger: slog.New(slog.DiscardHandler), sources: map[string]*FileSource{"default/hr": {}}}
	next.lanes = newLanes(func(_ context.Context, j job) {
		mu.Lock()
		ran = append(ran, j)
		mu.Unlock()
	})
	old.PassOn(next)
	if old.left != nil || len(next.carried) != 3 {
		t.Fatalf("passed on: old keeps %d, next has %d", len(old.left), len(next.carried))
	}
	c := next.takeCarried()
	if j := c.attach(job{key: "default/hr", path: "/spool/b"}); j.done == nil {
		t.Fatal("the spooled file found again lost its callback")
	}
	if j := c.attach(job{key: "default/hr", path: "/spool/x"}); j.done != nil {
		t.Fatal("a file no job named got a callback")
	}
	c.rest(next)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(ran)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
	}
	if left := next.lanes.close(5 * time.Second); len(left) != 0 {
		t.Fatalf("still queued: %+v", left)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 1 || ran[0].superseded != "replaced" || ran[0].name != "c.csv" {
		t.Fatalf("queued again: %+v", ran)
	}
	if told["d"] != -1 || told["b"] != 0 || told["c"] != 0 {
		t.Fatalf("callbacks told %v", told)
	}
}
