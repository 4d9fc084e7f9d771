package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadConfig is a config of the reload test: SFTP accounts (given as
// TOML), a folder source, the admin API with the tokens given, and extra.
func reloadConfig(data, accounts, tokens, extra string) string {
	return fmt.Sprintf(`data_dir = %q
log_level = "info"
[sftp]
listen = "127.0.0.1:0"
%s
[[sources]]
name = "hr"
kind = "sftp"
[[sources]]
name = "admin"
kind = "folder"
folder = %q
[watch]
debounce = "100ms"
[http]
listen = "127.0.0.1:0"
%s
%s`, data, accounts, filepath.Join(data, "admin-drop"), tokens, extra)
}

func account(name, keys, extra string) string {
	return fmt.Sprintf("[[sftp.accounts]]\nname = %q\nsource = \"hr\"\n%s%s\n", name, keys, extra)
}

// curlUpload puts a file over SFTP with curl (libssh2) and a password,
// checking the host key against the daemon's. It returns curl's error.
func curlUpload(t testing.TB, d *daemon, user, password, file string) error {
	t.Helper()
	fp := strings.TrimPrefix(hostKeySHA256(t, d), "SHA256:")
	cmd := exec.Command("curl", "-sS", "--hostpubsha256", fp, "-u", user+":"+password, "-T", file,
		fmt.Sprintf("sftp://127.0.0.1:%s/%s", d.port(), filepath.Base(file)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// hostKeySHA256 is the daemon's ed25519 host key fingerprint.
func hostKeySHA256(t testing.TB, d *daemon) string {
	t.Helper()
	for _, l := range strings.Split(muster(t, "sftp", "hostkeys", "-data", d.data), "\n") {
		if strings.Contains(l, "ssh-ed25519") {
			return strings.Fields(l)[0]
		}
	}
	t.Fatal("no ed25519 host key")
	return ""
}

// TestReloadOnSIGHUPChangesAccountsPasswordsTokensLive: the real binary,
// real clients. SIGHUP re-reads the config: an account added can upload
// with OpenSSH's sftp; an account removed can no longer log in, and its
// open session ends; a password changed in its file takes effect for curl;
// a token added through the config works once POST /v1/reload has run; a
// bad config is refused with its problems and the running one kept; a
// changed listen address is reported as needing a restart. Every change
// is in the log.
func TestReloadOnSIGHUPChangesAccountsPasswordsTokensLive(t *testing.T) {
	needSFTP(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	data, work := t.TempDir(), t.TempDir()
	pub, _ := os.ReadFile(keyFile + ".pub")
	keys := fmt.Sprintf("keys = [%q]\n", strings.TrimSpace(string(pub)))
	hashFile := filepath.Join(work, "pw.hash")
	os.WriteFile(hashFile, []byte(hashPassword(t, "first-secret")), 0o600)
	ops := mustToken(t, "ops", "*", "admin")
	later := mustToken(t, "later", "default", "viewer")
	cfg := filepath.Join(work, "muster.toml")
	write := func(accounts, tokens, extra string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(reloadConfig(data, accounts, tokens, extra)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(account("acme", keys, "")+account("pw", fmt.Sprintf("password_hash_file = %q\n", hashFile), ""), ops.table, "")
	d := MustServe(t, data, work, nil, "-config", cfg)
	os.WriteFile(filepath.Join(work, "a.csv"), []byte("email,first name\nann@example.com,Ann\n"), 0o600)
	d.sftp("acme", work, "put a.csv")
	if err := curlUpload(t, d, "pw", "first-secret", filepath.Join(work, "a.csv")); err != nil {
		t.Fatalf("curl with the first password: %v", err)
	}
	// An interactive session of acme, left open.
	open := exec.Command("sftp", "-P", d.port(), "-i", keyFile, "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(data, "known_hosts"), "acme@127.0.0.1")
	stdin, _ := open.StdinPipe()
	openOut := &syncBuffer{}
	open.Stdout, open.Stderr = openOut, openOut
	if err := open.Start(); err != nil {
		t.Fatal(err)
	}
	defer open.Process.Kill()
	io.WriteString(stdin, "pwd\n")
	waitFor(t, "the open session", func() bool { return strings.Contains(openOut.String(), "Remote working directory") })
	openDone := make(chan error, 1)
	go func() { openDone <- open.Wait() }()

	// acme out, globex in, pw's password changed, a token added.
	os.WriteFile(hashFile, []byte(hashPassword(t, "second-secret")), 0o600)
	write(account("globex", keys, "")+account("pw", fmt.Sprintf("password_hash_file = %q\n", hashFile), ""), ops.table+"\n"+later.table, "")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload's log", func() bool { return strings.Contains(d.stderr.String(), "reload: sftp account acme removed") })
	for _, want := range []string{"reload: sftp account globex added", "reload: sftp account pw: password changed", "reload: http token later added"} {
		if !strings.Contains(d.stderr.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, d.stderr)
		}
	}
	// The interactive client notices at its next command.
	io.WriteString(stdin, "ls\n")
	select {
	case err := <-openDone:
		if err == nil || !strings.Contains(openOut.String(), "Connection closed") {
			t.Fatalf("the open session: %v\n%s", err, openOut)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the removed account's open session did not end:\n%s", openOut)
	}
	if msg := d.sftpQuiet("acme", work, "put a.csv"); msg == "" {
		t.Fatal("the removed account still logs in")
	}
	d.sftp("globex", work, "put a.csv")
	if err := curlUpload(t, d, "pw", "first-secret", filepath.Join(work, "a.csv")); err == nil {
		t.Fatal("the old password still works")
	}
	if err := curlUpload(t, d, "pw", "second-secret", filepath.Join(work, "a.csv")); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	c := &client{t: t, base: "http://" + httpAddr(t, data)}
	c.want(http.StatusOK, "GET", "/v1/sources", &later, "", nil)

	// Through the API: the token removed again.
	write(account("globex", keys, "")+account("pw", fmt.Sprintf("password_hash_file = %q\n", hashFile), ""), ops.table, "")
	var res struct {
		Changed []string `json:"changed"`
		Restart []string `json:"restart_needed"`
	}
	c.want(http.StatusOK, "POST", "/v1/reload", &ops, "", &res)
	if strings.Join(res.Changed, ";") != "http token later removed" {
		t.Fatalf("reload answered %+v", res)
	}
	c.want(http.StatusUnauthorized, "GET", "/v1/sources", &later, "", nil)

	// A bad config: refused, with its problems; the running one kept.
	write(account("globex", "keys = [\"ssh-rsa AAAA nope\"]\n", "")+account("x", "", ""), ops.table, "bogus = 1\n")
	status, body := c.do("POST", "/v1/reload", &ops, "")
	if status != http.StatusBadRequest || !strings.Contains(string(body), "unknown key") || !strings.Contains(string(body), "bogus") {
		t.Fatalf("a bad config: %d %s", status, body)
	}
	write(account("globex", "keys = [\"ssh-rsa AAAA nope\"]\n", "")+account("x", "", ""), ops.table, "")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the refusal in the log", func() bool {
		return strings.Count(d.stderr.String(), "reload refused: the config has problems; the running one is kept") == 2
	})
	for _, want := range []string{"sftp.accounts[0].keys[0]", "sftp.accounts[1]: no way to log in"} {
		if !strings.Contains(d.stderr.String(), want) {
			t.Errorf("the refusal does not name %q:\n%s", want, d.stderr)
		}
	}
	d.sftp("globex", work, "put a.csv")

	// A listen address: read, not applied, said so.
	os.WriteFile(cfg, []byte(strings.Replace(reloadConfig(data, account("globex", keys, "")+account("pw",
		fmt.Sprintf("password_hash_file = %q\n", hashFile), ""), ops.table, ""), "[http]\nlisten = \"127.0.0.1:0\"",
		"[http]\nlisten = \"127.0.0.1:1\"", 1)), 0o600)
	c.want(http.StatusOK, "POST", "/v1/reload", &ops, "", &res)
	if len(res.Restart) != 1 || !strings.Contains(res.Restart[0], "http.listen") {
		t.Fatalf("reload answered %+v", res)
	}
	c.want(http.StatusOK, "GET", "/healthz", nil, "", nil)
	d.stop()
}

// hashPassword runs `muster sftp passwd`.
func hashPassword(t testing.TB, pw string) string {
	t.Helper()
	cmd := exec.Command(binary, "sftp", "passwd")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// httpAddr is the admin API's address in serve.json.
func httpAddr(t testing.TB, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "serve.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		HTTPAddr string `json:"http_addr"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.HTTPAddr == "" {
		t.Fatalf("serve.json: %v %s", err, b)
	}
	return st.HTTPAddr
}
