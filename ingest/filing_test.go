package ingest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"muster/schema"
	"muster/store"
)

// A source's queue whose drop keeps failing says so (Lanes: since when,
// the error), and is idle again once the drop goes through.
func TestFilesLanesShowAFailingDrop(t *testing.T) {
	r, unlock := lockedFiles(t)
	r.files.Announce("", "hr", r.put(t, "hr", "workday.csv", "day1.csv"))
	r.waitLog(t, "drop failed, retrying")
	ls := r.files.Lanes()
	if len(ls) != 1 || ls[0].Source != "hr" || ls[0].Org != schema.DefaultOrg || ls[0].File != "day1.csv" ||
		ls[0].FailingSince.IsZero() || !strings.Contains(ls[0].LastError, "locked") {
		t.Fatalf("lanes while failing: %+v", ls)
	}
	unlock()
	r.waitDrops(t, "hr", 1)
	waitFor(t, "the queue idle", func() bool {
		ls := r.files.Lanes()
		return len(ls) == 1 && ls[0].File == "" && ls[0].FailingSince.IsZero()
	})
}

// A file that settled in a watched folder, then had a symbolic link
// renamed over it before it was taken (its queue was busy), is refused as
// not a regular file: nothing of the link's target is read, the drop is
// rejected saying why, and the next drop of the source goes through.
func TestFilesSymlinkSwappedInIsRefused(t *testing.T) {
	r, unlock := lockedFiles(t)
	// Outside the data: a file whose first line would read as a header
	// with an email column.
	secret := filepath.Join(t.TempDir(), "secret.csv")
	writeFile(t, secret, "Secret Email,Secret Name\nceo@example.com,The Boss\n")
	r.files.Announce("", "hr", r.put(t, "hr", "workday.csv", "day1.csv")) // holds the queue (the store is locked)
	r.waitLog(t, "drop failed, retrying")
	p := r.put(t, "hr", "google-workspace.csv", "swapped.csv")
	r.files.Announce("", "hr", filepath.Join(r.folder("hr"), "missing.csv")) // keeps the queue's order honest
	link := filepath.Join(r.folder("hr"), ".link.tmp")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	r.files.lanes.add(job{key: "default/hr", path: p}) // what the watcher hands over once it settled
	if err := os.Rename(link, p); err != nil {
		t.Fatal(err)
	}
	unlock()
	ds := r.waitDrops(t, "hr", 2)
	if ds[1].Status != store.DropRejected || ds[1].Name != "swapped.csv" {
		t.Fatalf("the swapped file's drop: %s %s", ds[1].Name, ds[1].Status)
	}
	rep := string(ds[1].Report)
	if !strings.Contains(rep, "not_regular_file") || !strings.Contains(rep, "a symbolic link") {
		t.Errorf("the report does not say why: %s", rep)
	}
	if strings.Contains(rep, "Secret") || strings.Contains(rep, "ceo@") {
		t.Errorf("the link's target was read: %s", rep)
	}
	if got := r.filed(t, "hr", rejectedDir); len(got) != 2 {
		t.Errorf("rejected/ holds %v, want the link and its report", got)
	}
	// The queue moves on: the next drop is decided (held here: it would
	// remove everyone of the first).
	r.files.Announce("", "hr", r.put(t, "hr", "bamboohr.csv", "next.csv"))
	if ds := r.waitDrops(t, "hr", 3); ds[2].Name != "next.csv" || ds[2].Status == store.DropRejected {
		t.Fatalf("the next drop: %s %s", ds[2].Name, ds[2].Status)
	}
}

