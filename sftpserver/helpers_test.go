package sftpserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Test accounts: acme (default organisation, key and password) and globex
// (its own organisation, key only).
const (
	testPassword = "correct horse battery staple"
	acme         = "acme"
	globex       = "globex"
)

var testPasswordHash = func() string {
	h, err := HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
}()

// testKey is a client key pair, with the private key also on disk for the
// command-line clients.
type testKey struct {
	signer  ssh.Signer
	public  string // authorized_keys line
	private string // path of the OpenSSH private key file
}

// MustKey makes an ed25519 key pair and writes its private half into dir.
func MustKey(t testing.TB, dir, name string) testKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	if err := os.WriteFile(p+".pub", []byte(pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return testKey{signer: signer, public: pub, private: p}
}

// testServer is a running Server on 127.0.0.1:0 with two accounts, keys
// for them, a known_hosts file, and every announced upload recorded.
type testServer struct {
	*Server
	t          testing.TB
	dir        string // the server's Dir
	clientDir  string // client-side files
	port       string
	knownHosts string
	acmeKey    testKey
	globexKey  testKey
	otherKey   testKey // authorized nowhere
	logs       *syncBuffer

	mu      sync.Mutex
	uploads []Upload
	changed chan struct{}
}

// MustServer starts a server for the test; edit may change the config
// before it starts. The server is closed when the test ends.
func MustServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir(), clientDir: t.TempDir(), logs: &syncBuffer{},
		changed: make(chan struct{}, 1)}
	ts.acmeKey = MustKey(t, ts.clientDir, "acme_key")
	ts.globexKey = MustKey(t, ts.clientDir, "globex_key")
	ts.otherKey = MustKey(t, ts.clientDir, "other_key")
	cfg := Config{
		Addr: "127.0.0.1:0",
		Dir:  ts.dir,
		Accounts: []Account{
			{Name: acme, Source: "hris", AuthorizedKeys: []string{ts.acmeKey.public}, PasswordHash: testPasswordHash},
			{Name: globex, Org: "globex", Source: "workday", AuthorizedKeys: []string{ts.globexKey.public}},
		},
		Logger:    slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		FailDelay: time.Millisecond,
		OnUpload: func(u Upload) {
			ts.mu.Lock()
			ts.uploads = append(ts.uploads, u)
			n := len(ts.uploads)
			ts.mu.Unlock()
			// As the pipeline does once the upload's drop is decided.
			u.Taken(int64(n), "applied")
			select {
			case ts.changed <- struct{}{}:
			default:
			}
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	copyHostKeys(t, filepath.Join(ts.dir, "hostkeys"))
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Open(); err != nil {
		t.Fatalf("Open: %v", err)
	}
	ts.Server = srv
	_, ts.port, _ = net.SplitHostPort(srv.Addr().String())
	var kh strings.Builder
	for _, hk := range srv.HostKeys() {
		fmt.Fprintf(&kh, "[127.0.0.1]:%s %s\n", ts.port, hk.AuthorizedKey)
	}
	ts.knownHosts = filepath.Join(ts.clientDir, "known_hosts")
	if err := os.WriteFile(ts.knownHosts, []byte(kh.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs.String())
		}
	})
	return ts
}

// sharedHostKeys are made once per test binary: an RSA 3072 key takes a
// second to generate, every server needs one, and TestHostKeys covers the
// generation itself.
var sharedHostKeys struct {
	once sync.Once
	dir  string
	err  error
}

