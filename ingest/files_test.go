package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// syncBuffer is a log sink tests can read while the code writes.
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

// filesRig is a Files over a real store with one folder source per name.
type filesRig struct {
	files *Files
	in    *Ingester
	log   *syncBuffer
	root  string
}

func (r *filesRig) folder(source string) string { return filepath.Join(r.root, "in", source) }

// MustFiles starts Files over a fresh store with a folder source per name.
// The debounce is long: tests announce files or rely on the start scan.
func MustFiles(t testing.TB, debounce time.Duration, sources ...string) *filesRig {
	t.Helper()
	root := t.TempDir()
	r := &filesRig{in: MustIngester(t), log: &syncBuffer{}, root: root}
	r.files = &Files{Ingester: r.in, Dir: filepath.Join(root, "drops"), Debounce: debounce,
		RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, s := range sources {
		r.files.Sources = append(r.files.Sources, FileSource{
			Config:  SourceConfig{Name: s, Kind: store.KindFolder, MaxRemovePercent: 50},
			Folders: []Folder{{Path: r.folder(s)}},
		})
	}
	return r
}

func (r *filesRig) open(t testing.TB) {
	t.Helper()
	if err := r.files.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.files.Close() })
}

// put copies a sample into a source's folder and announces it.
func (r *filesRig) put(t testing.TB, source, sample, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "samples", sample))
	if err != nil {
		data = []byte(sample) // literal content
	}
	p := filepath.Join(r.folder(source), name)
	writeFile(t, p, string(data))
	return p
}

// drops lists the source's drops, oldest first.
func (r *filesRig) drops(t testing.TB, source string) []store.Drop {
	t.Helper()
	ctx := context.Background()
	org, err := r.in.Store.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		return nil
	}
	src, err := r.in.Store.LookupSource(ctx, org.ID, source)
	if err != nil {
		return nil
	}
	ds, _, err := r.in.Store.Drops(ctx, org.ID, store.DropFilter{SourceID: src.ID})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
		ds[i], ds[j] = ds[j], ds[i]
	}
	return ds
}

// waitDrops waits until the source has n drops none of which is still
// received, and returns them.
func (r *filesRig) waitDrops(t testing.TB, source string, n int) []store.Drop {
	t.Helper()
	var ds []store.Drop
	waitFor(t, fmt.Sprintf("%d drops of %s", n, source), func() bool {
		ds = r.drops(t, source)
		if len(ds) < n {
			return false
		}
		for _, d := range ds {
			if d.Status == store.DropReceived {
				return false
			}
		}
		return true
	})
	if len(ds) != n {
		t.Fatalf("%d drops, want %d", len(ds), n)
	}
	// The drop's log line comes once its file is filed away.
	filed := 0
	for _, d := range ds {
		if !strings.Contains(string(d.Report), "interrupted") {
			filed++
		}
	}
	waitFor(t, "the drops filed", func() bool {
		return strings.Count(r.log.String(), "msg=drop source=default/"+source+" ") >= filed
	})
	return ds
}

// filed returns the paths under the source's folder of that kind.
func (r *filesRig) filed(t testing.TB, source, where string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(r.files.Dir, schema.DefaultOrg, source, where)
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out = append(out, strings.TrimPrefix(p, root+string(filepath.Separator)))
		}
		return nil
	})
	return out
}

func (r *filesRig) waitLog(t testing.TB, substr string) {
	t.Helper()
	waitFor(t, "log line "+substr, func() bool { return strings.Contains(r.log.String(), substr) })
}

