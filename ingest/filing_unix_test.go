//go:build unix

package ingest

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"muster/store"
)

// A named pipe put in a watched folder is refused at once, not waited on.
func TestFilesFIFORefused(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	r.open(t)
	p := filepath.Join(r.folder("hr"), "pipe.csv")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	r.files.lanes.add(job{key: "default/hr", path: p})
	ds := r.waitDrops(t, "hr", 1)
	if ds[0].Status != store.DropRejected || !strings.Contains(string(ds[0].Report), "a named pipe (FIFO)") {
		t.Fatalf("drop %s %s", ds[0].Status, ds[0].Report)
	}
}
