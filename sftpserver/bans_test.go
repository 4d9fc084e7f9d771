package sftpserver

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Failures are counted per address and account, in a window: one
// account's failures never ban another, unknown accounts count twice
// against the address, whose own ban needs a much higher score.
func TestDefenderFairness(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	lim, err := compileLimits(Limits{BanThreshold: 5, BanAddressThreshold: 20, BanWindow: 10 * time.Minute,
		BanDuration: time.Hour, Safelist: []string{"198.51.100.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	d := newDefender("", func() *limits { return lim }, func() time.Time { return now })
	ip := netip.MustParseAddr("192.0.2.1")
	for i := range 4 {
		if _, banned := d.fail(ip, "acme", "default", true); banned {
			t.Fatalf("banned after %d failures", i+1)
		}
	}
	now = now.Add(11 * time.Minute) // the early failures leave the window
	d.fail(ip, "acme", "default", true)
	if got := d.scoreOf(ip, "acme"); got != 1 {
		t.Fatalf("score %d after the window moved, want 1", got)
	}
	for range 4 {
		d.fail(ip, "acme", "default", true)
	}
	if _, ok := d.bannedLogin(ip, "acme"); !ok {
		t.Fatalf("acme not banned at 5 failures")
	}
	if _, ok := d.bannedLogin(ip, "globex"); ok {
		t.Errorf("globex banned for acme's failures")
	}
	if _, ok := d.bannedAddr(ip); ok {
		t.Errorf("the address banned for one account's failures")
	}
	// Many accounts failing from one address: each is banned on its own
	// account, the address never.
	for _, a := range []string{"a1", "a2", "a3", "a4", "a5", "a6"} {
		for range 5 {
			d.fail(ip, a, "default", true)
		}
	}
	if _, ok := d.bannedAddr(ip); ok {
		t.Errorf("the address banned for known accounts' failures")
	}
	// Unknown accounts: 2 points each against the address.
	for i := range 9 {
		if _, banned := d.fail(ip, "root", "", false); banned {
			t.Fatalf("address banned after %d unknown-account attempts", i+1)
		}
	}
	if b, banned := d.fail(ip, "admin", "", false); !banned || b.Account != "" {
		t.Fatalf("address not banned at 20 points: %+v", b)
	}
	if _, ok := d.bannedLogin(ip, "globex"); !ok {
		t.Errorf("an address ban does not refuse every account")
	}
	safe := netip.MustParseAddr("198.51.100.7")
	for range 50 {
		d.fail(safe, "acme", "default", true)
		d.fail(safe, "root", "", false)
	}
	if _, ok := d.bannedLogin(safe, "acme"); ok {
		t.Errorf("a safelisted address was banned")
	}
	now = now.Add(2 * time.Hour)
	if _, ok := d.bannedLogin(ip, "acme"); ok {
		t.Errorf("still banned after the ban ran out")
	}
	d.prune()
	if len(d.scores) != 0 || len(d.bans) != 0 {
		t.Errorf("prune kept %d scores and %d bans", len(d.scores), len(d.bans))
	}
}

// Attempts at unknown accounts ban the address: its next connection is
// refused before any key exchange, and OpenSSH's client shows the reason
// it was sent (SSH disconnect).
func TestAddressBanToldAtConnect(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, func(c *Config) { c.BanAddressThreshold = 4 })
	for _, user := range []string{"root", "admin"} {
		if _, err := ts.sftpClient(user, ssh.Password("guess")); err == nil {
			t.Fatalf("unknown account %s logged in", user)
		}
	}
	ts.waitFor("the ban", func() bool { return ts.Stats().Bans == 1 })
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, "ls\n", "-verbose")
	if code == 0 {
		t.Fatalf("banned address logged in:\n%s", out)
	}
	if !strings.Contains(out, "Received disconnect") || !strings.Contains(out, "address banned until") {
		t.Errorf("the client was not told why:\n%s", out)
	}
	if st := ts.Stats(); st.Refused != 1 {
		t.Errorf("refused %d connections, want 1", st.Refused)
	}
}

// Bans are kept in files under Dir: a restart keeps them, ListBans lists
// them and LiftBans (another process: `muster sftp bans lift`) lifts one,
// which the running server sees.
func TestBansSurviveRestartAndLift(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	edit := func(c *Config) {
		c.BanThreshold = 2
		c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	}
	ts := MustServer(t, edit)
	for range 2 {
		if _, err := ts.sftpClient(acme, ssh.Password("wrong")); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	if b := ts.Bans(); len(b) != 1 || b[0].Account != acme {
		t.Fatalf("bans %+v", b)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	// The same Dir, a new server: acme is still banned from here.
	ts2 := MustServer(t, func(c *Config) { edit(c); c.Dir = ts.dir })
	ts2.acmeKey = ts.acmeKey
	if _, err := ts2.sftpClient(acme, ssh.Password(testPassword)); err == nil {
		t.Fatal("the ban was forgotten by a restart")
	}
	listed, err := ListBans(ts.dir)
	if err != nil || len(listed) != 1 || listed[0].Address != "127.0.0.1" || listed[0].Account != acme {
		t.Fatalf("ListBans: %+v, %v", listed, err)
	}
	if _, err := LiftBans(ts.dir, "not-an-address", "*"); err == nil {
		t.Errorf("LiftBans accepted a bad address")
	}
	lifted, err := LiftBans(ts.dir, "127.0.0.1", acme)
	if err != nil || len(lifted) != 1 {
		t.Fatalf("LiftBans: %+v, %v", lifted, err)
	}
	ts2.waitFor("the running server to see the lift", func() bool { return len(ts2.Bans()) == 0 })
	if _, err := ts2.sftpClient(acme, ssh.Password(testPassword)); err != nil {
		t.Fatalf("after the lift: %v", err)
	}
}

// A connection over a limit is refused with the reason, which OpenSSH's
// client shows; a burst of refusals is logged once.
func TestLimitRefusalTold(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, func(c *Config) { c.MaxConnsPerAddr = 1 })
	first := ts.mustSftp()
	for range 3 {
		out, code := ts.sftpBatch(acme, ts.acmeKey.private, "ls\n", "-verbose")
		if code == 0 {
			t.Fatalf("a second connection from the address was allowed:\n%s", out)
		}
		if !strings.Contains(out, "too many connections from your address (limit 1)") {
			t.Errorf("the client was not told why:\n%s", out)
		}
	}
	if n := strings.Count(ts.logs.String(), `msg="connection refused"`); n != 1 {
		t.Errorf("3 refusals logged %d times, want once", n)
	}
	if _, err := first.Getwd(); err != nil {
		t.Errorf("the first session broke: %v", err)
	}
	// Safelisted, the address is not limited.
	if err := ts.Reload(ts.cfg.Accounts, Limits{MaxConnsPerAddr: 1, Safelist: []string{"127.0.0.0/8"}}); err != nil {
		t.Fatal(err)
	}
	if out, code := ts.sftpBatch(acme, ts.acmeKey.private, "ls\n"); code != 0 {
		t.Errorf("safelisted address refused: exit %d\n%s", code, out)
	}
}

// An account over its sessions limit is refused at login and told why.
func TestSessionLimitTold(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, func(c *Config) { c.MaxSessionsPerAccount = 1 })
	first := ts.mustSftp()
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, "ls\n", "-verbose")
	if code == 0 {
		t.Fatalf("a second session was allowed:\n%s", out)
	}
	if !strings.Contains(out, `account "acme" has too many sessions open (limit 1)`) {
		t.Errorf("the client was not told why:\n%s", out)
	}
	if ts.def.scoreOf(netip.MustParseAddr("127.0.0.1"), acme) != 0 {
		t.Errorf("a refusal for a limit scored as a failed login")
	}
	first.Close()
}