// A folder drop whose name is as long as the file system allows is filed
// (under a shortened name, its report beside it), and the source's next
// drop goes through: a long name never holds a queue.
func TestFilesLongNameFiledShortened(t *testing.T) {
	r := MustFiles(t, 50*time.Millisecond, "hr")
	r.open(t)
	long := strings.Repeat("Quarterly headcount export ", 9)[:240] + ".csv"
	copyRename(t, r.put(t, "hr", "workday.csv", ".long.tmp"), filepath.Join(r.folder("hr"), long))
	ds := r.waitDrops(t, "hr", 1)
	if ds[0].Status != store.DropApplied || ds[0].Name != long {
		t.Fatalf("drop %s %s", ds[0].Name, ds[0].Status)
	}
	got := r.filed(t, "hr", archiveDir)
	if len(got) != 2 {
		t.Fatalf("archive holds %v, want the file and its report", got)
	}
	for _, g := range got {
		if n := len(filepath.Base(g)); n > 255 {
			t.Errorf("filed name of %d bytes", n)
		}
	}
	copyRename(t, r.put(t, "hr", "bamboohr.csv", ".next.tmp"), filepath.Join(r.folder("hr"), "next.csv"))
	if ds := r.waitDrops(t, "hr", 2); ds[1].Name != "next.csv" || ds[1].Status == store.DropRejected {
		t.Fatalf("the next drop: %s %s", ds[1].Name, ds[1].Status)
	}
}

func copyRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// fitName keeps names that fit, and shortens the others to the limit,
// keeping their extension and telling apart names that share a start.
func TestFitName(t *testing.T) {
	if got := fitName("short.csv", 20); got != "short.csv" {
		t.Errorf("fitName of a short name: %q", got)
	}
	a := fitName(strings.Repeat("é", 200)+"-a.csv", 100)
	b := fitName(strings.Repeat("é", 200)+"-b.csv", 100)
	if len(a) > 100 || !strings.HasSuffix(a, ".csv") || a == b || !strings.Contains(a, "~") {
		t.Errorf("fitName: %q (%d bytes), %q", a, len(a), b)
	}
	for _, s := range []string{a, b} {
		if strings.ContainsRune(s, '\uFFFD') {
			t.Errorf("a character was cut in two: %q", s)
		}
	}
	if got := nameOfSpooled(spoolName("exports/hr/100%.csv")); got != "exports/hr/100%.csv" {
		t.Errorf("spool name round trip: %q", got)
	}
}

// The files of an announced folder's sub-folders (an SFTP inbox's) are
// taken with their path as name, their reports written under that path;
// those found there at start are taken then.
func TestFilesAnnouncedSubfolders(t *testing.T) {
	root := t.TempDir()
	inbox := filepath.Join(root, "inbox")
	os.MkdirAll(filepath.Join(inbox, "exports", "hr"), 0o750)
	writeFile(t, filepath.Join(inbox, "exports", "hr", "waiting.csv"), mustSample(t, "bamboohr.csv"))
	var reports []string
	r := MustFiles(t, time.Hour)
	r.files.Sources = append(r.files.Sources, FileSource{
		Config: SourceConfig{Name: "up", Kind: store.KindSFTP, MaxRemovePercent: -1},
		Folders: []Folder{{Path: inbox, Announced: true, Reports: func(name string, data []byte) error {
			reports = append(reports, name)
			return nil
		}}},
	})
	r.open(t)
	ds := r.waitDrops(t, "up", 1)
	if ds[0].Name != "exports/hr/waiting.csv" {
		t.Fatalf("the file waiting at start: %s", ds[0].Name)
	}
	p := filepath.Join(inbox, "exports", "hr", "day2.csv")
	writeFile(t, p, mustSample(t, "workday.csv"))
	r.files.Announce("", "up", p)
	ds = r.waitDrops(t, "up", 2)
	if ds[1].Name != "exports/hr/day2.csv" || ds[1].Status != store.DropApplied {
		t.Fatalf("announced: %s %s", ds[1].Name, ds[1].Status)
	}
	want := "exports/hr/waiting.csv.errors.csv exports/hr/waiting.csv.report.json exports/hr/day2.csv.errors.csv exports/hr/day2.csv.report.json"
	if strings.Join(reports, " ") != want {
		t.Errorf("reports %v, want %s", reports, want)
	}
}

func mustSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
