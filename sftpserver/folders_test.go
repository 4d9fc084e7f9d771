package sftpserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OpenSSH's sftp makes folders, uploads into them (put into a folder, cd
// then put), lists them and removes an empty one; uploads there are
// announced under their path. `put x nosuchdir/` fails as with OpenSSH and
// creates nothing; folders deeper than the limit are refused, and a
// folder with files cannot be removed.
func TestFoldersWithOpenSSH(t *testing.T) {
	needBinary(t, "sftp")
	ts := MustServer(t, func(c *Config) { c.MaxFolderDepth = 2 })
	a, b := csvData("a", 5000), csvData("b", 6000)
	mustFile(t, ts.clientDir, "a.csv", a)
	mustFile(t, ts.clientDir, "b.csv", b)
	out, code := ts.sftpBatch(acme, ts.acmeKey.private, `mkdir upload
mkdir upload/hr
mkdir empty
put a.csv upload/hr/
cd upload
put b.csv
ls -l hr
cd /
rmdir empty
ls
`)
	if code != 0 {
		t.Fatalf("sftp exit %d:\n%s", code, out)
	}
	last := out[strings.LastIndex(out, "sftp> ls\n"):]
	if !strings.Contains(out, " a.csv\n") || !strings.Contains(last, "upload") || strings.Contains(last, "empty") {
		t.Errorf("listings:\n%s", out)
	}
	for _, tc := range []struct{ script, says string }{
		{"put a.csv nosuchdir/\n", "Failure"},
		{"mkdir upload/hr/deep\n", "Failure"},
		{"rmdir upload\n", "Failure"},
		{"put a.csv nosuch/a.csv\n", "No such file"},
		{"mkdir .hidden\n", "Failure"},
	} {
		out, code := ts.sftpBatch(acme, ts.acmeKey.private, tc.script)
		if code == 0 || !strings.Contains(out, tc.says) {
			t.Errorf("%q: exit %d, want a failure saying %q:\n%s", tc.script, code, tc.says, out)
		}
	}
	for _, p := range []string{"nosuchdir", "upload/hr/deep", ".hidden", "nosuch"} {
		if _, err := os.Lstat(filepath.Join(ts.inbox(acme), p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	ups := ts.finalUploads()
	if len(ups) != 2 {
		t.Fatalf("got %d announcements, want 2: %+v", len(ups), ups)
	}
	checkUpload(t, byName(ups, "upload/hr/a.csv")[0], "upload/hr/a.csv", a)
	checkUpload(t, byName(ups, "upload/b.csv")[0], "upload/b.csv", b)
	if want := filepath.Join(ts.inbox(acme), "upload", "hr", "a.csv"); byName(ups, "upload/hr/a.csv")[0].Path != want {
		t.Errorf("path %s, want %s", byName(ups, "upload/hr/a.csv")[0].Path, want)
	}
	// Reports go under the same path.
	if err := ts.WriteReport(acme, "upload/hr/a.csv.report.json", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "home", "default", acme, reportsDirName, "upload", "hr", "a.csv.report.json")); err != nil {
		t.Errorf("report not under the same path: %v", err)
	}
	if err := ts.WriteReport(acme, "../escape.json", []byte("{}")); err == nil {
		t.Errorf("a report name with .. was accepted")
	}
}

// An account holds at most MaxFolders folders; with a depth of -1 none.
func TestFolderLimits(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.MaxFolders = 3 })
	c := ts.mustSftp()
	for _, d := range []string{"/a", "/a/b", "/c"} {
		if err := c.Mkdir(d); err != nil {
			t.Fatalf("mkdir %s: %v", d, err)
		}
	}
	if err := c.Mkdir("/d"); err == nil || !strings.Contains(err.Error(), "too many folders") {
		t.Errorf("a fourth folder: %v", err)
	}
	if err := ts.Reload(ts.cfg.Accounts, Limits{MaxFolderDepth: -1}); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("/e"); err == nil || !strings.Contains(err.Error(), "folders are not allowed") {
		t.Errorf("mkdir with folders off: %v", err)
	}
	if f, err := c.OpenFile("/a/x.csv", create); err == nil {
		f.Close()
		t.Errorf("upload into a folder with folders off succeeded")
	}
	long := strings.Repeat("n", maxNameLen+1) + ".csv"
	if f, err := c.OpenFile("/"+long, create); err == nil || !strings.Contains(err.Error(), "file name too long: at most 200 bytes") {
		if f != nil {
			f.Close()
		}
		t.Errorf("a %d-byte name: %v", len(long), err)
	}
}
