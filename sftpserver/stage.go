package sftpserver

import (
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// stageWindow is the unit in which uploaded bytes are gathered before they
// are written to the staging file. It is a multiple of every common write
// size (32 KiB for OpenSSH and rclone), so aligned writes never straddle two
// windows.
const (
	stageWindow  = 1 << 20
	stageWindows = 3 // windows per upload: writes arrive up to ~8 apart
)

var windowPool = sync.Pool{New: func() any { b := make([]byte, stageWindow); return &b }}

// stager writes an upload's bytes to its staging file. pkg/sftp calls WriteAt
// from 8 workers at once, so writes arrive concurrently and slightly out of
// order. Writing each 32 KiB request with its own pwrite costs a system call
// per request; the stager instead gathers them into a few aligned windows
// and writes a window when it is full (or must make room, or at the end).
// A write that fits no window (an odd size straddling a boundary, or one
// far behind) goes straight to the file, after any buffered bytes it
// overlaps, so the last write to a byte always wins as with plain pwrite.
// The caller serialises calls.
type stager struct {
	f      *os.File
	win    []*window
	budget *windowBudget // nil: no limit
}

// windowBudget bounds the windows held by all uploads of a server at once.
// Without it each open upload could hold stageWindows MiB, and a client may
// open DefaultMaxOpenFiles uploads per session on 4 sessions per connection and
// 10 connections per account: gigabytes from one account. Past the budget,
// writes go straight to the file, as correct and only slower.
type windowBudget struct {
	max        int64
	used, peak atomic.Int64 // peak: the most held at once, for tests
}

// maxStageWindows is the server's budget (128 MiB): 20 uploads at full
// speed, three windows each, fit with room to spare.
const maxStageWindows = 128

// take reserves a window, or reports false when the budget is spent.
func (b *windowBudget) take() bool {
	if b == nil {
		return true
	}
	n := b.used.Add(1)
	if n > b.max {
		b.used.Add(-1)
		return false
	}
	notePeak(&b.peak, n)
	return true
}

// notePeak raises peak to n if n is higher.
func notePeak(peak *atomic.Int64, n int64) {
	for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
	}
}

// give returns a window taken.
func (b *windowBudget) give() {
	if b != nil {
		b.used.Add(-1)
	}
}

type window struct {
	idx   int64 // offset / stageWindow
	buf   *[]byte
	cover spans // filled parts, relative to the window
}

func (s *stager) writeAt(p []byte, off int64) error {
	end := off + int64(len(p))
	idx := off / stageWindow
	if len(p) == 0 || (end-1)/stageWindow != idx {
		return s.direct(p, off)
	}
	w := s.find(idx)
	if w == nil {
		if len(s.win) == stageWindows {
			oldest := s.win[0]
			for _, x := range s.win {
				if x.idx < oldest.idx {
					oldest = x
				}
			}
			if idx < oldest.idx {
				return s.direct(p, off) // a straggler for a window already written
			}
			if err := s.flush(oldest); err != nil {
				return err
			}
		}
		if !s.budget.take() {
			return s.direct(p, off)
		}
		w = &window{idx: idx, buf: windowPool.Get().(*[]byte)}
		s.win = append(s.win, w)
	}
	rel := off - idx*stageWindow
	copy((*w.buf)[rel:], p)
	w.cover = w.cover.add(rel, rel+int64(len(p)))
	if w.cover.covers(0, stageWindow) {
		return s.flush(w)
	}
	return nil
}

func (s *stager) find(idx int64) *window {
	for _, w := range s.win {
		if w.idx == idx {
			return w
		}
	}
	return nil
}

// direct writes p at off after flushing the windows it overlaps.
func (s *stager) direct(p []byte, off int64) error {
	end := off + int64(len(p))
	for _, w := range slices.Clone(s.win) {
		if start := w.idx * stageWindow; start < end && off < start+stageWindow {
			if err := s.flush(w); err != nil {
				return err
			}
		}
	}
	_, err := s.f.WriteAt(p, off)
	return err
}

// flush writes a window's filled parts and releases it.
func (s *stager) flush(w *window) error {
	i := slices.Index(s.win, w)
	s.win = slices.Delete(s.win, i, i+1)
	defer s.budget.give()
	defer windowPool.Put(w.buf)
	base := w.idx * stageWindow
	for _, sp := range w.cover {
		if _, err := s.f.WriteAt((*w.buf)[sp.lo:sp.hi], base+sp.lo); err != nil {
			return err
		}
	}
	return nil
}

// flushAll writes every buffered byte.
func (s *stager) flushAll() error {
	for len(s.win) > 0 {
		if err := s.flush(s.win[0]); err != nil {
			return err
		}
	}
	return nil
}

// release gives the buffers back without writing them (a discarded upload).
func (s *stager) release() {
	for _, w := range s.win {
		windowPool.Put(w.buf)
		s.budget.give()
	}
	s.win = nil
}

// spans is a sorted list of disjoint, non-adjacent [lo, hi) ranges.
type spans []span

type span struct{ lo, hi int64 }

// add returns the spans with [lo, hi) added, merged with what it touches.
func (s spans) add(lo, hi int64) spans {
	if lo >= hi {
		return s
	}
	// Fast path for the common case: appending to the end.
	if n := len(s); n == 0 || lo > s[n-1].hi {
		return append(s, span{lo, hi})
	} else if lo >= s[n-1].lo {
		s[n-1].hi = max(s[n-1].hi, hi)
		return s
	}
	out := s[:0:0]
	i := 0
	for ; i < len(s) && s[i].hi < lo; i++ {
		out = append(out, s[i])
	}
	for ; i < len(s) && s[i].lo <= hi; i++ {
		lo, hi = min(lo, s[i].lo), max(hi, s[i].hi)
	}
	out = append(out, span{lo, hi})
	return append(out, s[i:]...)
}

// covers reports whether [lo, hi) is entirely inside the spans.
func (s spans) covers(lo, hi int64) bool {
	for _, sp := range s {
		if sp.lo <= lo && hi <= sp.hi {
			return true
		}
	}
	return false
}

// clip drops everything at or beyond n.
func (s spans) clip(n int64) spans {
	out := s[:0]
	for _, sp := range s {
		if sp.lo >= n {
			break
		}
		out = append(out, span{sp.lo, min(sp.hi, n)})
	}
	return out
}

// gaps returns the parts of [0, n) not inside the spans.
func (s spans) gaps(n int64) spans {
	var out spans
	at := int64(0)
	for _, sp := range s {
		if sp.lo >= n {
			break
		}
		if sp.lo > at {
			out = append(out, span{at, sp.lo})
		}
		at = max(at, sp.hi)
	}
	if at < n {
		out = append(out, span{at, n})
	}
	return out
}
