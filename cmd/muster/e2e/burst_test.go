package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestFiftyConcurrentUploads: 50 OpenSSH `sftp put` at once from one
// address to one account, on the default limits: every client exits 0 and
// every upload is committed and becomes a drop.
func TestFiftyConcurrentUploads(t *testing.T) {
	needSFTP(t)
	const n = 50
	data, work := t.TempDir(), t.TempDir()
	pub, _ := os.ReadFile(keyFile + ".pub")
	cfg := fmt.Sprintf("[sftp]\nlisten = \"127.0.0.1:0\"\n[[sources]]\nname = \"hr\"\nkind = \"sftp\"\n"+
		"[[sftp.accounts]]\nname = \"acme\"\nsource = \"hr\"\nkeys = [%q]\n", strings.TrimSpace(string(pub)))
	p := filepath.Join(work, "muster.toml")
	os.WriteFile(p, []byte(cfg), 0o600)
	d := MustServe(t, data, work, nil, "-config", p)
	for i := range n {
		os.WriteFile(filepath.Join(work, fmt.Sprintf("burst-%d.csv", i)), cumulative(fmt.Sprintf("burst%d", i), 0), 0o644)
	}
	var wg sync.WaitGroup
	fails := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fails[i] = d.sftpQuiet("acme", work, fmt.Sprintf("put burst-%d.csv", i))
		}()
	}
	wg.Wait()
	ok := 0
	for i, f := range fails {
		if f == "" {
			ok++
		} else {
			t.Errorf("upload %d: %s", i, f)
		}
	}
	t.Logf("%d of %d concurrent uploads exited 0", ok, n)
	ds := waitDecided(t, data, n)
	names := map[string]bool{}
	for _, x := range ds {
		names[x.Name] = true
	}
	if len(names) != n {
		t.Errorf("%d distinct files became drops, want %d", len(names), n)
	}
	t.Logf("%d uploads committed and recorded as drops", len(ds))
}
