package main

import (
	"sync"

	"muster/ingest"
)

// queueSwap lets a reload replace the drop queues while the SFTP server
// hands uploads over. The hand-over must never block (it runs under the
// server's hand-over lock), and neither the old queues (closing, or
// closed: the upload would be refused and its file left in the inbox
// after the new queues' start scan) nor the new ones (while they open)
// can take it. So an upload handed over during the swap waits here and
// goes to the new queues, in order, once they are open.
type queueSwap struct {
	mu       sync.Mutex
	swapping bool
	waiting  []waitingArrival
}

type waitingArrival struct {
	a       ingest.Arrival
	refused func()
}

// take hands a over to the current queues, or keeps it for the ones being
// opened; refused is called if the queues refuse it.
func (q *queueSwap) take(current func() *ingest.Files, a ingest.Arrival, refused func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.swapping {
		q.waiting = append(q.waiting, waitingArrival{a, refused})
		return
	}
	if !current().Take(a) {
		refused()
	}
}

// waits reports whether an arrival of path waits for the new queues: their
// start scan must leave it to end.
func (q *queueSwap) waits(path string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range q.waiting {
		if w.a.Path == path {
			return true
		}
	}
	return false
}

// begin starts a swap: from now on arrivals wait.
func (q *queueSwap) begin() {
	q.mu.Lock()
	q.swapping = true
	q.mu.Unlock()
}

// end hands the arrivals that waited to the new queues (published, open
// or failed to open) and lets the next ones through.
func (q *queueSwap) end(next *ingest.Files) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range q.waiting {
		if !next.Take(w.a) {
			w.refused()
		}
	}
	q.waiting, q.swapping = nil, false
}
