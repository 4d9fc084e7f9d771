package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeStartsOnAFullDisk: muster's data directory is on a small tmpfs.
// muster is killed, the disk fills up, muster is started again: it starts
// (its convenience files, known_hosts and serve.json, cannot be written: it
// says so and goes on), refuses uploads while the disk is full, and stops
// cleanly. Started once more after that clean stop, when SQLite must create
// its write-ahead log files again on a disk without a byte free, it gives up
// the store's reserve (muster.db-reserve), says so, and starts. It needs to
// mount a tmpfs (root, or CAP_SYS_ADMIN): skipped with a message elsewhere.
func TestServeStartsOnAFullDisk(t *testing.T) {
	needSFTP(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	data := filepath.Join(mnt, "data")
	d := MustServe(t, data, t.TempDir(), nil, "-sftp", "127.0.0.1:0")
	d.kill()
	// Gone before the restart, so that finding them after it means the
	// restart wrote them.
	for _, f := range []string{"known_hosts", "serve.json"} {
		if err := os.Remove(filepath.Join(data, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	fillDisk(t, filepath.Join(mnt, "fill"))

	if _, err := os.Stat(filepath.Join(data, "muster.db-reserve")); err != nil {
		t.Fatalf("no store reserve kept by the first start: %v", err)
	}
	cmd, stdout, stderr, done := startOnFullDisk(t, data)
	// What it could not write, it says; what it could (the store's
	// recovery of the log the kill left may free a little room first, seen
	// under load), is there.
	for file, want := range map[string]string{"known_hosts": "could not write the known_hosts file", "serve.json": "could not write serve.json"} {
		said := strings.Contains(stderr.String(), want) && strings.Contains(stderr.String(), "no space left on device")
		if _, err := os.Stat(filepath.Join(data, file)); !said && err != nil {
			t.Errorf("%s was neither written nor said to be unwritable: %v\n%s", file, err, stderr)
		}
	}
	// Uploads are refused while the disk is full.
	port := regexp.MustCompile(`sftp +127\.0\.0\.1:(\d+)`).FindStringSubmatch(stdout.String())
	if port == nil {
		t.Fatalf("no SFTP address printed:\n%s", stdout)
	}
	up := exec.Command("sftp", "-b", "-", "-P", port[1], "-i", filepath.Join(data, "upload_key"),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "upload@127.0.0.1")
	up.Dir, up.Stdin = repo, strings.NewReader("put samples/workday.csv\n")
	if out, err := up.CombinedOutput(); err == nil {
		t.Errorf("an upload was taken on a full disk:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "the server is short of disk space") {
		t.Errorf("the refused upload was not logged:\n%s", stderr)
	}
	stopOnFullDisk(t, cmd, stderr, done)

	// With room again muster starts and stops cleanly. It keeps SQLite's
	// write-ahead log at that stop (store/walreuse.go), but a store without
	// one (copied, restored, or left by an older muster) must create it:
	// removed here, after the clean stop, when all of it is in the store
	// file. The disk fills up again: the next start needs room to create
	// the log, and takes it from the reserve.
	if err := os.Remove(filepath.Join(mnt, "fill")); err != nil {
		t.Fatal(err)
	}
	cmd, _, stderr, done = startOnFullDisk(t, data)
	stopOnFullDisk(t, cmd, stderr, done)
	for _, f := range []string{"muster.db-wal", "muster.db-shm"} {
		if err := os.Remove(filepath.Join(data, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	fillDisk(t, filepath.Join(mnt, "fill"))
	cmd, _, stderr, done = startOnFullDisk(t, data)
	if !strings.Contains(stderr.String(), "the disk holding the store is full: its reserve was removed") {
		t.Errorf("the start after a clean stop does not say it used the reserve:\n%s", stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "muster.db-reserve")); err == nil {
		t.Errorf("the reserve is still there")
	}
	stopOnFullDisk(t, cmd, stderr, done)
}

// startOnFullDisk starts muster serve on data and waits for its banner.
func startOnFullDisk(t *testing.T, data string) (*exec.Cmd, *syncBuffer, *syncBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(binary, "serve", "-data", data, "-sftp", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.After(90 * time.Second)
	for !strings.Contains(stdout.String(), "Stop with Ctrl-C.") {
		select {
		case err := <-done:
			t.Fatalf("muster serve exited on a full disk: %v\n%s", err, stderr)
		case <-deadline:
			t.Fatalf("muster serve did not start on a full disk\n%s", stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return cmd, stdout, stderr, done
}

// stopOnFullDisk stops muster serve with SIGTERM: it must exit 0.
func stopOnFullDisk(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer, done chan error) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stop on a full disk: %v\n%s", err, stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("muster serve did not stop")
	}
}

// fillDisk writes the file at path until the disk is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	fill, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if _, err := fill.Write(buf); err != nil {
			break // ENOSPC: the disk is full
		}
	}
	fill.Close()
}
