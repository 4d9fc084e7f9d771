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
// cleanly. (The store needs its write-ahead log files, which a crash
// leaves; after a clean stop SQLite must create them again, and a disk
// without a byte free cannot hold them: serve then says so and exits.) It
// needs to mount a tmpfs (root, or CAP_SYS_ADMIN): skipped with a message
// elsewhere.
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
	fill, err := os.Create(filepath.Join(mnt, "fill"))
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
	for _, want := range []string{"could not write the known_hosts file", "could not write serve.json", "no space left on device"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, stderr)
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