func TestFilesAppliedDuplicateRejectedHeld(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	r.open(t)
	r.files.Announce("", "hr", r.put(t, "hr", "workday.csv", "day1.csv"))
	ds := r.waitDrops(t, "hr", 1)
	if ds[0].Status != store.DropApplied {
		t.Fatalf("first drop %s", ds[0].Status)
	}
	r.files.Announce("", "hr", r.put(t, "hr", "workday.csv", "day1-again.csv"))
	r.files.Announce("", "hr", r.put(t, "hr", "broken/unterminated-quote.csv", "broken.csv"))
	r.files.Announce("", "hr", r.put(t, "hr", "Email,First Name\n", "header-only.csv"))
	ds = r.waitDrops(t, "hr", 4)
	want := []store.DropStatus{store.DropApplied, store.DropDuplicate, store.DropRejected, store.DropHeld}
	for i, d := range ds {
		if d.Status != want[i] {
			t.Fatalf("drop %d (%s) is %s, want %s", i, d.Name, d.Status, want[i])
		}
	}
	day := time.Now().UTC().Format(dayLayout)
	check := func(where string, d store.Drop) {
		t.Helper()
		base := fmt.Sprintf("%s/%d-%s", day, d.ID, d.Name)
		got := strings.Join(r.filed(t, "hr", where), " ")
		if !strings.Contains(got, base) || !strings.Contains(got, base+ReportSuffix) {
			t.Fatalf("%s holds %q, want %s and its report", where, got, base)
		}
		b, err := os.ReadFile(filepath.Join(r.files.Dir, schema.DefaultOrg, "hr", where, base+ReportSuffix))
		if err != nil {
			t.Fatal(err)
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil || rep.DropID != d.ID || string(rep.Decision) != string(d.Status) {
			t.Fatalf("report %s: %v %+v", base, err, rep)
		}
	}
	check(archiveDir, ds[0])
	check(archiveDir, ds[1])
	check(rejectedDir, ds[2])
	check(heldDir, ds[3])
	if left, _ := os.ReadDir(r.folder("hr")); len(left) != 0 {
		t.Fatalf("files left in the drop folder: %v", left)
	}
	for _, want := range []string{"decision=applied", "decision=duplicate", "decision=rejected", "decision=held", "file=day1.csv", "rows=18"} {
		if !strings.Contains(r.log.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, r.log)
		}
	}
}

func TestFilesAnnouncedSkipDebounceAndKeepOrderPerSource(t *testing.T) {
	r := MustFiles(t, time.Hour, "a", "b")
	reports := map[string][]byte{}
	var mu sync.Mutex
	r.files.Sources[0].Folders[0].Reports = func(name string, data []byte) error {
		mu.Lock()
		defer mu.Unlock()
		reports[name] = data
		return nil
	}
	r.open(t)
	names := []string{"1.csv", "2.csv", "3.csv"}
	samples := []string{"workday.csv", "bamboohr.csv", "broken/too-many-invalid.csv"}
	for i, n := range names {
		r.files.Announce("", "a", r.put(t, "a", samples[i], n))
	}
	r.files.Announce("", "b", r.put(t, "b", "google-workspace.csv", "g.csv"))
	ds := r.waitDrops(t, "a", 3)
	for i, d := range ds {
		if d.Name != names[i] {
			t.Fatalf("drop %d is %s, want %s (arrival order)", i, d.Name, names[i])
		}
	}
	if b := r.waitDrops(t, "b", 1); b[0].Status != store.DropApplied {
		t.Fatalf("source b: %s", b[0].Status)
	}
	// Reports are written once the drop is decided: wait for the last.
	waitFor(t, "6 reports (JSON and CSV for 3 files)", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) == 6
	})
	mu.Lock()
	defer mu.Unlock()
	csv := string(reports["3.csv"+ErrorsSuffix])
	if !strings.HasPrefix(csv, "line,column,code,severity,message\n") || strings.Count(csv, "\n") < 3 {
		t.Fatalf("errors CSV of the invalid file:\n%s", csv)
	}
	if got := string(reports["1.csv"+ErrorsSuffix]); strings.Contains(got, ",error,") {
		t.Fatalf("errors CSV of a clean file: %q", got)
	}
}

