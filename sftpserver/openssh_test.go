package sftpserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// OpenSSH's sftp in batch mode: put, ls, df, reput, and rename over an
// existing file, every command succeeding (exit 0), each upload announced
// once with its exact bytes.
func TestOpenSSHSftpBatch(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, nil)
	a := csvData("a", 40_000)
	b := csvData("b", 30_000)
	full := csvData("c", 3_000_000)
	half := full[:1_234_567]
	mustFile(t, ts.clientDir, "a.csv", a)
	mustFile(t, ts.clientDir, "b.csv", b)
	mustFile(t, ts.clientDir, "full.csv", full)
	mustFile(t, ts.clientDir, "half.csv", half)

	mtime := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(ts.clientDir, "a.csv"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, `put a.csv
put -p a.csv p.csv
put b.csv
put half.csv c.csv
reput full.csv c.csv
ls -l
ls -l a.csv
df
pwd
rename b.csv a.csv
ls
`)
	if code != 0 {
		t.Fatalf("sftp exit %d:\n%s", code, out)
	}
	for _, want := range []string{"Remote working directory: /", "reports", "Avail"} {
		if !strings.Contains(out, want) {
			t.Errorf("sftp output lacks %q:\n%s", want, out)
		}
	}
	// A listing's long lines and a file's own attributes show the same
	// owner (OpenSSH 9.2 once showed "0 0" for one, "acme acme" for the
	// other).
	owner := fmt.Sprintf(` %d +%d +40\d\d\d .* a\.csv$`, os.Getuid(), os.Getgid())
	if n := len(regexp.MustCompile(`(?m)^-rw.*`+owner).FindAllString(out, -1)); n != 2 {
		t.Errorf("ls -l and ls -l a.csv do not both show a.csv owned by %d %d (%d lines):\n%s", os.Getuid(), os.Getgid(), n, out)
	}
	// In one session: the first a.csv is replaced by the rename of b.csv
	// onto it, the half c.csv by its resumed whole; each is recorded as
	// superseded, and only the final versions are handed over.
	ups := ts.finalUploads()
	if len(ups) != 5 {
		t.Fatalf("got %d announcements, want 5 (a superseded, c half superseded, p, c full, a as b): %+v", len(ups), ups)
	}
	as, cs := byName(ups, "a.csv"), byName(ups, "c.csv")
	if len(as) != 2 || len(cs) != 2 {
		t.Fatalf("a.csv announced %d times, c.csv %d times; want 2 each: %+v", len(as), len(cs), ups)
	}
	checkSuperseded(t, as[0], "a.csv", a)
	checkUpload(t, as[1], "a.csv", b) // b.csv renamed over it
	checkUpload(t, byName(ups, "p.csv")[0], "p.csv", a)
	if fi, err := os.Stat(filepath.Join(ts.inbox(acme), "p.csv")); err != nil || !fi.ModTime().Equal(mtime) {
		t.Errorf("put -p did not keep the time: %v %v", fi.ModTime(), err)
	}
	if bs := byName(ups, "b.csv"); len(bs) != 0 {
		t.Errorf("b.csv announced under its own name, although renamed before it was taken: %+v", bs)
	}
	// Uploads of one name are announced in the order they were committed.
	checkSuperseded(t, cs[0], "c.csv", half)
	checkUpload(t, cs[1], "c.csv", full)
	ts.checkInbox(acme, "a.csv", b) // renamed over
	ts.checkInbox(acme, "c.csv", full)
	if names := ts.inboxNames(acme); strings.Join(names, ",") != "a.csv,c.csv,p.csv" {
		t.Errorf("inbox holds %v, want a.csv, c.csv and p.csv", names)
	}
}