func copyHostKeys(t testing.TB, dst string) {
	t.Helper()
	k := &sharedHostKeys
	k.once.Do(func() {
		k.dir, k.err = os.MkdirTemp("", "muster-hostkeys-")
		if k.err == nil {
			_, _, k.err = loadHostKeys(k.dir)
		}
	})
	if k.err != nil {
		t.Fatal(k.err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, hk := range hostKeyFiles {
		b, err := os.ReadFile(filepath.Join(k.dir, "hostkeys", hk.file))
		if err == nil {
			err = os.WriteFile(filepath.Join(dst, hk.file), b, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitUploads waits until at least n uploads were announced and returns
// them. The deadline only keeps a broken test from hanging.
func (ts *testServer) waitUploads(n int) []Upload {
	ts.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		ts.mu.Lock()
		got := append([]Upload(nil), ts.uploads...)
		ts.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-ts.changed:
		case <-deadline:
			ts.t.Fatalf("waited for %d uploads, got %d: %+v", n, len(got), got)
		}
	}
}

// waitFor polls cond until it holds: for server-side bookkeeping that
// finishes just after a client has gone. The deadline only keeps a broken
// test from hanging.
func (ts *testServer) waitFor(what string, cond func() bool) {
	ts.t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > 60*time.Second {
			ts.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// finalUploads closes the server, which waits for every connection and
// announcement, and returns everything announced.
func (ts *testServer) finalUploads() []Upload {
	ts.t.Helper()
	if err := ts.Close(); err != nil {
		ts.t.Fatalf("Close: %v", err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]Upload(nil), ts.uploads...)
}

// inbox returns the host path of an account's inbox.
func (ts *testServer) inbox(account string) string {
	ts.t.Helper()
	p, err := ts.InboxDir(account)
	if err != nil {
		ts.t.Fatal(err)
	}
	return p
}

// sshOpts are the OpenSSH client options for logging in with key.
func (ts *testServer) sshOpts(key string) []string {
	return append(ts.sshOptsVerbose(key), "-o", "LogLevel=ERROR")
}

// sshOptsVerbose are sshOpts that keep what the client tells (the server's
// banners and disconnect reasons, at its default log level).
func (ts *testServer) sshOptsVerbose(key string) []string {
	return []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=yes",
		"-o", "UserKnownHostsFile=" + ts.knownHosts, "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes", "-i", key}
}

// sftpBatch runs OpenSSH's sftp with a batch script as account.
func (ts *testServer) sftpBatch(account, key, script string, extra ...string) (string, int) {
	ts.t.Helper()
	batch := filepath.Join(ts.clientDir, "batch")
	if err := os.WriteFile(batch, []byte(script), 0o644); err != nil {
		ts.t.Fatal(err)
	}
	opts := ts.sshOpts(key)
	if len(extra) > 0 && extra[0] == "-verbose" {
		opts, extra = ts.sshOptsVerbose(key), extra[1:]
	}
	args := append(opts, "-P", ts.port, "-b", batch)
	args = append(args, extra...)
	return run(ts.t, ts.clientDir, "sftp", append(args, account+"@127.0.0.1")...)
}

// sftpClient logs in with x/crypto's client and pkg/sftp's, as WinSCP-like
// programs and the other tests need.
func (ts *testServer) sftpClient(user string, auth ...ssh.AuthMethod) (*sftp.Client, error) {
	conn, err := ts.sshClient(user, auth...)
	if err != nil {
		return nil, err
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	ts.t.Cleanup(func() { c.Close(); conn.Close() })
	return c, nil
}

func (ts *testServer) sshClient(user string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	var keys []ssh.PublicKey
	for _, hk := range ts.HostKeys() {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hk.AuthorizedKey))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return ssh.Dial("tcp", ts.Addr().String(), &ssh.ClientConfig{
		User: user, Auth: auth, Timeout: 30 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, k := range keys {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil
				}
			}
			return errors.New("unknown host key")
		},
	})
}

// mustSftp is sftpClient that fails the test on error, as acme with its key.
func (ts *testServer) mustSftp() *sftp.Client {
	ts.t.Helper()
	c, err := ts.sftpClient(acme, ssh.PublicKeys(ts.acmeKey.signer))
	if err != nil {
		ts.t.Fatalf("sftp login: %v", err)
	}
	return c
}

// run runs a command with a safety timeout and returns its combined output
// and exit code (-1 if it could not run or was killed).
func run(t testing.TB, dir, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("%s: %v", name, err)
	return "", -1
}

// needBinary skips the test when a client program is not installed.
func needBinary(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s is not installed (CI installs it via .ci/run): %v", n, err)
		}
	}
}

// mustFile writes data to a file in dir and returns its path.
func mustFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// csvData returns a CSV of about n bytes whose content depends on seed.
func csvData(seed string, n int) []byte {
	var b bytes.Buffer
	b.WriteString("email,first_name,last_name\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s.person%d@example.com,First%d,Last%d\n", seed, i, i, i)
	}
	return b.Bytes()
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// checkUpload asserts that u announces data under name, handed over.
func checkUpload(t testing.TB, u Upload, name string, data []byte) {
	t.Helper()
	if u.Superseded {
		t.Errorf("upload %s: superseded (%s), want handed over", name, u.Reason)
	}
	checkVersion(t, u, name, data)
	if u.Path == "" {
		t.Errorf("upload %s: handed over without a path", name)
	}
}

// checkSuperseded asserts that u announces data under name as superseded.
func checkSuperseded(t testing.TB, u Upload, name string, data []byte) {
	t.Helper()
	if !u.Superseded || u.Reason == "" || u.Path != "" {
		t.Errorf("upload %s: superseded %v (reason %q, path %q), want superseded with a reason and no path",
			name, u.Superseded, u.Reason, u.Path)
	}
	checkVersion(t, u, name, data)
}

func checkVersion(t testing.TB, u Upload, name string, data []byte) {
	t.Helper()
	if u.Name != name || u.Size != int64(len(data)) || u.SHA256 != sum(data) {
		t.Errorf("upload %s: got name %q size %d sha %s, want size %d sha %s",
			name, u.Name, u.Size, u.SHA256, len(data), sum(data))
	}
	if u.Org == "" || u.Account == "" || u.Source == "" || u.Started.IsZero() {
		t.Errorf("upload %s: incomplete announcement %+v", name, u)
	}
}

// checkAnnounced closes the server and asserts that it announced name
// once for each of versions, in that order: every one but the last as
// superseded (replaced by the next one in the same session), the last
// handed over; and that acme's inbox holds the last.
func (ts *testServer) checkAnnounced(name string, versions ...[]byte) {
	ts.t.Helper()
	ups := ts.finalUploads()
	if len(ups) != len(versions) {
		ts.t.Fatalf("got %d announcements, want %d of %s: %+v", len(ups), len(versions), name, ups)
	}
	for i, data := range versions {
		if i < len(versions)-1 {
			checkSuperseded(ts.t, ups[i], name, data)
		} else {
			checkUpload(ts.t, ups[i], name, data)
		}
	}
	ts.checkInbox(acme, name, versions[len(versions)-1])
}

// handedOver returns the uploads that were handed over (not superseded).
func handedOver(ups []Upload) []Upload {
	var out []Upload
	for _, u := range ups {
		if !u.Superseded {
			out = append(out, u)
		}
	}
	return out
}

// checkInbox asserts that the account's inbox holds data as name.
func (ts *testServer) checkInbox(account, name string, data []byte) {
	ts.t.Helper()
	got, err := os.ReadFile(filepath.Join(ts.inbox(account), name))
	if err != nil {
		ts.t.Errorf("inbox %s/%s: %v", account, name, err)
	} else if !bytes.Equal(got, data) {
		ts.t.Errorf("inbox %s/%s: %d bytes, sha %s; want %d bytes, sha %s", account, name, len(got), sum(got), len(data), sum(data))
	}
}

// inboxNames lists the files in an account's inbox.
func (ts *testServer) inboxNames(account string) []string {
	ts.t.Helper()
	entries, err := os.ReadDir(ts.inbox(account))
	if err != nil {
		ts.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// byName returns the announced uploads of one name, in order.
func byName(ups []Upload, name string) []Upload {
	var out []Upload
	for _, u := range ups {
		if u.Name == name {
			out = append(out, u)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
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

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedHostKeys.dir != "" {
		os.RemoveAll(sharedHostKeys.dir)
	}
	os.Exit(code)
}
