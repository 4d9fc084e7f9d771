package sftpserver

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// writeFile uploads data as name with the pkg/sftp client.
func writeFile(t *testing.T, c *sftp.Client, name string, data []byte, flags int) {
	t.Helper()
	f, err := c.OpenFile(name, flags)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

const create = os.O_WRONLY | os.O_CREATE | os.O_TRUNC

// The WinSCP pattern: upload to NAME.filepart (interrupted, then resumed
// without truncating), set its time, delete the old target (an upload of
// an earlier session), rename to NAME, set the time of NAME. Only the
// rename announces, once, with the whole file.
func TestWinSCPPattern(t *testing.T) {
	ts := MustServer(t, nil)
	old := csvData("old", 10_000)
	data := csvData("new", 2_000_000)
	prev := ts.mustSftp()
	writeFile(t, prev, "/x.csv", old, create)
	prev.Close() // the session ends: x.csv is handed over
	ts.waitUploads(1)
	c := ts.mustSftp()

	// First attempt: half the file, then the connection drops.
	conn, err := ts.sshClient(acme, ssh.PublicKeys(ts.acmeKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c1.OpenFile("/x.csv.filepart", create)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[:700_000]); err != nil {
		t.Fatal(err)
	}
	conn.Close() // no CLOSE for the file: the transfer is interrupted
	c1.Close()

	// Resume: WinSCP finds the .filepart and appends without truncating.
	var fi os.FileInfo
	for i := 0; ; i++ { // the server keeps the partial temp file once it sees the drop
		if fi, err = c.Stat("/x.csv.filepart"); err == nil || i > 10_000 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil || fi.Size() != 700_000 {
		t.Fatalf("partial .filepart: %v, %v", fi, err)
	}
	f, err = c.OpenFile("/x.csv.filepart", os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[700_000:], 700_000); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := c.Chtimes("/x.csv.filepart", mtime, mtime); err != nil {
		t.Fatalf("chtimes: %v", err)
	}
	if err := c.Remove("/x.csv"); err != nil {
		t.Fatalf("remove old target: %v", err)
	}
	if err := c.Rename("/x.csv.filepart", "/x.csv"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if fi, err := c.Stat("/x.csv"); err != nil || !fi.ModTime().Equal(mtime) {
		t.Errorf("after rename: %v, %v; want mtime %v", fi, err, mtime)
	}
	// WinSCP then sets the time of the final name: it is still there.
	if err := c.Chtimes("/x.csv", mtime, mtime); err != nil {
		t.Errorf("chtimes after the rename: %v", err)
	}
	ups := ts.finalUploads()
	if len(ups) != 2 {
		t.Fatalf("got %d announcements, want 2 (the old x.csv, then the renamed one): %+v", len(ups), ups)
	}
	checkUpload(t, ups[0], "x.csv", old)
	checkUpload(t, ups[1], "x.csv", data)
	ts.checkInbox(acme, "x.csv", data)
}

// Temporary names are stored but never announced, whatever the client.
func TestTempNamesNotAnnounced(t *testing.T) {
	ts := MustServer(t, nil)
	c := ts.mustSftp()
	names := []string{"a.csv.filepart", "b.part", "c.csv.ABCD.partial", "d.tmp", "e.TMP", ".in.f.csv", "~g.csv", ".hidden"}
	for _, n := range names {
		writeFile(t, c, "/"+n, csvData(n, 1000), create)
	}
	// A rename between two temporary names announces nothing either; an
	// upload renamed before it is taken is taken under its new name.
	if err := c.Rename("/a.csv.filepart", "/a.csv.tmp"); err != nil {
		t.Fatal(err)
	}
	done := csvData("done", 1000)
	writeFile(t, c, "/done.csv", done, create)
	if err := c.PosixRename("/done.csv", "/moved.csv"); err != nil {
		t.Fatal(err)
	}
	ups := ts.finalUploads()
	if len(ups) != 1 {
		t.Fatalf("announced %+v, want only moved.csv", ups)
	}
	checkUpload(t, ups[0], "moved.csv", done)
	if got := len(ts.inboxNames(acme)); got != len(names)+1 {
		t.Errorf("inbox holds %v", ts.inboxNames(acme))
	}
}

// A connection dropped mid-file (no CLOSE) announces nothing and leaves
// nothing under the final name.
func TestDroppedConnection(t *testing.T) {
	ts := MustServer(t, nil)
	conn, err := ts.sshClient(acme, ssh.PublicKeys(ts.acmeKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.OpenFile("/export.csv", create)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(csvData("x", 500_000)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	ups := ts.finalUploads()
	if len(ups) != 0 {
		t.Errorf("announced %+v", ups)
	}
	if names := ts.inboxNames(acme); len(names) != 0 {
		t.Errorf("inbox holds %v", names)
	}
}

// An OPEN for reading and writing (sshfs, some Java clients) must not
// corrupt the file (pkg/sftp #374): reads are refused, writes land.
func TestReadWriteOpen(t *testing.T) {
	ts := MustServer(t, nil)
	c := ts.mustSftp()
	data := []byte("hello,world\n")
	f, err := c.OpenFile("/rw.csv", os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if _, err := f.ReadAt(buf, 0); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("read on a write handle: %v, want permission denied", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ups := ts.finalUploads()
	if len(ups) != 1 {
		t.Fatalf("announced %+v", ups)
	}
	checkUpload(t, ups[0], "rw.csv", data)
	ts.checkInbox(acme, "rw.csv", data)
}

// Concurrent uploads on one connection and several, each intact.
func TestConcurrentUploads(t *testing.T) {
	ts := MustServer(t, nil)
	const n = 6
	errs := make(chan error, n)
	files := map[string][]byte{}
	for i := range n {
		name := string(rune('a'+i)) + ".csv"
		files[name] = csvData(name, 300_000+i*7919)
	}
	for name, data := range files {
		go func() {
			c, err := ts.sftpClient(acme, ssh.PublicKeys(ts.acmeKey.signer))
			if err == nil {
				var f *sftp.File
				if f, err = c.OpenFile("/"+name, create); err == nil {
					if _, err = f.ReadFrom(bytes.NewReader(data)); err == nil {
						err = f.Close()
					}
				}
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ups := ts.finalUploads()
	if len(ups) != n {
		t.Fatalf("got %d announcements, want %d", len(ups), n)
	}
	for name, data := range files {
		checkUpload(t, byName(ups, name)[0], name, data)
	}
}

// Password and keyboard-interactive logins check the hash; a wrong
// password is refused.
func TestPasswordLogin(t *testing.T) {
	ts := MustServer(t, nil)
	if _, err := ts.sftpClient(acme, ssh.Password(testPassword)); err != nil {
		t.Errorf("right password: %v", err)
	}
	ki := ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
		if len(qs) != 1 {
			return nil, errors.New("want one question")
		}
		return []string{testPassword}, nil
	})
	if _, err := ts.sftpClient(acme, ki); err != nil {
		t.Errorf("keyboard-interactive: %v", err)
	}
	for _, c := range []struct{ user, pw string }{
		{acme, "Tr0ub4dor&3"}, {acme, ""}, {globex, testPassword}, {"nobody", testPassword},
	} {
		if _, err := ts.sftpClient(c.user, ssh.Password(c.pw)); err == nil {
			t.Errorf("%s with password %q logged in", c.user, c.pw)
		}
	}
	if logs := ts.logs.String(); strings.Contains(logs, testPassword) || strings.Contains(logs, "Tr0ub4dor") {
		t.Errorf("a password reached the log")
	}
	if st := ts.Stats(); st.AuthSuccesses != 2 || st.AuthFailures < 4 {
		t.Errorf("stats %+v", st)
	}
}

// Local forwarding (ssh -L, a direct-tcpip channel) and remote forwarding
// (tcpip-forward) are refused.
func TestForwardingRefused(t *testing.T) {
	ts := MustServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := ts.sshClient(acme, ssh.PublicKeys(ts.acmeKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if c, err := conn.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("local forwarding (direct-tcpip) was allowed")
	}
	if l, err := conn.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
		t.Errorf("remote forwarding (tcpip-forward) was allowed")
	}
	// The connection survives the refusals and still serves SFTP.
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatalf("sftp after refusals: %v", err)
	}
	defer c.Close()
	if _, err := c.Getwd(); err != nil {
		t.Errorf("getwd: %v", err)
	}
}

// One session cannot hold more than DefaultMaxOpenFiles files open for writing.
func TestTooManyOpenUploads(t *testing.T) {
	ts := MustServer(t, nil)
	c := ts.mustSftp()
	var files []*sftp.File
	for i := range DefaultMaxOpenFiles {
		f, err := c.OpenFile("/f"+strings.Repeat("x", i)+".csv", create)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		files = append(files, f)
	}
	if f, err := c.OpenFile("/one-too-many.csv", create); err == nil {
		f.Close()
		t.Errorf("opened more than %d files", DefaultMaxOpenFiles)
	}
	files[0].Close()
	f, err := c.OpenFile("/now-ok.csv", create)
	if err != nil {
		t.Fatalf("after closing one: %v", err)
	}
	f.Close()
	for _, f := range files[1:] {
		f.Close()
	}
}
