package ingest

import (
	"cmp"
	"context"
	"path/filepath"
	"sync"
	"time"
)

// lanes runs jobs one at a time per key, in the order they were added, and
// different keys in parallel: the drops of one source are applied in arrival
// order while another source's drops go on beside them. A job whose path is
// already waiting in its lane is not added twice.
type lanes struct {
	run func(ctx context.Context, j job)

	ctx    context.Context // cancelled: abandon the jobs in progress
	cancel context.CancelFunc
	stop   chan struct{} // closed: start no more jobs
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	byKey  map[string]*lane
}

// job is one file to take through the pipeline.
type job struct {
	key  string // the source's key
	path string // where the file is now
	// name is the file's name as it arrived, when it was claimed into the
	// spool under another (a file of that name was waiting there); "" is
	// the base of path.
	name string
	// announced is set for files handed over complete (an SFTP upload):
	// they are not waited on.
	announced bool
	// superseded, when set, makes the job the record of a file replaced
	// by its sender before it was taken (name, hash): nothing is read.
	superseded string
	hash       string
	// done is told the drop's report once it is filed (nil: none made).
	done func(*Report)
}

type lane struct {
	queue   []job
	waiting map[string]bool // paths in queue
	wake    chan struct{}

	// The job in progress: its path, since when, and since when it has
	// been failing (zero: it has not failed), with the last error.
	busyPath     string
	busySince    time.Time
	failingSince time.Time
	lastErr      string
}

// LaneStatus is a source's queue as Files.Lanes reports it.
type LaneStatus struct {
	Org, Source string
	// File is the drop in progress ("" when the queue is idle), Since when
	// it started, Queued how many files wait behind it.
	File   string
	Since  time.Time
	Queued int
	// FailingSince is when the drop in progress first failed (zero: it has
	// not), LastError its last failure: a queue whose drop keeps failing
	// holds back every later drop of its source.
	FailingSince time.Time
	LastError    string
}

// failed notes that the job in progress in key's lane failed with err.
func (ls *lanes) failed(key string, err error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l := ls.byKey[key]; l != nil {
		if l.failingSince.IsZero() {
			l.failingSince = time.Now()
		}
		l.lastErr = err.Error()
	}
}

// status returns every lane's status, by key.
func (ls *lanes) status() map[string]LaneStatus {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	out := make(map[string]LaneStatus, len(ls.byKey))
	for key, l := range ls.byKey {
		out[key] = LaneStatus{File: l.busyPath, Since: l.busySince, Queued: len(l.queue),
			FailingSince: l.failingSince, LastError: l.lastErr}
	}
	return out
}

func newLanes(run func(context.Context, job)) *lanes {
	ctx, cancel := context.WithCancel(context.Background())
	return &lanes{run: run, ctx: ctx, cancel: cancel, stop: make(chan struct{}), byKey: make(map[string]*lane)}
}

// add queues j behind the jobs of its key. It never blocks. It reports
// whether the job was queued (false: already waiting, or closed).
func (ls *lanes) add(j job) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return false
	}
	l := ls.byKey[j.key]
	if l == nil {
		l = &lane{waiting: make(map[string]bool), wake: make(chan struct{}, 1)}
		ls.byKey[j.key] = l
		ls.wg.Add(1)
		go ls.work(l)
	}
	if j.path != "" && l.waiting[j.path] {
		return false
	}
	if j.path != "" {
		l.waiting[j.path] = true
	}
	l.queue = append(l.queue, j)
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// waiting reports whether path is queued (not yet started) in key's lane.
func (ls *lanes) isWaiting(key, path string) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.byKey[key]
	return l != nil && l.waiting[path]
}

func (ls *lanes) work(l *lane) {
	defer ls.wg.Done()
	for {
		ls.mu.Lock()
		if len(l.queue) == 0 || ls.closed {
			ls.mu.Unlock()
			select {
			case <-ls.stop:
				return
			case <-l.wake:
				continue
			}
		}
		j := l.queue[0]
		l.queue[0] = job{}
		l.queue = l.queue[1:]
		delete(l.waiting, j.path)
		l.busyPath, l.busySince = cmp.Or(j.name, filepath.Base(j.path)), time.Now()
		ls.mu.Unlock()
		ls.run(ls.ctx, j)
		ls.mu.Lock()
		l.busyPath, l.busySince, l.failingSince, l.lastErr = "", time.Time{}, time.Time{}, ""
		ls.mu.Unlock()
	}
}

// close stops taking and starting jobs, gives the jobs in progress up to
// grace to finish, then cancels them (they leave their file to be redone on
// the next start) and waits for them to return. Jobs still queued are
// dropped, and returned: their files stay where they are, and the next
// start finds them.
func (ls *lanes) close(grace time.Duration) (left []job) {
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		return nil
	}
	ls.closed = true
	close(ls.stop)
	for _, l := range ls.byKey {
		left = append(left, l.queue...)
		l.queue = nil
	}
	ls.mu.Unlock()
	done := make(chan struct{})
	go func() { ls.wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	ls.cancel()
	<-done
	return left
}
