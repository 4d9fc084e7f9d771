package sftpserver

import (
	"math"
	"strings"
	"testing"
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