// scp (SFTP protocol, the OpenSSH 9 default) opens without truncating and
// sets the size at the end: a shorter file over a longer one must not keep
// the old tail. scp must exit 0 (it needs the exit status).
func TestOpenSSHScp(t *testing.T) {
	needBinary(t, "scp")
	ts := MustServer(t, nil)
	long := csvData("long", 500_000)
	short := csvData("short", 100_000)
	mustFile(t, ts.clientDir, "long.csv", long)
	mustFile(t, ts.clientDir, "short.csv", short)
	scp := func(src, dst string) {
		t.Helper()
		args := append(ts.sshOpts(ts.acmeKey.private), "-P", ts.port, src, acme+"@127.0.0.1:"+dst)
		if out, code := run(t, ts.clientDir, "scp", args...); code != 0 {
			t.Fatalf("scp %s exit %d:\n%s", src, code, out)
		}
	}
	scp("long.csv", "export.csv")
	ts.waitUploads(1)
	scp("short.csv", "export.csv")
	scp("short.csv", "/other.csv")
	ups := ts.finalUploads()
	if len(ups) != 3 {
		t.Fatalf("got %d announcements, want 3: %+v", len(ups), ups)
	}
	checkUpload(t, ups[0], "export.csv", long)
	ex := byName(ups[1:], "export.csv")
	if len(ex) != 1 {
		t.Fatalf("second export.csv announced %d times", len(ex))
	}
	checkUpload(t, ex[0], "export.csv", short)
	checkUpload(t, byName(ups, "other.csv")[0], "other.csv", short)
	ts.checkInbox(acme, "export.csv", short)
}

// Legacy scp (-O) runs a command over exec: refused with a message and a
// non-zero status, nothing stored.
func TestLegacyScpRefused(t *testing.T) {
	needBinary(t, "scp")
	ts := MustServer(t, nil)
	mustFile(t, ts.clientDir, "x.csv", csvData("x", 1000))
	args := append(ts.sshOpts(ts.acmeKey.private), "-O", "-P", ts.port, "x.csv", acme+"@127.0.0.1:x.csv")
	out, code := run(t, ts.clientDir, "scp", args...)
	if code == 0 || !strings.Contains(out, "only offers SFTP") {
		t.Fatalf("scp -O: exit %d, want non-zero with an explanation:\n%s", code, out)
	}
	if ups := ts.finalUploads(); len(ups) != 0 {
		t.Errorf("announced %+v", ups)
	}
	if names := ts.inboxNames(acme); len(names) != 0 {
		t.Errorf("inbox holds %v", names)
	}
}

// Commands, shells, pty requests and remote forwarding are refused.
func TestOpenSSHRefusesShellExecForwarding(t *testing.T) {
	needBinary(t, "ssh")
	ts := MustServer(t, nil)
	marker := filepath.Join(ts.clientDir, "ran")
	base := append(ts.sshOpts(ts.acmeKey.private), "-p", ts.port)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"exec", []string{acme + "@127.0.0.1", "touch " + marker}, "only offers SFTP"},
		{"shell", []string{"-T", acme + "@127.0.0.1"}, "only offers SFTP"},
		{"pty", []string{"-tt", acme + "@127.0.0.1"}, "PTY allocation request failed"},
		{"remote forward", []string{"-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:0:127.0.0.1:9", acme + "@127.0.0.1"}, "remote port forwarding failed"},
	}
	for _, c := range cases {
		out, code := run(t, ts.clientDir, "ssh", append(append([]string{}, base...), c.args...)...)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want non-zero and %q:\n%s", c.name, code, c.want, out)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a command ran")
	}
}

// Wrong key, unknown account, another account's key: refused.
func TestOpenSSHAuthRefused(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, nil)
	for _, c := range []struct{ name, user, key string }{
		{"wrong key", acme, ts.otherKey.private},
		{"other account's key", acme, ts.globexKey.private},
		{"unknown account", "nobody", ts.acmeKey.private},
	} {
		out, code := ts.sftpBatch(c.user, c.key, "ls\n")
		if code == 0 || !strings.Contains(out, "Permission denied") {
			t.Errorf("%s: exit %d, want a refusal:\n%s", c.name, code, out)
		}
	}
	if st := ts.Stats(); st.AuthSuccesses != 0 || st.AuthFailures < 3 {
		t.Errorf("stats %+v: want no success and at least 3 failures", st)
	}
}

