// Package e2e starts the real muster binary (`muster serve`) with a temp
// data dir and a config, and drives it as operators and HR systems do:
// OpenSSH's sftp, files copied into drop folders, signals, SIGKILL.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"muster/schema"
	"muster/store"
)

var (
	binary  string // the muster binary built for these tests
	repo    string // the repository root
	keyFile string // an ed25519 client key made with ssh-keygen
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		tmp, err := os.MkdirTemp("", "muster-e2e-*")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		repo, _ = filepath.Abs("../../..")
		binary = filepath.Join(tmp, "muster")
		args := []string{"build", "-o", binary}
		if raceEnabled {
			args = append(args, "-race")
		}
		build := exec.Command("go", append(args, "./cmd/muster")...)
		build.Dir, build.Stdout, build.Stderr = repo, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build muster:", err)
			return 1
		}
		if _, err := exec.LookPath("ssh-keygen"); err == nil {
			keyFile = filepath.Join(tmp, "id_ed25519")
			if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile).CombinedOutput(); err != nil {
				fmt.Fprintln(os.Stderr, "ssh-keygen:", err, string(out))
				return 1
			}
		}
		return m.Run()
	}())
}

// needSFTP skips a test when OpenSSH's client is missing.
func needSFTP(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("sftp"); err != nil || keyFile == "" {
		t.Skip("OpenSSH sftp/ssh-keygen not installed")
	}
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is a running `muster serve`.
type daemon struct {
	t      testing.TB
	cmd    *exec.Cmd
	data   string
	stdout *syncBuffer
	stderr *syncBuffer
	state  state
	done   chan struct{}
	err    error
}

// state is the daemon's <data>/serve.json.
type state struct {
	PID      int    `json:"pid"`
	SFTPAddr string `json:"sftp_addr"`
}

// MustServe starts `muster serve` with args and env (KEY=VALUE), in dir,
// and waits until it has written its state file (everything listens).
func MustServe(t testing.TB, data, dir string, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, data: data, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	os.Remove(filepath.Join(data, "serve.json"))
	d.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	d.cmd.Dir = dir
	d.cmd.Env = append(os.Environ(), append([]string{"MUSTER_DATA=" + data, "HOME=" + t.TempDir()}, env...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
		if t.Failed() {
			t.Logf("muster serve stderr:\n%s", d.stderr)
		}
	})
	waitFor(t, "muster serve to start", func() bool {
		select {
		case <-d.done:
			t.Fatalf("muster serve exited: %v\n%s", d.err, d.stderr)
		default:
		}
		b, err := os.ReadFile(filepath.Join(data, "serve.json"))
		return err == nil && json.Unmarshal(b, &d.state) == nil && d.state.PID == d.cmd.Process.Pid
	})
	// The state file is written before the start banner is printed: wait for
	// its last line, so tests reading the banner read all of it.
	asJSON := slices.Contains(args, "-json")
	waitFor(t, "muster serve's start banner", func() bool {
		if asJSON { // one object, ending with its closing brace
			return strings.HasSuffix(d.stdout.String(), "}\n")
		}
		return strings.Contains(d.stdout.String(), "Stop with Ctrl-C.")
	})
	return d
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		d.t.Fatal("muster serve did not stop after SIGTERM")
	}
	if d.err != nil {
		d.t.Fatalf("muster serve exited with %v\n%s", d.err, d.stderr)
	}
}

// kill sends SIGKILL: a crash.
func (d *daemon) kill() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// port is the SFTP port the daemon listens on.
func (d *daemon) port() string {
	return d.state.SFTPAddr[strings.LastIndex(d.state.SFTPAddr, ":")+1:]
}

// sftp runs OpenSSH's sftp as account with a batch of commands, in dir.
func (d *daemon) sftp(account, dir string, commands ...string) {
	d.t.Helper()
	if msg := d.sftpQuiet(account, dir, commands...); msg != "" {
		d.t.Fatal(msg)
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// muster runs a CLI command of the built binary and returns its stdout.
func muster(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("muster %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return string(out)
}

// drop is a drop as `muster drops list -json` prints it.
type drop struct {
	ID          int64  `json:"id"`
	Source      string `json:"source"`
	Name        string `json:"name"`
	ContentHash string `json:"content_hash"`
	Status      string `json:"status"`
	Report      struct {
		Reason string `json:"reason"`
	} `json:"report"`
}

// drops lists the org's drops, oldest first, through the CLI.
func drops(t testing.TB, data string) []drop {
	t.Helper()
	var out struct{ Drops []drop }
	cmd := exec.Command(binary, "drops", "list", "-json", "-limit", "1000", "-data", data)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	b, err := cmd.Output()
	if err != nil && strings.Contains(errb.String(), "no organisation") {
		return nil // nothing ingested yet
	}
	if err != nil {
		t.Fatalf("muster drops list: %v\n%s", err, errb.String())
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(out.Drops)-1; i < j; i, j = i+1, j-1 {
		out.Drops[i], out.Drops[j] = out.Drops[j], out.Drops[i]
	}
	return out.Drops
}

// waitDecided waits until the data dir holds n drops, none still received.
func waitDecided(t testing.TB, data string, n int) []drop {
	t.Helper()
	var ds []drop
	waitFor(t, fmt.Sprintf("%d decided drops", n), func() bool {
		if _, err := os.Stat(filepath.Join(data, store.FileName)); err != nil {
			return false
		}
		ds = drops(t, data)
		if len(ds) < n {
			return false
		}
		for _, d := range ds {
			if d.Status == string(store.DropReceived) {
				return false
			}
		}
		return true
	})
	if len(ds) != n {
		t.Fatalf("%d drops, want %d: %+v", len(ds), n, ds)
	}
	return ds
}

// activeCount counts the org's active recipients, reading the store.
func activeCount(t testing.TB, data string) int64 {
	t.Helper()
	ctx := context.Background()
	st, org, err := dataStore(t, data)
	defer st.Close()
	if err != nil {
		return 0
	}
	n, err := st.RecipientCounts(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n[store.StatusActive]
}

// copyInto copies a sample into dir under name, atomically (written under a
// temporary name, then renamed) unless slow is set.
func copyInto(t testing.TB, sample, dir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "samples", sample))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// files lists the regular files under dir, relative to it.
func files(dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// dataStore opens the store of a data dir and looks up the default
// organisation (err: not there yet); the caller closes the store.
func dataStore(t testing.TB, data string) (*store.Store, store.Org, error) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.LookupOrg(context.Background(), schema.DefaultOrg)
	return st, org, err
}
