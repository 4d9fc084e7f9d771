package sftpserver

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// An account that keeps failing from an address is banned from it: even
// its right key is then refused, and told why, until the ban runs out.
// Another account logging in from the same address is not affected.
func TestBanAfterRepeatedFailures(t *testing.T) {
	needBinary(t, "sftp")
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	ts := MustServer(t, func(c *Config) {
		c.BanThreshold = 3
		c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	for i := range 3 {
		if out, code := ts.sftpBatch(acme, ts.otherKey.private, "ls\n"); code == 0 {
			t.Fatalf("attempt %d with the wrong key logged in:\n%s", i, out)
		}
	}
	// A failed connection is scored when the server sees it end, which can
	// be just after the client has exited.
	ts.waitFor("the ban", func() bool { return ts.Stats().Bans == 1 })
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, "ls\n", "-verbose")
	if code == 0 {
		t.Fatalf("banned account logged in:\n%s", out)
	}
	if !strings.Contains(out, `logins to "acme" from your address are refused until`) {
		t.Errorf("the client was not told why:\n%s", out)
	}
	if _, err := ts.sftpClient(acme, ssh.Password(testPassword)); err == nil {
		t.Fatalf("banned account logged in with a password")
	}
	if out, code := ts.sftpBatch(globex, ts.globexKey.private, "ls\n"); code != 0 {
		t.Fatalf("another account's key login from the same address: exit %d\n%s", code, out)
	}
	st := ts.Stats()
	if st.Bans != 1 || st.AuthSuccesses != 1 {
		t.Errorf("stats %+v: want 1 ban, globex's login only", st)
	}
	if !strings.Contains(ts.logs.String(), `msg="account banned from this address"`) {
		t.Errorf("the ban was not logged")
	}
	bans := ts.Bans()
	if len(bans) != 1 || bans[0].Account != acme || bans[0].Address != "127.0.0.1" || bans[0].Org != "default" {
		t.Errorf("bans %+v, want acme from 127.0.0.1", bans)
	}
	clock.Add(int64(ts.cfg.BanDuration + time.Second))
	if out, code := ts.sftpBatch(acme, ts.acmeKey.private, "ls\n"); code != 0 {
		t.Fatalf("after the ban: exit %d:\n%s", code, out)
	}
}

// Connections per address and logged-in sessions per account are capped.
func TestConnectionLimits(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.MaxSessionsPerAccount = 1; c.MaxConnsPerAddr = 2 })
	first := ts.mustSftp()
	if _, err := ts.sftpClient(acme, ssh.PublicKeys(ts.acmeKey.signer)); err == nil {
		t.Errorf("a second session for the account was allowed")
	}
	// globex may still log in: the limit is per account. (Wait for the
	// refused connection to be released first: it counts for the address.)
	ts.waitFor("the refused connection to close", func() bool { return ts.Stats().ActiveConnections == 1 })
	g, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer))
	if err != nil {
		t.Fatalf("other account: %v", err)
	}
	// Two connections are open from 127.0.0.1 now: a third is turned away.
	if _, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer)); err == nil {
		t.Errorf("a third connection from the address was allowed")
	}
	if _, err := first.Getwd(); err != nil {
		t.Errorf("the first session broke: %v", err)
	}
	g.Close()
}

// A connection with no SFTP traffic for IdleTimeout is closed.
func TestIdleTimeout(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond; c.KeepAliveInterval = 50 * time.Millisecond })
	c := ts.mustSftp()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("idle connection was not closed")
	}
	if !strings.Contains(ts.logs.String(), "closing idle connection") {
		t.Errorf("not logged")
	}
}