// A file over the account's limit is refused and leaves nothing behind.
func TestOpenSSHSizeLimit(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, func(c *Config) { c.Accounts[0].MaxFileSize = 100_000 })
	mustFile(t, ts.clientDir, "big.csv", csvData("big", 300_000))
	mustFile(t, ts.clientDir, "ok.csv", csvData("ok", 50_000))
	// OpenSSH shows only the status code ("Failure"), not the server's
	// message, which the log carries.
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, "put big.csv\n")
	if code == 0 || !strings.Contains(out, "Failure") || !strings.Contains(ts.logs.String(), "file too large") {
		t.Fatalf("put over the limit: exit %d:\n%s", code, out)
	}
	if out, code := ts.sftpBatch(acme, ts.acmeKey.private, "put ok.csv\n"); code != 0 {
		t.Fatalf("put under the limit: exit %d:\n%s", code, out)
	}
	ups := ts.finalUploads()
	if len(ups) != 1 || ups[0].Name != "ok.csv" {
		t.Errorf("announced %+v, want only ok.csv", ups)
	}
	if names := ts.inboxNames(acme); strings.Join(names, ",") != "ok.csv" {
		t.Errorf("inbox holds %v", names)
	}
	if st := ts.Stats(); st.RefusedUploads != 1 {
		t.Errorf("RefusedUploads = %d, want 1", st.RefusedUploads)
	}
}

