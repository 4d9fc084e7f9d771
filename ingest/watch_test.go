package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// foundLog collects what a Watcher reports.
type foundLog struct {
	mu    sync.Mutex
	found []Found
}

func (l *foundLog) add(f Found) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.found = append(l.found, f)
}

func (l *foundLog) list() []Found {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Found(nil), l.found...)
}

// MustWatcher starts a watcher over dirs (key = base name of the dir).
func MustWatcher(t testing.TB, debounce time.Duration, dirs ...string) *foundLog {
	t.Helper()
	log := &foundLog{}
	w := &Watcher{Debounce: debounce, Ready: log.add}
	for _, d := range dirs {
		w.Dirs = append(w.Dirs, WatchDir{Path: d, Key: filepath.Base(d)})
	}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return log
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherStartScanTakesOldFilesSkipsTempAndFolders(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{"a.csv", "b.csv", ".hidden.csv", "~lock.csv", "x.csv.filepart", "y.PART", "z.partial", "w.tmp"} {
		p := filepath.Join(dir, n)
		writeFile(t, p, "email\n"+n+"\n")
		os.Chtimes(p, old, old)
	}
	os.Chtimes(filepath.Join(dir, "b.csv"), old.Add(-time.Minute), old.Add(-time.Minute))
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	log := MustWatcher(t, time.Hour, dir) // an hour: only the start scan can report these
	waitFor(t, "two files", func() bool { return len(log.list()) >= 2 })
	got := log.list()
	if len(got) != 2 || filepath.Base(got[0].Path) != "b.csv" || filepath.Base(got[1].Path) != "a.csv" {
		t.Fatalf("found %+v, want b.csv then a.csv (oldest first), nothing else", got)
	}
	if got[0].Key != filepath.Base(dir) {
		t.Fatalf("key = %q", got[0].Key)
	}
}

func TestWatcherWaitsForAFileToStopGrowing(t *testing.T) {
	dir := t.TempDir()
	log := MustWatcher(t, 2*time.Second, dir)
	p := filepath.Join(dir, "slow.csv")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for i := 0; i < 30; i++ {
		n, _ := f.WriteString("someone@example.com,Some,One\n")
		size += int64(n)
		if len(log.list()) > 0 {
			t.Fatalf("reported while still being written: %+v", log.list())
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.Close()
	waitFor(t, "the file", func() bool { return len(log.list()) > 0 })
	got := log.list()
	if len(got) != 1 || got[0].Size != size {
		t.Fatalf("found %+v, want one file of %d bytes", got, size)
	}
}

func TestWatcherRenameIntoPlaceAndSeveralFolders(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "hr"), filepath.Join(t.TempDir(), "admin")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	log := MustWatcher(t, 100*time.Millisecond, a, b)
	tmp := filepath.Join(a, "export.csv.filepart")
	writeFile(t, tmp, "email\nx@example.com\n")
	if err := os.Rename(tmp, filepath.Join(a, "export.csv")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(b, "list.csv"), "email\ny@example.com\n")
	waitFor(t, "two files", func() bool { return len(log.list()) >= 2 })
	time.Sleep(300 * time.Millisecond) // room for a wrong extra report (the temp name)
	keys := map[string]string{}
	for _, f := range log.list() {
		keys[filepath.Base(f.Path)] = f.Key
	}
	if len(keys) != 2 || keys["export.csv"] != "hr" || keys["list.csv"] != "admin" {
		t.Fatalf("found %v", keys)
	}
}

func TestWatcherOpenFailsOnMissingFolder(t *testing.T) {
	w := &Watcher{Dirs: []WatchDir{{Path: filepath.Join(t.TempDir(), "nope"), Key: "x"}}}
	if err := w.Open(); err == nil {
		w.Close()
		t.Fatal("Open succeeded on a missing folder")
	}
}

// TestWatcherFolderRemovedAndMadeAgain: an operator (or a remount) removes
// a watched folder and makes it again. Its watch went with it; the watcher
// must watch the new folder and take the files put there, not go deaf.
func TestWatcherFolderRemovedAndMadeAgain(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "drop")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	log := MustWatcher(t, 20*time.Millisecond, dir)
	writeFile(t, filepath.Join(dir, "before.csv"), "email\na@example.com\n")
	waitFor(t, "before.csv", func() bool { return len(log.list()) == 1 })
	// Removed, then moved away (its watch would follow it under the old
	// name); each time made again: the new folder is the one watched.
	gone := []func() error{
		func() error { return os.RemoveAll(dir) },
		func() error { return os.Rename(dir, filepath.Join(root, "old-drop")) },
	}
	for i, remove := range gone {
		if err := remove(); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("after%d.csv", i)
		writeFile(t, filepath.Join(dir, name), "email\nb@example.com\n")
		waitFor(t, name+" in the folder made again", func() bool {
			got := log.list()
			return len(got) == i+2 && got[i+1].Path == filepath.Join(dir, name) && got[i+1].Key == "drop"
		})
	}
}

// TestWatcherRescansFoldersWithoutEvents: a folder on a network mount gets
// no file events for files another machine writes there (here: its watch
// is taken away). The periodic rescan still finds and takes them.
func TestWatcherRescansFoldersWithoutEvents(t *testing.T) {
	dir := t.TempDir()
	log := &foundLog{}
	w := &Watcher{Dirs: []WatchDir{{Path: dir, Key: "nfs"}}, Debounce: 20 * time.Millisecond, RescanEvery: 50 * time.Millisecond, Ready: log.add}
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.fw.Remove(filepath.Clean(dir)); err != nil { // no more events from it
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "remote.csv"), "email\na@example.com\n")
	// Each rescan reports the file again while it is there (Ready's
	// contract): once is enough, and nothing else may be reported.
	waitFor(t, "remote.csv found by a rescan", func() bool { return len(log.list()) > 0 })
	for _, f := range log.list() {
		if f.Key != "nfs" || filepath.Base(f.Path) != "remote.csv" {
			t.Fatalf("reported %+v", f)
		}
	}
}