// Host keys are made on first start, reused afterwards, and a damaged key
// file stops the start instead of being replaced.
func TestHostKeys(t *testing.T) {
	dir := t.TempDir()
	_, first, err := loadHostKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || first[0].Type != ssh.KeyAlgoED25519 || first[1].Type != ssh.KeyAlgoRSA {
		t.Fatalf("host keys %+v, want ed25519 and RSA", first)
	}
	signers, again, err := loadHostKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if first[i].Fingerprint != again[i].Fingerprint {
			t.Errorf("key %d changed on reload", i)
		}
	}
	if bits := signers[1].PublicKey().(ssh.CryptoPublicKey).CryptoPublicKey().(interface{ Size() int }).Size() * 8; bits != 3072 {
		t.Errorf("RSA host key has %d bits, want 3072", bits)
	}
	fi, err := os.Stat(filepath.Join(dir, "hostkeys", "ssh_host_ed25519_key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v (%v), want 0600", fi.Mode(), err)
	}
	// The RSA key never signs with SHA-1.
	if _, err := signers[1].(ssh.AlgorithmSigner).SignWithAlgorithm(nil, []byte("x"), ssh.KeyAlgoRSA); err == nil {
		t.Errorf("RSA host key signs with ssh-rsa (SHA-1)")
	}
	if err := os.WriteFile(filepath.Join(dir, "hostkeys", "ssh_host_rsa_key"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadHostKeys(dir); err == nil {
		t.Errorf("a damaged key file was accepted")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hostkeys", "ssh_host_rsa_key")); string(b) != "garbage" {
		t.Errorf("the damaged key file was replaced")
	}
}

// Replacing the accounts at runtime takes effect for new logins and closes
// sessions of removed accounts.
func TestSetAccounts(t *testing.T) {
	ts := MustServer(t, nil)
	g, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.SetAccounts([]Account{{Name: "", Source: "x"}}); err == nil {
		t.Fatalf("an invalid list was accepted")
	}
	newKey := MustKey(t, ts.clientDir, "new_key")
	err = ts.SetAccounts([]Account{
		{Name: acme, Source: "hris", AuthorizedKeys: []string{newKey.public}},
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { _ = g.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("the session of the removed account is still open")
	}
	if _, err := ts.sftpClient(acme, ssh.PublicKeys(ts.acmeKey.signer)); err == nil {
		t.Errorf("the replaced key still logs in")
	}
	if _, err := ts.sftpClient(acme, ssh.PublicKeys(newKey.signer)); err != nil {
		t.Errorf("the new key: %v", err)
	}
	if _, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer)); err == nil {
		t.Errorf("a removed account logs in")
	}
}

// An account limited to other networks cannot log in from here, even with
// its key.
func TestAllowedNetworksRefuseLogin(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.Accounts[1].AllowedNetworks = []string{"192.0.2.0/24"} })
	if _, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer)); err == nil {
		t.Fatalf("logged in from outside the allowed networks")
	}
	if !strings.Contains(ts.logs.String(), "address not allowed") {
		t.Errorf("the reason was not logged")
	}
	if _, err := ts.sftpClient(acme, ssh.PublicKeys(ts.acmeKey.signer)); err != nil {
		t.Errorf("an account without the limit: %v", err)
	}
}

// A connection that never completes the handshake is dropped at the
// deadline.
func TestHandshakeTimeout(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	// The server sends its version line, then must hang up on us.
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// The start logs the host key fingerprints, and an upload is logged, once
// the pipeline has taken it, with its account, name, size, hash, duration,
// outcome and drop.
func TestLogs(t *testing.T) {
	ts := MustServer(t, nil)
	c := ts.mustSftp()
	data := csvData("log", 5000)
	writeFile(t, c, "/logged.csv", data, create)
	c.Close()
	ts.waitUploads(1)
	logs := ts.logs.String()
	for _, hk := range ts.HostKeys() {
		if !strings.Contains(logs, "fingerprint="+hk.Fingerprint) {
			t.Errorf("fingerprint %s not logged", hk.Fingerprint)
		}
	}
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "msg=upload ") {
			line = l
		}
	}
	for _, part := range []string{"account=acme", "org=default", "name=logged.csv", fmt.Sprintf("bytes=%d", len(data)),
		"sha256=" + sum(data), "duration=", "outcome=committed", "drop=1", "decision=applied"} {
		if !strings.Contains(line, part) {
			t.Errorf("upload log line %q lacks %q", line, part)
		}
	}
}

// Temporary files nobody came back for are deleted after TempMaxAge;
// normal files stay.
func TestStaleTempFilesSwept(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.TempMaxAge = time.Nanosecond })
	inbox := ts.inbox(acme)
	mustFile(t, inbox, "x.csv.filepart", []byte("half"))
	mustFile(t, inbox, "y.csv", []byte("whole"))
	ts.sweepTemp()
	if names := ts.inboxNames(acme); strings.Join(names, ",") != "y.csv" {
		t.Errorf("inbox after sweep: %v, want only y.csv", names)
	}
}
