package store

import (
	"os"
	"sync"
	"time"
)

// writebackEvery is how often a write transaction's writeback asks the
// kernel to start writing the store's dirty pages (tests shorten it).
var writebackEvery = 50 * time.Millisecond

// writeback starts the pages SQLite writes during an organisation's write
// transaction on their way to the disk while the transaction still runs:
// the WAL frames an apply spills from its page cache, and the store file's
// pages the checkpoint at commit copies from the WAL. SQLite's own fsyncs
// (the WAL's at commit, the store file's after the checkpoint) then find
// most pages written and wait for the rest only. At a million rows a next
// day's commit pushes ~130 MB through the WAL and as much into the store
// file; without it both fsyncs wrote all of it after the apply's last
// statement. Nothing about durability changes: the same fsyncs, in the
// same order, decide what is committed; this only starts the writing
// sooner, on a goroutine of its own, while SQLite works on the other core.
// It is nil where the platform has no way to start writing without waiting
// (flushStart, writeback_other.go), and on PostgreSQL.
type writeback struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// startWriteback starts the writeback of the files at paths (the store
// file and its WAL). A file is opened at the first tick (a transaction of
// a few milliseconds opens nothing); one that cannot be opened is skipped.
func startWriteback(paths ...string) *writeback {
	if flushStart == nil || len(paths) == 0 {
		return nil
	}
	w := &writeback{stop: make(chan struct{}), done: make(chan struct{})}
	go w.run(paths)
	return w
}

func (w *writeback) run(paths []string) {
	defer close(w.done)
	t := time.NewTicker(writebackEvery)
	defer t.Stop()
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		if files == nil {
			files = make([]*os.File, 0, len(paths))
			for _, p := range paths {
				if f, err := os.Open(p); err == nil {
					files = append(files, f)
				}
			}
		}
		for _, f := range files {
			// A failure only means the fsync will write the pages itself.
			_ = flushStart(f)
		}
	}
}

// close stops the writeback and waits until it has let go of its files. It
// is safe on a nil writeback and more than once.
func (w *writeback) close() {
	if w == nil {
		return
	}
	w.once.Do(func() { close(w.stop) })
	<-w.done
}
