package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"muster/ingest"
	"muster/store"
)

// TestServeFilesHeldDropApprovedInProcess runs the daemon in-process, has
// it hold an empty file dropped into its folder, and approves the drop
// through its own Ingester, as the admin API does: the file moves from
// held/ to archive/ with the final report, and the metrics still count the
// decision (the daemon's Observe tells both).
func TestServeFilesHeldDropApprovedInProcess(t *testing.T) {
	m := mustDaemon(t, cliConfig(t, ""))
	folder := m.Config.Sources[0].Folder
	dropInto(t, folder, "day1.csv", hrSemicolon)
	if st := waitDrop(t, m, 1); st != store.DropApplied {
		t.Fatalf("day1: %s", st)
	}
	dropInto(t, folder, "empty.csv", "")
	if st := waitDrop(t, m, 2); st != store.DropHeld {
		t.Fatalf("the empty file: %s, want held", st)
	}
	src := filepath.Join(m.Config.DataDir, "drops", "default", "hr")
	waitUntil(t, "the held file", func() bool { return strings.Contains(treeOf(src), " held/") })
	if _, err := m.Ingester.Approve(context.Background(), "default", 2, ingest.Options{By: "api"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the approved drop in archive/", func() bool {
		tree := treeOf(src)
		return strings.Contains(tree, " archive/") && strings.Contains(tree, "/2-empty.csv ") &&
			strings.Contains(tree, "/2-empty.csv.report.json ") && !strings.Contains(tree, " held/")
	})
	for _, p := range strings.Fields(treeOf(src)) {
		if strings.HasSuffix(p, "2-empty.csv.report.json") {
			b, _ := os.ReadFile(filepath.Join(src, p))
			if !strings.HasPrefix(p, "archive/") || !strings.Contains(string(b), `"decision": "applied"`) {
				t.Fatalf("%s:\n%s", p, b)
			}
		}
	}
	families, err := m.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	approved := 0.0
	for _, f := range families {
		if f.GetName() != "muster_held_drops_decided_total" {
			continue
		}
		for _, x := range f.GetMetric() {
			if strings.Contains(fmt.Sprint(x.GetLabel()), `value:"approved"`) {
				approved += x.GetCounter().GetValue()
			}
		}
	}
	if approved != 1 {
		t.Fatalf("metrics count %v approvals, want 1", approved)
	}
}

// treeOf lists the files under dir, relative to it, each with a space
// before and after.
func treeOf(dir string) string {
	var b strings.Builder
	b.WriteString(" ")
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			b.WriteString(rel + " ")
		}
		return nil
	})
	return b.String()
}

// readyz asks the daemon's /readyz.
func readyz(t *testing.T, m *Main) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + m.HTTP.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestReadyzFailsWhileAWatchedFolderIsGone: a removed drop folder makes
// muster deaf to what is put at its path, so /readyz says so (without
// naming the folder, as it needs no token) until the folder is back.
func TestReadyzFailsWhileAWatchedFolderIsGone(t *testing.T) {
	m := mustDaemon(t, cliConfig(t, "[http]\nlisten = \"127.0.0.1:0\"\n"))
	ready := func() (int, string) { return readyz(t, m) }
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("readyz at start: %d %s", code, body)
	}
	folder := m.Config.Sources[0].Folder
	if err := os.RemoveAll(folder); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "readyz to fail", func() bool { code, _ := ready(); return code == http.StatusServiceUnavailable })
	if _, body := ready(); !strings.Contains(body, `"watch"`) || strings.Contains(body, folder) {
		t.Fatalf("readyz body: %s", body)
	}
	if err := os.Mkdir(folder, 0o750); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "readyz to pass again", func() bool { code, _ := ready(); return code == http.StatusOK })
	dropInto(t, folder, "day1.csv", hrSemicolon)
	if st := waitDrop(t, m, 1); st != store.DropApplied {
		t.Fatalf("a drop into the folder made again: %s", st)
	}
}

// TestSecondDaemonOnTheSameDataDirRefused: a second `muster serve` on a data
// dir in use (a unit started twice, two containers on one volume) would take
// the first one's drops in progress from the shared spool and process them
// again beside it. It must refuse to start, before it touches anything.
func TestSecondDaemonOnTheSameDataDirRefused(t *testing.T) {
	path := cliConfig(t, "")
	first := mustDaemon(t, path)
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	c, err := loadConfig(e, path, "")
	if err != nil {
		t.Fatal(err)
	}
	second := NewMain(c, e)
	err = second.Run(context.Background())
	second.Close()
	if err == nil || !strings.Contains(err.Error(), "another muster serve") || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second daemon on the same data dir: %v", err)
	}
	if second.Files != nil {
		t.Fatal("the second daemon opened the drop queues")
	}
	// The first one still works, and once it stops another may start.
	dropInto(t, first.Config.Sources[0].Folder, "day1.csv", hrSemicolon)
	if st := waitDrop(t, first, 1); st != store.DropApplied {
		t.Fatalf("day1: %s", st)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	mustDaemon(t, path)
}

// TestReadyzFailsWhenTheStoreFileIsGone: a store file deleted or replaced
// under a running muster (a data dir cleaned up, a backup moved over it)
// still answers every query from the file it holds open, and everything
// written from then on is lost at the next start. /readyz must say so.
func TestReadyzFailsWhenTheStoreFileIsGone(t *testing.T) {
	m := mustDaemon(t, cliConfig(t, "[http]\nlisten = \"127.0.0.1:0\"\n"))
	ready := func() (int, string) { return readyz(t, m) }
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("readyz at start: %d %s", code, body)
	}
	path := m.Store.Path()
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	code, body := ready()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"store_file"`) || strings.Contains(body, path) {
		t.Fatalf("readyz with the store file moved away: %d %s", code, body)
	}
	// Another file at the path is not the store muster writes either.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := ready(); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with another file at the store's path: %d %s", code, body)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".moved", path); err != nil {
		t.Fatal(err)
	}
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("readyz with the store file back: %d %s", code, body)
	}
}
