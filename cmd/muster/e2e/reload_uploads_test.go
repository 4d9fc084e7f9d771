package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Uploads by OpenSSH while SIGHUP reloads replace the drop queues: each
// of 20 uploads becomes exactly one drop, every client exits 0, and each
// upload's log line names its drop. A reload adding or removing a source
// replaces the queues: an upload handed over meanwhile waits for the new
// ones, and their start scan leaves the uploads the SFTP server still
// holds (committed, visible to their client until the session ends) to
// its hand-over instead of taking them early (which made a second,
// superseded drop of the same upload).
func TestUploadsDuringReloadsEachBecomeOneDrop(t *testing.T) {
	needSFTP(t)
	work, data := t.TempDir(), t.TempDir()
	pub, _ := os.ReadFile(keyFile + ".pub")
	cfg := filepath.Join(work, "muster.toml")
	write := func(extra bool) {
		s := fmt.Sprintf(`data_dir = %q
[watch]
debounce = "20ms"
[sftp]
listen = "127.0.0.1:0"
[[sftp.accounts]]
name = "hr"
source = "hr"
keys = [%q]
[[sources]]
name = "hr"
kind = "sftp"
max_remove_percent = 100
max_remove_count = 1000
`, data, strings.TrimSpace(string(pub)))
		if extra {
			s += fmt.Sprintf("[[sources]]\nname = \"extra\"\nkind = \"folder\"\nfolder = %q\n", filepath.Join(work, "extra"))
		}
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(false)
	d := MustServe(t, data, work, nil, "-config", cfg)

	const uploads = 20
	var stop atomic.Bool
	reloads := make(chan int)
	go func() { // one reload after another until the uploads are done
		n := 0
		defer func() { reloads <- n }()
		for !stop.Load() {
			write(n%2 == 0)
			d.cmd.Process.Signal(syscall.SIGHUP)
			n++
			for strings.Count(d.stderr.String(), "reload: source default/extra") < n {
				select {
				case <-d.done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}()
	body := "email,first name\n"
	for i := range uploads {
		body += fmt.Sprintf("u%02d@example.com,U%02d\n", i, i)
		name := fmt.Sprintf("u%02d.csv", i)
		if err := os.WriteFile(filepath.Join(work, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, ok := sftpWith(d, "hr", keyFile, work, "put "+name); !ok {
			t.Fatalf("upload %s failed:\n%s", name, out)
		}
	}
	stop.Store(true)
	n := <-reloads
	t.Logf("%d uploads during %d reloads", uploads, n)
	if n < 2 {
		t.Fatalf("only %d reloads happened during the uploads", n)
	}
	var list struct {
		Drops []struct{ Name string }
	}
	waitFor(t, "a drop for every upload", func() bool {
		list.Drops = nil
		if err := json.Unmarshal([]byte(muster(t, "drops", "list", "-json", "-data", data, "-limit", "1000")), &list); err != nil {
			t.Fatal(err)
		}
		return len(list.Drops) >= uploads
	})
	var names []string
	for _, dr := range list.Drops {
		names = append(names, dr.Name)
	}
	slices.Sort(names)
	for i := range uploads {
		if want := fmt.Sprintf("u%02d.csv", i); i >= len(names) || names[i] != want {
			t.Fatalf("drops %q, want one for each of u00.csv to u%02d.csv", names, uploads-1)
		}
	}
	if len(names) != uploads {
		t.Fatalf("%d drops for %d uploads: %q", len(names), uploads, names)
	}
	// Each upload's log line names its drop; no queue found a file gone.
	waitFor(t, "every upload's log line", func() bool {
		return strings.Count(d.stderr.String(), "outcome=committed drop=") == uploads
	})
	if strings.Contains(d.stderr.String(), "vanished before it was taken") {
		t.Error("a queue found an upload's file gone: taken twice")
	}
}
