package console

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Instances starting at once on an empty shared folder end up with one
// key (never a half-written one), readable by muster alone.
func TestSessionKeyMadeOnceWhoeverStartsFirst(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "shared", keyFile)
		keys := make([][]byte, 8)
		errs := make([]error, len(keys))
		var wg sync.WaitGroup
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keys[i], errs[i] = sessionKey(path)
			}()
		}
		wg.Wait()
		for i := range keys {
			if errs[i] != nil || len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("round %d: instance %d got %x (%v), instance 0 %x", round, i, keys[i], errs[i], keys[0])
			}
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", fi.Mode(), err)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Fatalf("round %d: the shared folder holds %d files, want the key alone", round, len(entries))
		}
	}
}
