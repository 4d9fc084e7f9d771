//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe is refused at once (reading one would wait for a writer for
// ever), as is a symbolic link to one; a link to a regular file is read.
func TestCheckRefusesFIFOAtOnce(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "export.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	link := filepath.Join(dir, "link.csv")
	os.Symlink(fifo, link)
	good := filepath.Join(dir, "good-link.csv")
	os.Symlink(mustAbs(t, "../../samples/workday.csv"), good)
	for _, p := range []string{fifo, link} {
		done := make(chan struct{})
		var code int
		var out, errs string
		go func() { code, out, errs = MustRun(t, "check", p); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("check %s is still waiting", p)
		}
		if code == exitOK || !strings.Contains(errs, "is not a regular file: it is a named pipe (FIFO)") {
			t.Errorf("check %s: exit %d\n%s%s", p, code, out, errs)
		}
	}
	if code, out, errs := MustRun(t, "check", good); code != exitOK {
		t.Errorf("check of a link to a regular file: exit %d\n%s%s", code, out, errs)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