// Reload swaps accounts, keys, passwords and limits at run time: a session
// logged in with a key that was removed, or with a password that changed,
// is ended; others go on; new logins and connections obey the new values.
func TestReload(t *testing.T) {
	ts := MustServer(t, nil)
	keyA2 := MustKey(t, ts.clientDir, "acme2_key")
	cfg := ts.cfg.Accounts
	cfg[0].AuthorizedKeys = []string{ts.acmeKey.public, keyA2.public}
	if err := ts.Reload(cfg, Limits{}); err != nil {
		t.Fatal(err)
	}
	byOldKey := ts.mustSftp()
	byNewKey, err := ts.sftpClient(acme, ssh.PublicKeys(keyA2.signer))
	if err != nil {
		t.Fatal(err)
	}
	byPassword, err := ts.sftpClient(acme, ssh.Password(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	g, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Reload(cfg, Limits{MaxConns: -1}); err == nil {
		t.Fatal("invalid limits accepted")
	}
	newHash, err := HashPassword("another password")
	if err != nil {
		t.Fatal(err)
	}
	cfg = []Account{
		{Name: acme, Source: "hris", AuthorizedKeys: []string{keyA2.public}, PasswordHash: newHash},
		ts.cfg.Accounts[1],
	}
	if err := ts.Reload(cfg, Limits{MaxSessionsPerAccount: 2}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]interface{ Wait() error }{"old key": byOldKey, "old password": byPassword} {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("the session logged in with the %s is still open", name)
		}
	}
	for name, c := range map[string]interface{ Getwd() (string, error) }{"new key": byNewKey, "other account": g} {
		if _, err := c.Getwd(); err != nil {
			t.Errorf("the session logged in with the %s was ended: %v", name, err)
		}
	}
	if _, err := ts.sftpClient(acme, ssh.PublicKeys(ts.acmeKey.signer)); err == nil {
		t.Errorf("the removed key logs in")
	}
	if _, err := ts.sftpClient(acme, ssh.Password("another password")); err != nil {
		t.Errorf("the new password: %v", err)
	}
	// The new limit: acme holds 2 sessions now (new key, new password).
	if _, err := ts.sftpClient(acme, ssh.PublicKeys(keyA2.signer)); err == nil {
		t.Errorf("a third session was allowed under the new limit of 2")
	}
	if !strings.Contains(ts.logs.String(), "the key it logged in with was removed") {
		t.Errorf("the reason for closing was not logged")
	}
}
