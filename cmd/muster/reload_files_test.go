package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"muster/sftpserver"
)

// sftpReloadRig runs a daemon in-process with an SFTP account feeding
// source hr; write rewrites its config with extra appended (for Reload).
func sftpReloadRig(t *testing.T) (m *Main, root string, write func(extra string), inbox string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	root = t.TempDir()
	path := filepath.Join(root, "muster.toml")
	write = func(extra string) {
		cfg := fmt.Sprintf(`data_dir = "data"
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
`, key) + extra
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	c, err := loadConfig(e, path, "")
	if err != nil {
		t.Fatal(err)
	}
	m = NewMain(c, e)
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if inbox, err = m.SFTP.InboxDir("hr"); err != nil {
		t.Fatal(err)
	}
	return m, root, write, inbox
}

// upload puts body into the inbox as name and hands it over as the SFTP
// server does once a client's upload is committed.
func upload(t *testing.T, m *Main, inbox, name, body string) {
	t.Helper()
	p := filepath.Join(inbox, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	m.announce(sftpserver.Upload{Org: "default", Account: "hr", Source: "hr", Name: name, Path: p,
		Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])})
}

// dropNames lists source's drops' names, sorted.
func dropNames(t *testing.T, m *Main, source string) []string {
	var out []string
	for _, d := range sourceDrops(t, m, source) {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}

// SFTP uploads handed over while reloads replace the drop queues are each
// made a drop exactly once: none is handed to queues being opened (a data
// race on their sources, and a crash on their lanes) or lost to queues
// already closed (its file left in the inbox after the new queues' start
// scan, until the next restart). Run it with -race.
func TestUploadsHandedOverDuringReloadsEachBecomeOneDrop(t *testing.T) {
	m, _, write, inbox := sftpReloadRig(t)
	const reloads = 12
	var wg sync.WaitGroup
	wg.Add(1)
	reloaded := make(chan struct{})
	go func() { // reloads, each replacing the drop queues
		defer wg.Done()
		defer close(reloaded)
		for i := range reloads {
			extra := "" // every other reload adds a source: the queues are replaced
			if i%2 == 0 {
				extra = "[[sources]]\nname = \"extra\"\nkind = \"folder\"\nfolder = \"extra\"\n"
			}
			write(extra)
			if _, err := m.Reload(context.Background(), "test"); err != nil {
				t.Errorf("reload %d: %v", i, err)
				return
			}
		}
	}()
	var body strings.Builder
	body.WriteString("email,first name\n")
	// Uploads one after another for as long as the reloads go on (at
	// least 10), a few milliseconds apart.
	stopped := func() bool {
		select {
		case <-reloaded:
			return true
		default:
			return false
		}
	}
	uploads := 0
	for ; uploads < 400 && (uploads < 10 || !stopped()); uploads++ {
		i := uploads
		time.Sleep(3 * time.Millisecond)
		// Each file lists one more person: distinct contents, no removals.
		fmt.Fprintf(&body, "u%03d@example.com,U%03d\n", i, i)
		upload(t, m, inbox, fmt.Sprintf("u%03d.csv", i), body.String())
	}
	wg.Wait()

	names := func() []string { return dropNames(t, m, "hr") }
	waitUntil(t, fmt.Sprintf("%d drops of hr", uploads), func() bool { return len(names()) >= uploads })
	got := names()
	if len(got) != uploads {
		t.Fatalf("%d drops for %d uploads: %q", len(got), uploads, got)
	}
	for i, n := range got {
		if want := fmt.Sprintf("u%03d.csv", i); n != want {
			t.Fatalf("drop %d is named %q, want %q (all: %q)", i, n, want, got)
		}
	}
	left, _ := os.ReadDir(inbox)
	for _, f := range left {
		if f.Type().IsRegular() {
			t.Errorf("left in the inbox: %s", f.Name())
		}
	}
}

// A reload whose drop queues cannot open (a new source's spool cannot be
// made) says so, and the running sources' queues are opened again: an
// upload handed over after it still becomes a drop.
func TestReloadWhoseQueuesCannotOpenKeepsTakingUploads(t *testing.T) {
	m, root, write, inbox := sftpReloadRig(t)
	// The new source's place under drops/ is taken by a file.
	blocker := filepath.Join(root, "data", "drops", "default", "extra")
	if err := os.WriteFile(blocker, []byte("a file, not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	write("[[sources]]\nname = \"extra\"\nkind = \"folder\"\nfolder = \"extra\"\n")
	_, err := m.Reload(context.Background(), "test")
	if err == nil || !strings.Contains(err.Error(), "drop queues") || !strings.Contains(err.Error(), blocker) ||
		!strings.Contains(err.Error(), "the previous sources' drop queues run again") {
		t.Fatalf("a reload whose queues cannot open: %v", err)
	}
	upload(t, m, inbox, "after.csv", "email,first name\na@example.com,A\n")
	waitUntil(t, "the upload's drop", func() bool { return len(dropNames(t, m, "hr")) == 1 })
	if got := dropNames(t, m, "hr"); got[0] != "after.csv" {
		t.Fatalf("drops %q", got)
	}
}
