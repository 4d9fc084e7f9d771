package sftpserver

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// A read at a negative offset (the protocol's offsets are unsigned; a
// hostile client sends one with the top bit set) is refused without the
// host path that *os.File puts in its errors.
func TestReadErrorsHideHostPaths(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.Accounts[0].ReadBack = true })
	if err := ts.WriteReport(acme, "r.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	c := ts.mustSftp()
	writeFile(t, c, "/up.csv", []byte("a,b\n"), create)
	for _, p := range []string{"/reports/r.json", "/up.csv"} {
		f, err := c.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadAt(make([]byte, 10), -5)
		f.Close()
		if err == nil {
			t.Errorf("read %s at a negative offset succeeded", p)
		} else if strings.Contains(err.Error(), ts.dir) || strings.Contains(err.Error(), "home/") {
			t.Errorf("read %s: error reveals a host path: %v", p, err)
		}
	}
}

// A write whose end overflows int64 is refused as over the size limit, not
// passed on to the file system.
func TestWriteOffsetOverflow(t *testing.T) {
	ts := MustServer(t, nil)
	c := ts.mustSftp()
	f, err := c.OpenFile("/h.csv", create)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(make([]byte, 16), math.MaxInt64-8)
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("write past the end of int64: %v, want file too large", err)
	}
	if n := ts.inboxNames(acme); len(n) != 0 {
		t.Errorf("inbox holds %v", n)
	}
}

// One session cannot hold unbounded file handles: reads of reports and
// open folder listings count against the same cap as uploads, so a client
// cannot run the daemon out of file descriptors or memory.
func TestTooManyOpenHandles(t *testing.T) {
	ts := MustServer(t, nil)
	if err := ts.WriteReport(acme, "r.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	c := ts.mustSftp()
	opened := 0
	for range DefaultMaxOpenFiles + 1 {
		f, err := c.Open("/reports/r.json")
		if err != nil {
			break
		}
		defer f.Close()
		opened++
	}
	if opened != DefaultMaxOpenFiles {
		t.Errorf("opened %d read handles, want the cap of %d", opened, DefaultMaxOpenFiles)
	}
	// Closed handles give their slot back.
	c2 := ts.mustSftp()
	for i := range 2 * DefaultMaxOpenFiles {
		if _, err := c2.ReadDir("/"); err != nil {
			t.Fatalf("listing %d: %v", i, err)
		}
		f, err := c2.Open("/reports/r.json")
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		f.Close()
	}

	// Folder handles, opened and never closed (pkg/sftp's client has no
	// way to do that, so the packets are written by hand).
	raw := mustRawSftp(t, ts)
	handles := 0
	for i := range DefaultMaxOpenFiles + 1 {
		if raw.opendir(uint32(i+1), "/reports") {
			handles++
		}
	}
	if handles != DefaultMaxOpenFiles {
		t.Errorf("opened %d folder handles, want the cap of %d", handles, DefaultMaxOpenFiles)
	}
}

// rawSftp speaks just enough SFTP by hand to do what no well-behaved client
// library will.
type rawSftp struct {
	t   *testing.T
	in  io.Writer
	out io.Reader
}

func mustRawSftp(t *testing.T, ts *testServer) *rawSftp {
	t.Helper()
	conn, err := ts.sshClient(acme, ssh.PublicKeys(ts.acmeKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := s.StdinPipe()
	out, _ := s.StdoutPipe()
	if err := s.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	r := &rawSftp{t: t, in: in, out: out}
	r.send(1, binary.BigEndian.AppendUint32(nil, 3)) // INIT, version 3
	if typ, _ := r.recv(); typ != 2 {
		t.Fatalf("got packet %d, want VERSION", typ)
	}
	return r
}

func (r *rawSftp) send(typ byte, payload []byte) {
	r.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)))
	b = append(append(b, typ), payload...)
	if _, err := r.in.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawSftp) recv() (byte, []byte) {
	r.t.Helper()
	var hdr [5]byte
	if _, err := io.ReadFull(r.out, hdr[:]); err != nil {
		r.t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:4])-1)
	if _, err := io.ReadFull(r.out, body); err != nil {
		r.t.Fatal(err)
	}
	return hdr[4], body
}