// A client killed in the middle of an upload (SIGKILL, no goodbye) leaves
// nothing announced and nothing in the inbox.
func TestOpenSSHKilledMidUpload(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, nil)
	mustFile(t, ts.clientDir, "big.csv", csvData("big", 8_000_000))
	batch := filepath.Join(ts.clientDir, "batch")
	if err := os.WriteFile(batch, []byte("put big.csv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// -l limits the client to 4 Mbit/s so it is surely still sending when
	// killed; the kill happens once the server has received data.
	args := append(ts.sshOpts(ts.acmeKey.private), "-l", "4000", "-P", ts.port, "-b", batch, acme+"@127.0.0.1")
	cmd := exec.Command("sftp", args...)
	cmd.Dir = ts.clientDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kill ssh too
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ts.Stats().BytesReceived == 0; i++ {
		if i > 60_000 {
			t.Fatal("no bytes received")
		}
		time.Sleep(time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	ups := ts.finalUploads()
	if len(ups) != 0 {
		t.Errorf("announced %+v", ups)
	}
	if names := ts.inboxNames(acme); len(names) != 0 {
		t.Errorf("inbox holds %v", names)
	}
	if st := ts.Stats(); st.AbortedUploads != 1 {
		t.Errorf("AbortedUploads = %d, want 1", st.AbortedUploads)
	}
	staging, _ := os.ReadDir(filepath.Join(ts.dir, "home", "default", acme, stagingDir))
	if len(staging) != 0 {
		t.Errorf("staging not cleaned: %d files", len(staging))
	}
}

// ssh -L: the client listens locally and asks the server to connect on
// for each connection it accepts; the server refuses every such channel.
func TestOpenSSHLocalForwardRefused(t *testing.T) {
	needBinary(t, "ssh")
	ts := MustServer(t, nil)
	target, err := net.Listen("tcp", "127.0.0.1:0") // what the tunnel would reach
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	local := free.Addr().String()
	free.Close()
	args := append(ts.sshOpts(ts.acmeKey.private), "-p", ts.port, "-N",
		"-L", local+":"+target.Addr().String(), acme+"@127.0.0.1")
	cmd := exec.Command("ssh", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var c net.Conn
	for i := 0; ; i++ { // until ssh listens on the local end
		if c, err = net.Dial("tcp", local); err == nil {
			break
		}
		if i > 30_000 {
			t.Fatalf("ssh -L never listened: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	defer c.Close()
	// The refused channel makes ssh close the local connection: the read
	// ends without data, and nothing reached the target.
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	if n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("read through the tunnel: %d bytes, %v; want it closed", n, err)
	}
	_ = target.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Millisecond))
	if tc, err := target.Accept(); err == nil {
		tc.Close()
		t.Errorf("the forwarded connection reached its target")
	}
	if !strings.Contains(ts.logs.String(), `msg="channel refused" component=sftp`) ||
		!strings.Contains(ts.logs.String(), "type=direct-tcpip") {
		t.Errorf("the refusal was not logged")
	}
}

// Uploads stop while the disk is short of space: a new one is refused
// before anything is written, one in progress fails when the next check
// finds the space gone, and neither is announced or left in the inbox or
// the staging area. With space again, uploads go through.
func TestShortOfDiskSpace(t *testing.T) {
	needBinary(t, "sftp")
	// free is the space reported; after lowAfter checks (when set) it
	// reports 1 MiB.
	var free, checks, lowAfter atomic.Int64
	free.Store(1 << 40)
	ts := MustServer(t, func(c *Config) {
		c.MinFreeSpace = 1 << 30
		c.spaceStep = 64 << 10
		c.freeSpace = func(string) (int64, error) {
			if n := checks.Add(1); lowAfter.Load() > 0 && n > lowAfter.Load() {
				return 1 << 20, nil
			}
			return free.Load(), nil
		}
	})
	mustFile(t, ts.clientDir, "small.csv", csvData("small", 10_000))
	mustFile(t, ts.clientDir, "big.csv", csvData("big", 2_000_000))

	free.Store(1 << 29)
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, "put small.csv\n")
	if code == 0 || !strings.Contains(ts.logs.String(), "short of disk space") {
		t.Fatalf("put while short of space: exit %d:\n%s", code, out)
	}

	// Space runs out after the first checks of the big upload.
	free.Store(1 << 40)
	checks.Store(0)
	lowAfter.Store(3)
	if out, code := ts.sftpBatch(acme, ts.acmeKey.private, "put big.csv\n"); code == 0 {
		t.Fatalf("put while space runs out: exit 0:\n%s", out)
	}
	if n := checks.Load(); n < 4 {
		t.Fatalf("free space checked %d times during a 2 MB upload, want it checked as the file grows", n)
	}

	lowAfter.Store(0)
	if out, code := ts.sftpBatch(acme, ts.acmeKey.private, "put small.csv\n"); code != 0 {
		t.Fatalf("put with space again: exit %d:\n%s", code, out)
	}
	ups := ts.finalUploads()
	if len(ups) != 1 || ups[0].Name != "small.csv" {
		t.Errorf("announced %+v, want only the last small.csv", ups)
	}
	if names := ts.inboxNames(acme); strings.Join(names, ",") != "small.csv" {
		t.Errorf("inbox holds %v", names)
	}
	staged, err := os.ReadDir(filepath.Join(ts.dir, "home", "default", acme, stagingDir))
	if err != nil || len(staged) != 0 {
		t.Errorf("staging area holds %d files (%v)", len(staged), err)
	}
}

// A client refused by the account's allow_networks is told why, not only
// "Permission denied": OpenSSH's sftp prints the server's banner.
func TestOpenSSHToldWhyAllowNetworksRefuses(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, func(c *Config) { c.Accounts[0].AllowedNetworks = []string{"192.0.2.0/24"} })
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, "ls\n", "-verbose") // the client's default log level
	if code == 0 || !strings.Contains(out, `muster: account "`+acme+`" may not log in from 127.0.0.1: it is not in the account's allow_networks.`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// Each ban is told to Config.OnBan as it is made (the daemon's
// notifications), with the account and its organisation.
func TestOnBanIsToldOfEachBan(t *testing.T) {
	var mu sync.Mutex
	var bans []Ban
	ts := MustServer(t, func(c *Config) {
		c.FailDelay = time.Millisecond
		c.OnBan = func(b Ban) { mu.Lock(); bans = append(bans, b); mu.Unlock() }
	})
	for i := 0; i < 20; i++ {
		ts.sftpClient(acme, ssh.Password("wrong")) // fails
		mu.Lock()
		n := len(bans)
		mu.Unlock()
		if n > 0 {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bans) != 1 || bans[0].Address != "127.0.0.1" || bans[0].Account != acme || bans[0].Org == "" {
		t.Fatalf("bans told: %+v", bans)
	}
}
