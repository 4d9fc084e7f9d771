package sftpserver

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"
)

// After closing an upload, clients touch it: paramiko stats it, rclone sets
// its time and stats it, WinSCP sets time and mode, a script lists it or
// reads it back, `reput` appends to it, a client renames it. All of that
// works while the session lasts, nothing is announced meanwhile, and when
// the session ends the final content is handed over once; the versions
// replaced meanwhile are announced as superseded.
func TestCommittedUploadStaysVisible(t *testing.T) {
	ts := MustServer(t, func(c *Config) {
		c.Settle = time.Hour // only the end of the session hands over
		c.Accounts[0].ReadBack = true
	})
	c := ts.mustSftp()
	first := csvData("v1", 50_000)
	writeFile(t, c, "/export.csv", first, create)

	fi, err := c.Stat("/export.csv") // paramiko's put
	if err != nil || fi.Size() != int64(len(first)) {
		t.Fatalf("stat after close: %v, %v", fi, err)
	}
	mtime := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.Chtimes("/export.csv", mtime, mtime); err != nil { // rclone, WinSCP
		t.Fatalf("chtimes after close: %v", err)
	}
	if err := c.Chmod("/export.csv", 0o600); err != nil { // WinSCP's permissions
		t.Fatalf("chmod after close: %v", err)
	}
	if fi, err := c.Stat("/export.csv"); err != nil || !fi.ModTime().Equal(mtime) {
		t.Fatalf("stat after chtimes: %v, %v; want mtime %v", fi, err, mtime)
	}
	entries, err := c.ReadDir("/") // ls -l
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, e := range entries {
		listed = listed || e.Name() == "export.csv" && e.Size() == int64(len(first))
	}
	if !listed {
		t.Fatalf("ls after put does not show export.csv: %v", entries)
	}
	f, err := c.Open("/export.csv") // read back
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(back, first) {
		t.Fatalf("read back: %d bytes, %v", len(back), err)
	}
	if n := len(ts.finalUploadsSoFar()); n != 0 {
		t.Fatalf("%d announcements while the session goes on and touches its file", n)
	}

	// reput: append the rest to the committed file.
	whole := append(bytes.Clone(first), csvData("v2", 70_000)[len("email,first_name,last_name\n"):]...)
	f, err = c.OpenFile("/export.csv", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatalf("reopen for append: %v", err)
	}
	if _, err := f.WriteAt(whole[len(first):], int64(len(first))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.PosixRename("/export.csv", "/final.csv"); err != nil {
		t.Fatalf("rename after close: %v", err)
	}
	if fi, err := c.Stat("/final.csv"); err != nil || fi.Size() != int64(len(whole)) {
		t.Fatalf("stat after rename: %v, %v", fi, err)
	}
	// Removed before it is taken: recorded as superseded, nothing handed.
	gone := csvData("gone", 1000)
	writeFile(t, c, "/gone.csv", gone, create)
	if err := c.Remove("/gone.csv"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	ups := ts.waitUploads(3)
	checkSuperseded(t, byName(ups, "export.csv")[0], "export.csv", first)
	checkSuperseded(t, byName(ups, "gone.csv")[0], "gone.csv", gone)
	checkUpload(t, byName(ups, "final.csv")[0], "final.csv", whole)
	if ups := ts.finalUploads(); len(ups) != 3 {
		t.Errorf("got %d announcements, want 3: %+v", len(ups), ups)
	}
	ts.checkInbox(acme, "final.csv", whole)
}

// A session that stays open hands its upload over once it has been left
// untouched for Settle; touching it (setting its time) starts the wait
// again, and a new upload of the name open meanwhile holds it back.
func TestSettleHandsOverInOpenSession(t *testing.T) {
	const settle = 300 * time.Millisecond
	ts := MustServer(t, func(c *Config) { c.Settle = settle })
	c := ts.mustSftp()
	data := csvData("s", 10_000)
	start := time.Now()
	writeFile(t, c, "/s.csv", data, create)
	for range 3 {
		time.Sleep(settle / 2)
		if err := c.Chtimes("/s.csv", time.Now(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ts.finalUploadsSoFar()); n != 0 {
		t.Fatalf("handed over while its client kept touching it (%d announcements)", n)
	}
	ups := ts.waitUploads(1)
	if took := time.Since(start); took < 3*settle/2+settle {
		t.Errorf("handed over after %v, before the settle time after the last touch", took)
	}
	checkUpload(t, ups[0], "s.csv", data)

	// An upload of the same name held open: the pending one waits for it,
	// then is superseded by it.
	v1, v2 := csvData("v1", 5000), csvData("v2", 6000)
	writeFile(t, c, "/t.csv", v1, create)
	f, err := c.OpenFile("/t.csv", create)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * settle)
	if n := len(ts.finalUploadsSoFar()); n != 1 {
		t.Fatalf("t.csv handed over while a new upload of it was open (%d announcements)", n)
	}
	if _, err := f.Write(v2); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ups = ts.waitUploads(3)
	checkSuperseded(t, ups[1], "t.csv", v1)
	checkUpload(t, ups[2], "t.csv", v2)
}

// A client that disconnects after its put has its upload handed over at
// once, whatever the settle time: the pipeline's latency does not grow.
func TestHandOverWhenSessionEnds(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.Settle = time.Hour })
	c := ts.mustSftp()
	data := csvData("quick", 20_000)
	writeFile(t, c, "/quick.csv", data, create)
	c.Close()
	ups := ts.waitUploads(1) // long before the hour
	checkUpload(t, ups[0], "quick.csv", data)
}

// finalUploadsSoFar returns what was announced until now.
func (ts *testServer) finalUploadsSoFar() []Upload {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]Upload(nil), ts.uploads...)
}