// opendir sends OPENDIR and reports whether a handle came back.
func (r *rawSftp) opendir(id uint32, p string) bool {
	r.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, id)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	r.send(11, append(b, p...))
	typ, _ := r.recv()
	return typ == 102 // HANDLE; 101 is STATUS
}

// Password checks before login run a few at a time, whatever the number of
// connections trying: each argon2id check allocates 19 MiB, so 256
// connections guessing at once would otherwise ask for nearly 5 GiB.
func TestPasswordChecksBounded(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.BanThreshold = 1000; c.MaxConnsPerAddr = 100 })
	n := 4 * maxConcurrentHashes()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ts.sshClient(acme, ssh.Password("wrong")); err == nil {
				t.Errorf("logged in with a wrong password")
			}
		}()
	}
	wg.Wait()
	if peak, limit := ts.hashPeak.Load(), int64(maxConcurrentHashes()); peak > limit {
		t.Errorf("%d password checks ran at once, want at most %d", peak, limit)
	}
	if ts.Stats().AuthFailures < int64(n) {
		t.Errorf("stats %+v: want every attempt to fail", ts.Stats())
	}
}

// The staging buffers held by open uploads are bounded for the whole
// server: a client opening many uploads and writing a byte into several
// windows of each cannot make it hold a MiB per window without limit.
// Writes past the budget still land where they should.
func TestStagingMemoryBounded(t *testing.T) {
	ts := MustServer(t, nil)
	c := ts.mustSftp()
	offsets := []int64{0, stageWindow + 7, 2*stageWindow + 9}
	var files []*sftp.File
	for i := range DefaultMaxOpenFiles {
		f, err := c.OpenFile(fmt.Sprintf("/f%02d.csv", i), create)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		for j, off := range offsets {
			if _, err := f.WriteAt([]byte{byte('a' + j)}, off); err != nil {
				t.Fatalf("write %d at %d: %v", i, off, err)
			}
		}
	}
	if peak := ts.windows.peak.Load(); peak > maxStageWindows {
		t.Errorf("%d staging windows held at once, want at most %d", peak, maxStageWindows)
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ups := ts.waitUploads(DefaultMaxOpenFiles)
	want := make([]byte, offsets[2]+1)
	for j, off := range offsets {
		want[off] = byte('a' + j)
	}
	for _, u := range ups {
		if u.Size != int64(len(want)) || u.SHA256 != sum(want) {
			t.Errorf("%s: %d bytes, sha %s; want %d bytes, sha %s", u.Name, u.Size, u.SHA256, len(want), sum(want))
		}
	}
	if n := ts.windows.used.Load(); n != 0 {
		t.Errorf("%d staging windows still held after every upload closed", n)
	}
}

// Two sessions uploading the same name at once: each committed file is
// announced once with its own bytes, the last to close wins the name (the
// first is recorded as superseded), and no staging file is left.
func TestSameNameFromTwoSessions(t *testing.T) {
	ts := MustServer(t, nil)
	a, b := ts.mustSftp(), ts.mustSftp()
	dataA, dataB := csvData("a", 200_000), csvData("b", 150_000)
	fa, err := a.OpenFile("/same.csv", create)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.OpenFile("/same.csv", create)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		f    *sftp.File
		data []byte
	}{{fa, dataA}, {fb, dataB}} {
		if _, err := w.f.Write(w.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := fb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	ts.checkAnnounced("same.csv", dataB, dataA)
	staged, err := os.ReadDir(filepath.Join(ts.dir, "home", "default", acme, stagingDir))
	if err != nil || len(staged) != 0 {
		t.Errorf("staging area holds %d files (%v)", len(staged), err)
	}
}
