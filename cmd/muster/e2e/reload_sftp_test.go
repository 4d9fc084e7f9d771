package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// openSession starts an interactive OpenSSH sftp session, waits until it
// is logged in, and returns its stdin and a channel closed with its end.
func openSession(t *testing.T, d *daemon, account, key string) (io.WriteCloser, *syncBuffer, chan error) {
	t.Helper()
	cmd := exec.Command("sftp", "-P", d.port(), "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(d.data, "known_hosts"), account+"@127.0.0.1")
	stdin, _ := cmd.StdinPipe()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	io.WriteString(stdin, "pwd\n")
	waitFor(t, "the session of "+account, func() bool { return strings.Contains(out.String(), "Remote working directory") })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return stdin, out, done
}

// sftpWith runs OpenSSH's sftp with a key, in batch mode, and returns its
// output and whether it succeeded.
func sftpWith(d *daemon, account, key, dir string, commands ...string) (string, bool) {
	cmd := exec.Command("sftp", "-b", "-", "-P", d.port(), "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(d.data, "known_hosts"), account+"@127.0.0.1")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// SIGHUP reloads an account's keys and the SFTP limits: a session logged in
// with a key removed from an account that stays ends, the key is refused
// from then on and the other key still logs in; a lowered session limit
// turns away a second session, telling the client why. A ban is told to
// the notification targets that want sftp.banned.
func TestReloadSFTPKeysLimitsAndBanNotification(t *testing.T) {
	needSFTP(t)
	work, data := t.TempDir(), t.TempDir()
	second := filepath.Join(work, "second")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", second).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub := func(p string) string {
		b, _ := os.ReadFile(p + ".pub")
		return strings.TrimSpace(string(b))
	}
	var mu sync.Mutex
	var events []map[string]any
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer rcv.Close()
	cfg := filepath.Join(work, "muster.toml")
	write := func(keys []string, extra string) {
		k, _ := json.Marshal(keys)
		os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = %q
[sftp]
listen = "127.0.0.1:0"
ban_threshold = 3
%s
[[sftp.accounts]]
name = "hr"
source = "hr"
keys = %s
[[sources]]
name = "hr"
kind = "sftp"
[[notify]]
name = "sec"
kind = "webhook"
url = %q
events = ["sftp.banned"]
`, data, extra, k, rcv.URL)), 0o600)
	}
	write([]string{pub(keyFile), pub(second)}, "")
	d := MustServe(t, data, work, nil, "-config", cfg)
	stdin, out, done := openSession(t, d, "hr", second)

	write([]string{pub(keyFile)}, "max_sessions_per_account = 1")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", func() bool {
		return strings.Contains(d.stderr.String(), "reload: sftp account hr: keys changed") &&
			strings.Contains(d.stderr.String(), "reload: [sftp] limits: max_sessions_per_account changed")
	})
	io.WriteString(stdin, "ls\n")
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the session of the removed key did not end:\n%s", out)
	}
	if !strings.Contains(d.stderr.String(), "closing session: the key it logged in with was removed") {
		t.Errorf("the log does not say why the session ended:\n%s", d.stderr)
	}
	if o, ok := sftpWith(d, "hr", second, work, "ls"); ok {
		t.Fatalf("the removed key still logs in:\n%s", o)
	}
	// One session of the remaining key is open: a second is refused, told why.
	stdin2, _, _ := openSession(t, d, "hr", keyFile)
	defer stdin2.Close()
	cmd := exec.Command("sftp", "-b", "-", "-P", d.port(), "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(data, "known_hosts"), "hr@127.0.0.1")
	cmd.Stdin = strings.NewReader("ls\n")
	if o, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(o), `account "hr" has too many sessions open (limit 1)`) {
		t.Fatalf("a second session under the lowered limit: %v\n%s", err, o)
	}
	stdin2.Close()

	// Three failed logins (the removed key) ban the account from here: told.
	for i := 0; i < 3; i++ {
		sftpWith(d, "hr", second, work, "ls")
	}
	waitFor(t, "the ban notification", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 1
	})
	mu.Lock()
	ev := events[0]
	mu.Unlock()
	ban, _ := ev["ban"].(map[string]any)
	if ev["event"] != "sftp.banned" || ev["org"] != "default" || ban["address"] != "127.0.0.1" || ban["account"] != "hr" {
		t.Fatalf("the ban event: %v", ev)
	}
	d.stop()
}