func TestFilesStartScanAndInterruptedDropRedoneOnce(t *testing.T) {
	r := MustFiles(t, 50*time.Millisecond, "hr")
	// What a crash leaves: a file in the spool whose drop was recorded and
	// never finished, and a file that arrived while muster was down.
	ctx := context.Background()
	org, _ := r.in.Store.EnsureOrg(ctx, schema.DefaultOrg)
	src, _, err := r.in.Store.EnsureSource(ctx, org.ID, r.files.Sources[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(r.files.Dir, schema.DefaultOrg, "hr", "spool", "0")
	os.MkdirAll(spool, 0o750)
	os.MkdirAll(r.folder("hr"), 0o750)
	p := filepath.Join(spool, "crashed.csv")
	data, _ := os.ReadFile("../samples/workday.csv")
	writeFile(t, p, string(data))
	df, err := OpenFile(p, "crashed.csv", schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := df.Drop.Hash()
	df.Close()
	if err != nil || !strings.HasPrefix(hash, "sha256:") {
		t.Fatalf("hash %q, %v", hash, err)
	}
	stale := store.Drop{OrgID: org.ID, SourceID: src.ID, Kind: store.DropKindFile, Name: "crashed.csv", ContentHash: hash}
	if err := r.in.Store.CreateDrop(ctx, &stale); err != nil {
		t.Fatal(err)
	}
	r.put(t, "hr", "bamboohr.csv", "while-down.csv")
	r.open(t)
	ds := r.waitDrops(t, "hr", 3)
	if ds[0].ID != stale.ID || ds[0].Status != store.DropRejected || !strings.Contains(string(ds[0].Report), "interrupted") {
		t.Fatalf("stale drop: %+v", ds[0])
	}
	if ds[1].Name != "crashed.csv" || ds[1].Status != store.DropApplied || ds[2].Name != "while-down.csv" {
		t.Fatalf("drops: %s %s, %s %s", ds[1].Name, ds[1].Status, ds[2].Name, ds[2].Status)
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Fatalf("left in spool: %v", left)
	}
}

func TestFilesVanishedFileIsLoggedNothingRecorded(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	r.open(t)
	r.files.Announce("", "hr", filepath.Join(r.folder("hr"), "gone.csv"))
	r.waitLog(t, "vanished before it was taken")
	r.files.Announce("", "hr", r.put(t, "hr", "workday.csv", "next.csv"))
	if ds := r.waitDrops(t, "hr", 1); ds[0].Name != "next.csv" {
		t.Fatalf("drops: %+v", ds)
	}
}

// lockedFiles returns a rig whose store is write-locked by another process
// (the sqlite3 shell) and a function that lets go: drops fail and are
// retried meanwhile.
func lockedFiles(t *testing.T) (*filesRig, func()) {
	t.Helper()
	if storetest.Postgres() {
		t.Skip("SQLite only: the sqlite3 shell holds the store's write lock")
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 shell not installed")
	}
	r := MustFiles(t, time.Hour, "hr")
	// A short busy timeout, so the locked store fails the drop quickly.
	st, err := store.OpenWith(context.Background(), filepath.Join(t.TempDir(), store.FileName), store.Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.in.Store = st
	r.open(t)
	sh := exec.Command("sqlite3", r.in.Store.Path())
	stdin, _ := sh.StdinPipe()
	stdout, _ := sh.StdoutPipe()
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Process.Kill() })
	io.WriteString(stdin, "BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("sqlite3: %q %v", line, err)
	}
	return r, func() {
		io.WriteString(stdin, "COMMIT;\n.quit\n")
		stdin.Close()
		sh.Wait()
	}
}

// TestFilesLockedStoreIsRetried holds the store's write lock from another
// process until the drop has failed once, then lets go: the drop is
// retried and applied, and the file is not lost meanwhile.
func TestFilesLockedStoreIsRetried(t *testing.T) {
	r, unlock := lockedFiles(t)
	p := r.put(t, "hr", "workday.csv", "day1.csv")
	r.files.Announce("", "hr", p)
	r.waitLog(t, "drop failed, retrying")
	if !strings.Contains(r.log.String(), "database is locked") {
		t.Fatalf("the failure does not say the store is busy:\n%s", r.log)
	}
	if _, err := os.Stat(filepath.Join(r.files.Dir, schema.DefaultOrg, "hr", "spool", "0", "day1.csv")); err != nil {
		t.Fatalf("the file is not waiting in the spool: %v", err)
	}
	unlock()
	ds := r.waitDrops(t, "hr", 1)
	if ds[0].Status != store.DropApplied {
		t.Fatalf("drop %s", ds[0].Status)
	}
}

// TestFilesAnnouncedUploadNotReplacedByTheNextOfTheSameName: while the
// source's queue is held up (a failing drop being retried), an uploader
// sends changes.csv, then changes.csv again (SFTP replaces a file of the
// same name in the inbox). Each announced upload is a drop of its own: the
// first must not be lost under the second.
func TestFilesAnnouncedUploadNotReplacedByTheNextOfTheSameName(t *testing.T) {
	r, unlock := lockedFiles(t)
	r.files.Announce("", "hr", r.put(t, "hr", "workday.csv", "day1.csv"))
	r.waitLog(t, "drop failed, retrying")
	sample, err := os.ReadFile(filepath.Join("..", "samples", "workday.csv"))
	if err != nil {
		t.Fatal(err)
	}
	header := strings.SplitN(string(sample), "\n", 2)[0]
	first := strings.Replace(string(sample), header+"\n", header+"\n"+strings.Replace(strings.SplitN(string(sample), "\n", 3)[1], "@", "+first@", 1)+"\n", 1)
	second := strings.Replace(string(sample), header+"\n", header+"\n"+strings.Replace(strings.SplitN(string(sample), "\n", 3)[1], "@", "+second@", 1)+"\n", 1)
	r.files.Announce("", "hr", r.put(t, "hr", first, "changes.csv"))
	r.files.Announce("", "hr", r.put(t, "hr", second, "changes.csv"))
	unlock()
	ds := r.waitDrops(t, "hr", 3)
	for i, d := range ds {
		if d.Status != store.DropApplied {
			t.Fatalf("drop %d (%s): %s", i, d.Name, d.Status)
		}
	}
	if ds[1].ContentHash == ds[2].ContentHash {
		t.Fatalf("both changes.csv drops have the same content: the first upload was lost")
	}
	if ds[1].Name != "changes.csv" || ds[2].Name != "changes.csv" {
		t.Fatalf("drops named %q and %q, want changes.csv as uploaded", ds[1].Name, ds[2].Name)
	}
}

func TestFilesPrune(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	reports := filepath.Join(r.root, "reports")
	os.MkdirAll(reports, 0o750)
	r.files.ReportDirs = []string{reports}
	r.open(t)
	// after Open: no pruning in the background
	r.files.Retention, r.files.ReportRetention = 10*24*time.Hour, 10*24*time.Hour
	now := time.Now().UTC()
	day := func(daysAgo int) string { return now.AddDate(0, 0, -daysAgo).Format(dayLayout) }
	base := filepath.Join(r.files.Dir, schema.DefaultOrg, "hr")
	old := []string{"archive/" + day(19), "archive/" + day(11), "rejected/" + day(47)}
	kept := []string{"archive/" + day(9), "held/" + day(1), "archive/notes"}
	for _, d := range append(append([]string{}, old...), kept...) {
		os.MkdirAll(filepath.Join(base, d), 0o750)
		writeFile(t, filepath.Join(base, d, "1-x.csv"), "x")
	}
	oldRep, newRep := filepath.Join(reports, "old.csv.report.json"), filepath.Join(reports, "new.csv.report.json")
	writeFile(t, oldRep, "{}")
	writeFile(t, newRep, "{}")
	os.Chtimes(oldRep, now.Add(-11*24*time.Hour), now.Add(-11*24*time.Hour))
	os.Chtimes(newRep, now.Add(-time.Hour), now.Add(-time.Hour))
	if n := r.files.Prune(now); n != 4 {
		t.Fatalf("pruned %d, want 4", n)
	}
	for _, gone := range old {
		if _, err := os.Stat(filepath.Join(base, gone)); err == nil {
			t.Fatalf("%s not pruned", gone)
		}
	}
	for _, kept := range kept {
		if _, err := os.Stat(filepath.Join(base, kept)); err != nil {
			t.Fatalf("%s pruned", kept)
		}
	}
	if _, err := os.Stat(oldRep); err == nil {
		t.Fatal("old report kept")
	}
	if _, err := os.Stat(newRep); err != nil {
		t.Fatal("new report pruned")
	}
}

// TestErrorsCSVNeutralisesFormulas: problems quote the uploaded file's
// headers and cells, so a value a spreadsheet would run (= + - @, a tab, a
// carriage return first) is written with an apostrophe in front, both for
// problems made here and for a real upload's header read back by the
// uploader.
func TestErrorsCSVNeutralisesFormulas(t *testing.T) {
	hostile := []string{`=HYPERLINK("http://evil.example","x")`, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"}
	rep := &Report{}
	for i, v := range hostile {
		rep.Problems = append(rep.Problems, schema.Problem{Line: i + 2, Column: v, Code: schema.ProblemCode(v),
			Severity: schema.SeverityError, Message: v})
	}
	rows, err := csv.NewReader(bytes.NewReader(ErrorsCSV(rep))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(hostile)+1 {
		t.Fatalf("%d rows, want %d", len(rows), len(hostile)+1)
	}
	for i, v := range hostile {
		row := rows[i+1]
		// column, code and message: each neutralised
		for _, c := range []int{1, 2, 4} {
			if row[c] != "'"+v {
				t.Fatalf("row %d cell %d = %q, want %q", i+1, c, row[c], "'"+v)
			}
		}
	}
	if rows[1][0] != "2" || rows[1][3] != "error" {
		t.Fatalf("line and severity changed: %q", rows[1])
	}

	r := MustFiles(t, time.Hour, "hr")
	reports, _ := r.reportsTo(t, "hr")
	r.open(t)
	r.files.Announce("", "hr", r.put(t, "hr", "Email,First Name,\"=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\"\n"+
		"a@example.com,A,1\nb@example.com,B,2\n", "evil.csv"))
	r.waitDrops(t, "hr", 1)
	var got []byte
	waitFor(t, "the uploader's errors CSV", func() bool {
		got, _ = os.ReadFile(filepath.Join(reports, "evil.csv"+ErrorsSuffix))
		return len(got) > 0
	})
	rows, err = csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("a cell a spreadsheet would run: %q in\n%s", cell, got)
			}
		}
		found = found || row[1] == `'=HYPERLINK("http://evil.example","x")`
	}
	if !found {
		t.Fatalf("the hostile header is not reported (neutralised):\n%s", got)
	}
}

// TestFilesPruneReportsKeptForEver: a negative ReportRetention keeps the
// reports folders whole while the archive is pruned.
func TestFilesPruneReportsKeptForEver(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	reports := filepath.Join(r.root, "reports")
	os.MkdirAll(reports, 0o750)
	r.files.ReportDirs = []string{reports}
	r.files.Retention, r.files.ReportRetention = 10*24*time.Hour, -1
	r.open(t)
	now := time.Now().UTC()
	old := filepath.Join(r.files.Dir, schema.DefaultOrg, "hr", archiveDir, now.AddDate(0, 0, -30).Format(dayLayout))
	os.MkdirAll(old, 0o750)
	rep := filepath.Join(reports, "old.csv.report.json")
	writeFile(t, rep, "{}")
	os.Chtimes(rep, now.AddDate(0, 0, -300), now.AddDate(0, 0, -300))
	r.files.Prune(now)
	if _, err := os.Stat(old); err == nil {
		t.Error("the old archive day was kept")
	}
	if _, err := os.Stat(rep); err != nil {
		t.Errorf("a report was pruned with reports kept for ever: %v", err)
	}
}
