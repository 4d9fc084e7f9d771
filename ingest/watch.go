package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"muster/schema"
)

// DefaultRescan is how often every folder is listed again, for files
// that arrived without an event (a network mount written by another
// machine sends none).
const DefaultRescan = time.Minute

// DefaultDebounce is how long a file in a watched folder must keep the same
// size and modification time before it is taken as complete.
const DefaultDebounce = time.Second

// WatchDir is a folder the Watcher watches. Key is handed back with every
// file found there, so the caller knows which source it belongs to.
type WatchDir struct {
	Path string
	Key  string
}

// Found is a complete file the Watcher found in one of its folders.
type Found struct {
	Key     string
	Path    string
	Size    int64
	ModTime time.Time
}

// Watcher reports the complete files of a set of folders: files that were
// there when it started and files that arrive while it runs. A file is
// complete once its size and modification time have not changed for
// Debounce (a file renamed into place is complete from the start; one still
// being copied keeps changing). Temporary names (schema.IsTempName),
// sub-folders and anything but regular files are ignored.
//
// It is the only user of fsnotify in muster. One goroutine owns the set of
// files waiting to settle; events, the periodic check and the rescans all
// go through it.
type Watcher struct {
	// Dirs are the folders to watch; each must exist when Open is called.
	Dirs []WatchDir
	// Debounce defaults to DefaultDebounce.
	Debounce time.Duration
	// RescanEvery is how often the folders are listed again; 0 is
	// DefaultRescan, negative never.
	RescanEvery time.Duration
	// Ready is called, from the watcher's goroutine, with each complete
	// file, in the order they settled. It must not block for long. A file
	// that is still there later may be reported again (after a rescan, or
	// when it is written to again): the caller ignores files it already has.
	Ready func(Found)
	// Logger defaults to a discarding logger.
	Logger *slog.Logger

	fw      *fsnotify.Watcher
	keys    map[string]string // cleaned folder path -> key
	pending map[string]*settling
	// lost are watched folders that were removed or moved away (their
	// watch went with them): looked for at every tick, and watched and
	// scanned again once they are back. See Missing.
	lostMu sync.Mutex
	lost   map[string]bool
	rescan chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// settling is a file seen but not yet complete.
type settling struct {
	key     string
	size    int64
	modTime time.Time
	since   time.Time // when size or time last changed (or the file was first seen)
}

// Open starts watching every folder, then scans each, so files that arrived
// while muster was down are reported too. A folder that cannot be watched
// fails Open.
func (w *Watcher) Open() error {
	if w.Debounce <= 0 {
		w.Debounce = DefaultDebounce
	}
	if w.RescanEvery == 0 {
		w.RescanEvery = DefaultRescan
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	w.keys = make(map[string]string, len(w.Dirs))
	for _, d := range w.Dirs {
		p := filepath.Clean(d.Path)
		if err := fw.Add(p); err != nil {
			fw.Close()
			return fmt.Errorf("watch %s: %w", p, err)
		}
		w.keys[p] = d.Key
	}
	w.fw = fw
	w.pending = make(map[string]*settling)
	w.lost = make(map[string]bool)
	w.rescan = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go w.loop(ctx)
	return nil
}

// Rescan asks the watcher to list every folder again, as on start.
func (w *Watcher) Rescan() {
	select {
	case w.rescan <- struct{}{}:
	default:
	}
}

// Close stops watching and waits for the watcher's goroutine.
func (w *Watcher) Close() error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	err := w.fw.Close()
	w.wg.Wait()
	return err
}

func (w *Watcher) loop(ctx context.Context) {
	defer w.wg.Done()
	// The watches are in place before the scan, so a file arriving during
	// the scan is seen by one or the other (or both: Ready tolerates it).
	w.scanAll()
	tick := time.NewTicker(max(w.Debounce/4, 10*time.Millisecond))
	defer tick.Stop()
	var rescanC <-chan time.Time
	if w.RescanEvery > 0 {
		rescan := time.NewTicker(w.RescanEvery)
		defer rescan.Stop()
		rescanC = rescan.C
	}
	for {
		var tc <-chan time.Time
		if len(w.pending) > 0 || w.anyLost() {
			tc = tick.C
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.Logger.Warn("too many file events at once: rescanning the folders")
				w.scanAll()
				continue
			}
			w.Logger.Error("watch error", "err", err)
		case <-w.rescan:
			w.scanAll()
		case <-rescanC:
			w.scanAll()
		case <-tc:
			w.findLost()
			w.check(time.Now())
		}
	}
}

