package sftpserver

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// No path, "..", absolute path, symlink or odd name reaches outside the
// account's home, and no error message shows a host path.
func TestConfinement(t *testing.T) {
	ts := MustServer(t, nil)
	c := ts.mustSftp()
	secret := mustFile(t, ts.clientDir, "secret.csv", []byte("secret,data\n"))
	inbox := ts.inbox(acme)
	globexInbox := ts.inbox(globex)
	mustFile(t, globexInbox, "theirs.csv", []byte("globex,only\n"))
	// Symlinks planted inside the home (as a careless operator or another
	// program might) pointing outside it, and into another account.
	for name, target := range map[string]string{
		"link-dir":    ts.clientDir,
		"link-file":   secret,
		"link-globex": globexInbox,
		"link-etc":    "/etc",
	} {
		if err := os.Symlink(target, filepath.Join(inbox, name)); err != nil {
			t.Fatal(err)
		}
	}
	hostPaths := []string{ts.dir, ts.clientDir, inbox}
	checkMsg := func(what string, err error) {
		t.Helper()
		for _, p := range hostPaths {
			if err != nil && strings.Contains(err.Error(), p) {
				t.Errorf("%s: error reveals a host path: %v", what, err)
			}
		}
	}
	mustFail := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s succeeded, want refused", what)
		}
		checkMsg(what, err)
	}

	// Reads: escapes by "..", absolute host paths, symlinks, other account.
	for _, p := range []string{
		"/../../../../etc/passwd", "../" + filepath.Base(ts.clientDir) + "/secret.csv", secret,
		"/link-file", "/link-dir/secret.csv", "/link-globex/theirs.csv", "/link-etc/passwd",
		"/../" + globex + "/inbox/theirs.csv", "/../../globex/globex/inbox/theirs.csv",
		"/reports/../../inbox/x", "/.staging",
	} {
		_, err := c.Stat(p)
		mustFail("stat "+p, err)
		f, err := c.Open(p)
		if err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Errorf("open %s: read %q", p, b)
		}
		checkMsg("open "+p, err)
	}
	_, err := c.ReadDir("/link-dir")
	mustFail("readdir /link-dir", err)
	_, err = c.ReadDir("/link-etc")
	mustFail("readdir /link-etc", err)

	// Writes: through symlinks, into folders, with odd names, outside.
	for _, p := range []string{
		"/link-dir/new.csv", "/link-file", "/link-globex/new.csv", "/../globex/inbox/new.csv",
		"/sub/x.csv", "/reports/x.csv", "/reports", "/", "/bad\\name.csv", "/tab\tname.csv", "/trailing.csv ",
		"/" + strings.Repeat("x", 256),
	} {
		f, err := c.OpenFile(p, create)
		if err == nil {
			f.Close()
			t.Errorf("create %q succeeded", p)
		}
		checkMsg("create "+p, err)
	}
	mustFail("mkdir through a link", c.Mkdir("/link-dir/newdir"))
	mustFail("mkdir through a link outside", c.Mkdir("/link-etc/newdir"))
	mustFail("mkdir in reports", c.Mkdir("/reports/newdir"))
	mustFail("symlink", c.Symlink("/etc/passwd", "/pw"))
	mustFail("hardlink", c.Link("/link-file", "/hard"))
	mustFail("rename through link", c.Rename("/link-file", "/stolen.csv"))
	mustFail("rename out", c.Rename("/link-dir", "/reports/x"))
	mustFail("remove report folder", c.RemoveDirectory("/reports"))
	_, err = c.ReadLink("/link-etc")
	mustFail("readlink", err)

	// Nothing escaped: the planted targets are untouched, no stray files.
	if b, err := os.ReadFile(secret); err != nil || string(b) != "secret,data\n" {
		t.Errorf("secret changed: %q %v", b, err)
	}
	if n := ts.inboxNames(globex); len(n) != 1 {
		t.Errorf("globex inbox: %v", n)
	}
	entries, _ := os.ReadDir(ts.clientDir)
	for _, e := range entries {
		if e.Name() == "new.csv" {
			t.Errorf("a file was written outside the home")
		}
	}
	if ups := ts.finalUploads(); len(ups) != 0 {
		t.Errorf("announced %+v", ups)
	}
}

// Each account sees only its own inbox, and "/" is that inbox.
func TestAccountsSeeOnlyTheirOwn(t *testing.T) {
	ts := MustServer(t, nil)
	ca := ts.mustSftp()
	cg, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, ca, "acme.csv", csvData("acme", 1000), create)
	writeFile(t, cg, "/globex.csv", csvData("globex", 1000), create)
	for c, want := range map[*sftp.Client]string{ca: "acme.csv", cg: "globex.csv"} {
		entries, err := c.ReadDir("/")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, ",") != want+",reports" && strings.Join(names, ",") != "reports,"+want {
			t.Errorf("listing of / is %v, want %s and reports", names, want)
		}
	}
	if _, err := ca.Stat("/globex.csv"); err == nil {
		t.Errorf("acme sees globex's file")
	}
	ups := ts.finalUploads()
	if len(ups) != 2 {
		t.Fatalf("announced %+v", ups)
	}
	for _, u := range ups {
		want := Upload{Org: "default", Account: acme, Source: "hris", Name: "acme.csv"}
		if u.Account == globex {
			want = Upload{Org: "globex", Account: globex, Source: "workday", Name: "globex.csv"}
		}
		if u.Org != want.Org || u.Account != want.Account || u.Source != want.Source || u.Name != want.Name {
			t.Errorf("upload %+v, want %+v", u, want)
		}
		if !strings.HasPrefix(u.Path, filepath.Join(ts.dir, "home", want.Org, want.Account, "inbox")) {
			t.Errorf("upload path %s outside the account's inbox", u.Path)
		}
	}
}

// /reports is readable and read-only; uploads cannot be read back unless
// the account allows it.
func TestReportsAndReadBack(t *testing.T) {
	ts := MustServer(t, func(c *Config) { c.Accounts[1].ReadBack = true })
	if err := ts.WriteReport(acme, "export.csv.json", []byte(`{"decision":"applied"}`)); err != nil {
		t.Fatal(err)
	}
	if err := ts.WriteReport(acme, "../escape.json", nil); err == nil {
		t.Errorf("WriteReport accepted a path")
	}
	if err := ts.WriteReport("nobody", "x.json", nil); err == nil {
		t.Errorf("WriteReport accepted an unknown account")
	}
	c := ts.mustSftp()
	f, err := c.Open("/reports/export.csv.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != `{"decision":"applied"}` {
		t.Errorf("report reads %q", b)
	}
	if err := c.Remove("/reports/export.csv.json"); err == nil {
		t.Errorf("removed a report")
	}
	if err := c.Rename("/reports/export.csv.json", "/x.json"); err == nil {
		t.Errorf("renamed a report")
	}
	writeFile(t, c, "/up.csv", csvData("up", 1000), create)
	_, err = c.Open("/up.csv")
	if !errors.Is(err, os.ErrPermission) { // pkg/sftp's client maps PERMISSION_DENIED to it
		t.Errorf("reading back an upload: %v, want permission denied", err)
	}
	cg, err := ts.sftpClient(globex, ssh.PublicKeys(ts.globexKey.signer))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cg, "/up.csv", []byte("a,b\n"), create)
	f, err = cg.Open("/up.csv")
	if err != nil {
		t.Fatalf("read back with ReadBack: %v", err)
	}
	b, _ = io.ReadAll(f)
	f.Close()
	if string(b) != "a,b\n" {
		t.Errorf("read back %q", b)
	}
}
