package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestSftpBansFairListLiftRestart: one account's failing passwords ban that
// account from the address, not another account's key login from the same
// address; `muster sftp bans` and GET /v1/sftp/bans list the ban; a restart
// keeps it; DELETE /v1/sftp/bans/ADDR and `muster sftp bans lift` lift it,
// and the running daemon lets the account in again.
func TestSftpBansFairListLiftRestart(t *testing.T) {
	needSFTP(t)
	data, work := t.TempDir(), t.TempDir()
	pub, _ := os.ReadFile(keyFile + ".pub")
	hashCmd := exec.Command(binary, "sftp", "passwd")
	hashCmd.Stdin = strings.NewReader("s3cret-pw\n")
	hash, err := hashCmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	ops := mustToken(t, "ops", "*", "admin")
	viewer := mustToken(t, "hr-viewer", "default", "viewer")
	cfg := fmt.Sprintf(`[sftp]
listen = "127.0.0.1:0"
ban_threshold = 3
[[sources]]
name = "pw"
kind = "sftp"
[[sources]]
name = "key"
kind = "sftp"
[[sftp.accounts]]
name = "pw"
source = "pw"
password_hash_env = "PW_HASH"
[[sftp.accounts]]
name = "key"
source = "key"
keys = [%q]
[http]
listen = "127.0.0.1:0"
%s
%s
`, strings.TrimSpace(string(pub)), ops.table, viewer.table)
	p := filepath.Join(work, "muster.toml")
	os.WriteFile(p, []byte(cfg), 0o600)
	env := []string{"PW_HASH=" + strings.TrimSpace(string(hash))}
	d := MustServe(t, data, work, env, "-config", p)
	api := apiClient(t, data)

	for range 3 {
		if err := passwordLogin(d, "pw", "wrong"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	if err := passwordLogin(d, "pw", "s3cret-pw"); err == nil {
		t.Fatal("the banned account logged in with its right password")
	}
	// Another account's key login from the same address is not refused.
	d.sftp("key", work, "ls")

	listed := muster(t, "sftp", "bans", "-data", data)
	if !strings.Contains(listed, "127.0.0.1") || !strings.Contains(listed, "pw") || !strings.Contains(listed, "repeated login failures") {
		t.Fatalf("muster sftp bans:\n%s", listed)
	}
	t.Logf("muster sftp bans:\n%s", listed)
	var got struct {
		Bans []struct{ Address, Account, Org string } `json:"bans"`
	}
	api.want(200, "GET", "/v1/sftp/bans", &viewer, "", &got)
	if len(got.Bans) != 1 || got.Bans[0].Account != "pw" || got.Bans[0].Org != "default" {
		t.Fatalf("GET /v1/sftp/bans as the organisation's viewer: %+v", got)
	}
	api.want(403, "DELETE", "/v1/sftp/bans/127.0.0.1", &viewer, "", nil)

	// A restart keeps the ban.
	d.stop()
	d = MustServe(t, data, work, env, "-config", p)
	api = apiClient(t, data)
	if err := passwordLogin(d, "pw", "s3cret-pw"); err == nil {
		t.Fatal("the ban was forgotten by a restart")
	}
	api.want(404, "DELETE", "/v1/sftp/bans/127.0.0.2", &ops, "", nil)
	var lifted struct {
		Lifted []struct{ Address, Account string } `json:"lifted"`
	}
	api.want(200, "DELETE", "/v1/sftp/bans/127.0.0.1?account=pw", &ops, "", &lifted)
	if len(lifted.Lifted) != 1 {
		t.Fatalf("lifted %+v", lifted)
	}
	if err := passwordLogin(d, "pw", "s3cret-pw"); err != nil {
		t.Fatalf("after the API lifted the ban: %v", err)
	}

	// Banned again, lifted by the command line while the daemon runs.
	for range 3 {
		passwordLogin(d, "pw", "wrong")
	}
	if err := passwordLogin(d, "pw", "s3cret-pw"); err == nil {
		t.Fatal("not banned again")
	}
	out := muster(t, "sftp", "bans", "lift", "-data", data, "127.0.0.1", "pw")
	if !strings.Contains(out, "lifted") {
		t.Fatalf("muster sftp bans lift:\n%s", out)
	}
	waitFor(t, "the daemon to see the lift", func() bool { return passwordLogin(d, "pw", "s3cret-pw") == nil })
	if out := muster(t, "sftp", "bans", "-data", data); !strings.Contains(out, "no bans") {
		t.Errorf("after the lift:\n%s", out)
	}
}

// apiClient is a client of the daemon's admin API, found in serve.json.
func apiClient(t *testing.T, data string) *client {
	t.Helper()
	var st struct {
		HTTPAddr string `json:"http_addr"`
	}
	b, _ := os.ReadFile(filepath.Join(data, "serve.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.HTTPAddr == "" {
		t.Fatalf("serve.json has no http_addr: %s", b)
	}
	return &client{t: t, base: "http://" + st.HTTPAddr}
}

// passwordLogin logs in with a password (x/crypto's client; OpenSSH's
// needs a terminal for passwords) and runs nothing.
func passwordLogin(d *daemon, user, password string) error {
	c, err := ssh.Dial("tcp", "127.0.0.1:"+d.port(), &ssh.ClientConfig{User: user,
		Auth: []ssh.AuthMethod{ssh.Password(password)}, Timeout: 30 * time.Second,
		HostKeyCallback: func(string, net.Addr, ssh.PublicKey) error { return nil }})
	if err != nil {
		return err
	}
	return c.Close()
}