func (w *Watcher) event(ev fsnotify.Event) {
	if _, watched := w.keys[filepath.Clean(ev.Name)]; watched && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
		w.loseDir(filepath.Clean(ev.Name))
		return
	}
	key, ok := w.keys[filepath.Dir(ev.Name)]
	if !ok || schema.IsTempName(filepath.Base(ev.Name)) {
		return
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) || ev.Has(fsnotify.Chmod) {
		w.observe(key, ev.Name, time.Now())
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		delete(w.pending, ev.Name)
	}
}

// loseDir notes that a watched folder is gone: files put in a folder made
// again at its path would otherwise never be seen.
func (w *Watcher) loseDir(dir string) {
	_ = w.fw.Remove(dir) // a moved folder would still be watched under its old name
	w.lostMu.Lock()
	w.lost[dir] = true
	w.lostMu.Unlock()
	for p := range w.pending {
		if filepath.Dir(p) == dir {
			delete(w.pending, p)
		}
	}
	w.Logger.Error("watched folder removed or moved away: nothing put at its path is taken until it is there again", "dir", dir)
}

// findLost watches again the lost folders that are back, and scans them.
func (w *Watcher) findLost() {
	if !w.anyLost() {
		return
	}
	back := false
	w.lostMu.Lock()
	for dir := range w.lost {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		if err := w.fw.Add(dir); err != nil {
			continue
		}
		delete(w.lost, dir)
		back = true
		w.Logger.Warn("watched folder is back: watching it again", "dir", dir)
	}
	w.lostMu.Unlock()
	if back {
		w.scanAll()
	}
}

func (w *Watcher) anyLost() bool {
	w.lostMu.Lock()
	defer w.lostMu.Unlock()
	return len(w.lost) > 0
}

// Missing returns the watched folders that are gone (removed or moved
// away), in no order: files put at their paths are not taken until they
// are back.
func (w *Watcher) Missing() []string {
	w.lostMu.Lock()
	defer w.lostMu.Unlock()
	out := make([]string, 0, len(w.lost))
	for d := range w.lost {
		out = append(out, d)
	}
	return out
}

// observe notes a file's size and time; a change restarts its debounce.
func (w *Watcher) observe(key, path string, now time.Time) {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		delete(w.pending, path)
		return
	}
	s := w.pending[path]
	if s == nil {
		w.pending[path] = &settling{key: key, size: fi.Size(), modTime: fi.ModTime(), since: now}
		return
	}
	if s.size != fi.Size() || !s.modTime.Equal(fi.ModTime()) {
		s.size, s.modTime, s.since = fi.Size(), fi.ModTime(), now
		return
	}
	// Only an event: the file may be written to again without its size or
	// second-granular time changing yet.
	s.since = now
}

// check reports the files that have settled. Files settle in the order
// they were last changed, which is arrival order for files copied in one
// after another.
func (w *Watcher) check(now time.Time) {
	var ready []Found
	for path, s := range w.pending {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			delete(w.pending, path)
			continue
		}
		if fi.Size() != s.size || !fi.ModTime().Equal(s.modTime) {
			s.size, s.modTime, s.since = fi.Size(), fi.ModTime(), now
			continue
		}
		if now.Sub(s.since) >= w.Debounce {
			ready = append(ready, Found{Key: s.key, Path: path, Size: s.size, ModTime: s.modTime})
			delete(w.pending, path)
		}
	}
	w.report(ready)
}

// scanAll lists every folder. Files not changed for a debounce period are
// reported at once; the others wait like new arrivals.
func (w *Watcher) scanAll() {
	now := time.Now()
	var ready []Found
	lost := w.Missing()
	for dir, key := range w.keys {
		if slices.Contains(lost, dir) {
			continue // logged when it went; looked for at every tick
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			w.Logger.Error("cannot list watched folder", "dir", dir, "err", err)
			continue
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || schema.IsTempName(e.Name()) {
				continue
			}
			path := filepath.Join(dir, e.Name())
			if _, waiting := w.pending[path]; waiting {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				w.Logger.Error("cannot read file in watched folder", "file", path, "err", err)
				continue
			}
			if now.Sub(fi.ModTime()) >= w.Debounce {
				ready = append(ready, Found{Key: key, Path: path, Size: fi.Size(), ModTime: fi.ModTime()})
				continue
			}
			w.pending[path] = &settling{key: key, size: fi.Size(), modTime: fi.ModTime(), since: now}
		}
	}
	w.report(ready)
}

func (w *Watcher) report(ready []Found) {
	sort.Slice(ready, func(i, j int) bool {
		if !ready[i].ModTime.Equal(ready[j].ModTime) {
			return ready[i].ModTime.Before(ready[j].ModTime)
		}
		return ready[i].Path < ready[j].Path
	})
	for _, f := range ready {
		if w.Ready != nil {
			w.Ready(f)
		}
	}
}
