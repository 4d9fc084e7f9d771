package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// reportsTo gives the source's folder a reports folder, as an SFTP account
// has, and returns it with a count of the writes into it by name.
func (r *filesRig) reportsTo(t testing.TB, source string) (string, func(name string) int) {
	t.Helper()
	dir := filepath.Join(r.root, "reports", source)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	writes := map[string]int{}
	for i := range r.files.Sources {
		if r.files.Sources[i].Config.Name != source {
			continue
		}
		fo := &r.files.Sources[i].Folders[0]
		fo.ReportsDir = dir
		fo.Reports = func(name string, data []byte) error {
			mu.Lock()
			writes[name]++
			mu.Unlock()
			return writeFileAtomic(filepath.Join(dir, name), data)
		}
	}
	return dir, func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return writes[name]
	}
}

// readReport reads a report file.
func readReport(t testing.TB, path string) Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rep
}

// drop returns the drop with that id from the rig's store.
func (r *filesRig) drop(t testing.TB, id int64) store.Drop {
	t.Helper()
	ctx := context.Background()
	org, err := r.in.Store.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.in.Store.Drop(ctx, org.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFiled waits until the decided drop's file and report are in where
// (under the day of its decision) and nothing of it is left in held/, and
// returns the report filed beside it.
func (r *filesRig) waitFiled(t testing.TB, source string, d store.Drop, where string) Report {
	t.Helper()
	decided, err := time.Parse(time.RFC3339Nano, d.DecidedAt)
	if err != nil {
		t.Fatalf("drop %d decided at %q: %v", d.ID, d.DecidedAt, err)
	}
	base := fmt.Sprintf("%s/%d-%s", decided.UTC().Format(dayLayout), d.ID, d.Name)
	waitFor(t, fmt.Sprintf("drop %d filed in %s", d.ID, where), func() bool {
		got := strings.Join(r.filed(t, source, where), " ")
		return strings.Contains(got, base+" ") && strings.Contains(got, base+ReportSuffix) &&
			!strings.Contains(strings.Join(r.filed(t, source, heldDir), " "), fmt.Sprintf("/%d-", d.ID))
	})
	return readReport(t, filepath.Join(r.files.Dir, schema.DefaultOrg, source, where, base+ReportSuffix))
}

// TestFilesHoldEmptyAndHeaderOnlyLikeIngest drops an empty file and a
// header-only file into a watched folder (real fsnotify, no announcement):
// the daemon holds both, as `muster ingest` does (OpenFile, then Ingest).
func TestFilesHoldEmptyAndHeaderOnlyLikeIngest(t *testing.T) {
	r := MustFiles(t, 50*time.Millisecond, "hr")
	r.open(t)
	r.put(t, "hr", "workday.csv", "day1.csv")
	r.waitDrops(t, "hr", 1)
	writeFile(t, filepath.Join(r.folder("hr"), "empty.csv"), "")
	ds := r.waitDrops(t, "hr", 2)
	r.put(t, "hr", "Email,First Name,Last Name\n", "header-only.csv")
	ds = r.waitDrops(t, "hr", 3)
	cli := MustIngester(t)
	for i, name := range []string{"empty.csv", "header-only.csv"} {
		d := ds[i+1]
		if d.Name != name || d.Status != store.DropHeld {
			t.Fatalf("%s: drop %s is %s, want held", name, d.Name, d.Status)
		}
		daemon, err := ParseReport(d.Report)
		if err != nil {
			t.Fatal(err)
		}
		// The same file through the command line's path, on a store where
		// the source holds the same people.
		held := filepath.Join(r.files.Dir, schema.DefaultOrg, "hr", heldDir,
			daemon.Started.UTC().Format(dayLayout), fmt.Sprintf("%d-%s", d.ID, d.Name))
		waitFor(t, name+" in held/", func() bool { return exists(held) })
		if i == 0 {
			seed, err := OpenFile("../samples/workday.csv", "day1.csv", schema.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			seed.Drop.Source = r.files.Sources[0].Config
			if _, err := cli.Ingest(context.Background(), seed.Drop, Options{By: "cli"}); err != nil {
				t.Fatal(err)
			}
			seed.Close()
		}
		df, err := OpenFile(held, name, schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		df.Drop.Source = r.files.Sources[0].Config
		rep, err := cli.Ingest(context.Background(), df.Drop, Options{By: "cli"})
		df.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Decision != Held || rep.Reason != daemon.Reason || rep.ContentHash != daemon.ContentHash ||
			problemCodes(rep.Problems) != problemCodes(daemon.Problems) {
			t.Fatalf("%s: ingest says %s (%s) %s %s, the daemon %s (%s) %s %s", name, rep.Decision, rep.Reason, rep.ContentHash,
				problemCodes(rep.Problems), daemon.Decision, daemon.Reason, daemon.ContentHash, problemCodes(daemon.Problems))
		}
	}
	if !strings.Contains(problemCodes(mustParse(t, ds[1].Report).Problems), string(schema.CodeEmptyFile)) {
		t.Fatalf("the empty file's report does not say it is empty: %s", ds[1].Report)
	}
}

func mustParse(t testing.TB, b []byte) *Report {
	t.Helper()
	rep, err := ParseReport(b)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func problemCodes(ps []schema.Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s/%s ", p.Code, p.Severity)
	}
	return b.String()
}

// holdOne applies a first file, then has the folder hold a file of the
// same name that keeps one person of its own (it would remove nearly
// everyone), and returns the held drop.
func holdOne(t testing.TB, r *filesRig, name string) store.Drop {
	t.Helper()
	n := len(r.drops(t, "hr"))
	r.files.Announce("", "hr", r.put(t, "hr", "workday.csv", name))
	r.waitDrops(t, "hr", n+1)
	r.files.Announce("", "hr", r.put(t, "hr", "Email,First Name,Last Name\nkeep-"+name+"@example.com,Keep,Me\n", name))
	ds := r.waitDrops(t, "hr", n+2)
	d := ds[n+1]
	if d.Status != store.DropHeld {
		t.Fatalf("drop %s is %s, want held", d.Name, d.Status)
	}
	return d
}

// otherProcess is what `muster drops approve|reject` does beside the
// daemon: its own store handle on the same file, its own Ingester (whose
// decisions the daemon is not told of).
func otherProcess(t testing.TB, r *filesRig) *Ingester {
	t.Helper()
	in := New(storetest.OpenAt(t, r.in.Store.Target()))
	in.TempDir = t.TempDir()
	return in
}

// checkUploaderReports checks the reports folder says what the filed
// report says, the errors CSV included.
func checkUploaderReports(t testing.TB, dir, name string, filed Report, writes func(string) int) {
	t.Helper()
	got := readReport(t, filepath.Join(dir, name+ReportSuffix))
	if got.DropID != filed.DropID || got.Decision != filed.Decision || got.Reason != filed.Reason {
		t.Fatalf("uploader's report: drop %d %s (%s), want drop %d %s (%s)", got.DropID, got.Decision, got.Reason,
			filed.DropID, filed.Decision, filed.Reason)
	}
	csv, err := os.ReadFile(filepath.Join(dir, name+ErrorsSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if string(csv) != string(ErrorsCSV(&filed)) {
		t.Fatalf("uploader's errors CSV:\n%s\nwant\n%s", csv, ErrorsCSV(&filed))
	}
	if writes(name+ReportSuffix) < 2 || writes(name+ErrorsSuffix) < 2 {
		t.Fatalf("the uploader's reports were not rewritten: %d and %d writes", writes(name+ReportSuffix), writes(name+ErrorsSuffix))
	}
}

// TestHeldDropFiledWhenDecidedByAnotherProcess approves one held drop and
// rejects another from a second store handle, as the CLI does while the
// daemon runs: the periodic check files each away with its final report,
// also for the uploader.
func TestHeldDropFiledWhenDecidedByAnotherProcess(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	r.files.HeldCheck = 20 * time.Millisecond
	reports, writes := r.reportsTo(t, "hr")
	// A file in held/ that is no drop of the source: left alone, said once.
	stray := filepath.Join(r.files.Dir, schema.DefaultOrg, "hr", heldDir, "2024-01-02", "999-stray.csv")
	os.MkdirAll(filepath.Dir(stray), 0o750)
	writeFile(t, stray, "email\n")
	r.open(t)
	cli := otherProcess(t, r)
	ctx := context.Background()

	// Rejected first: the source keeps its people, so the next file of
	// the same kind is held too.
	held := holdOne(t, r, "again.csv")
	before := len(activeKeys(t, r.in, org))
	if _, err := cli.Reject(ctx, schema.DefaultOrg, held.ID, "truncated export", Options{By: "bob"}); err != nil {
		t.Fatal(err)
	}
	filed := r.waitFiled(t, "hr", r.drop(t, held.ID), rejectedDir)
	if filed.Decision != Rejected || !strings.Contains(filed.Reason, "rejected by bob: truncated export") {
		t.Fatalf("rejected report: %s (%s)", filed.Decision, filed.Reason)
	}
	checkUploaderReports(t, reports, "again.csv", filed, writes)
	if n := len(activeKeys(t, r.in, org)); n != before || n < 10 {
		t.Fatalf("%d active after rejecting, want the %d of again.csv's first upload", n, before)
	}
	r.waitLog(t, fmt.Sprintf("held drop decided: filed\" source=default/hr file=again.csv drop=%d decision=rejected by=bob", held.ID))

	held = holdOne(t, r, "staff.csv")
	rep, err := cli.Approve(ctx, schema.DefaultOrg, held.ID, Options{By: "alice"})
	if err != nil || rep.Decision != Applied {
		t.Fatalf("approve: %v %+v", err, rep)
	}
	filed = r.waitFiled(t, "hr", r.drop(t, held.ID), archiveDir)
	if filed.Decision != Applied || filed.DropID != held.ID || !strings.Contains(filed.Reason, "approved by alice") {
		t.Fatalf("archived report: %s (%s)", filed.Decision, filed.Reason)
	}
	checkUploaderReports(t, reports, "staff.csv", filed, writes)
	if keys := activeKeys(t, r.in, org); len(keys) != 1 || keys[0] != "keep-staff.csv@example.com" {
		t.Fatalf("active after approving a drop that keeps one person: %v", keys)
	}
	r.waitLog(t, fmt.Sprintf("held drop decided: filed\" source=default/hr file=staff.csv drop=%d decision=applied by=alice", held.ID))
	if !exists(stray) || strings.Count(r.log.String(), "names no held drop of its source") != 1 {
		t.Fatalf("the stray file in held/ (kept: %v) is not warned about once:\n%s", exists(stray), r.log)
	}
}

// TestHeldDropFiledAtOnceWhenDecidedInProcess decides held drops through
// the daemon's own Ingester (as the HTTP API does), with no periodic check:
// Observe has them filed.
func TestHeldDropFiledAtOnceWhenDecidedInProcess(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	r.files.HeldCheck = time.Hour
	r.in.Observe = r.files.Observe
	reports, writes := r.reportsTo(t, "hr")
	r.open(t)
	ctx := context.Background()

	held := holdOne(t, r, "again.csv")
	if _, err := r.in.Reject(ctx, schema.DefaultOrg, held.ID, "", Options{By: "api"}); err != nil {
		t.Fatal(err)
	}
	filed := r.waitFiled(t, "hr", r.drop(t, held.ID), rejectedDir)
	if filed.Decision != Rejected {
		t.Fatalf("rejected report: %s (%s)", filed.Decision, filed.Reason)
	}
	checkUploaderReports(t, reports, "again.csv", filed, writes)

	held = holdOne(t, r, "staff.csv")
	if _, err := r.in.Approve(ctx, schema.DefaultOrg, held.ID, Options{By: "api"}); err != nil {
		t.Fatal(err)
	}
	filed = r.waitFiled(t, "hr", r.drop(t, held.ID), archiveDir)
	if filed.Decision != Applied {
		t.Fatalf("archived report: %s (%s)", filed.Decision, filed.Reason)
	}
	checkUploaderReports(t, reports, "staff.csv", filed, writes)
}

// TestHeldDropDecidedWhileStoppedFiledOnStart decides held drops while the
// daemon is down: the next start files them away, and a held drop still
// waiting stays in held/.
func TestHeldDropDecidedWhileStoppedFiledOnStart(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	reports, writes := r.reportsTo(t, "hr")
	r.open(t)
	approved := holdOne(t, r, "a.csv")
	rejected := holdOne(t, r, "b.csv")
	waiting := holdOne(t, r, "c.csv")
	r.files.Close()

	cli := otherProcess(t, r)
	ctx := context.Background()
	// Approving b would conflict once a is applied; reject it first.
	if _, err := cli.Reject(ctx, schema.DefaultOrg, rejected.ID, "", Options{By: "cli"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Approve(ctx, schema.DefaultOrg, approved.ID, Options{By: "cli"}); err != nil {
		t.Fatal(err)
	}
	next := &Files{Ingester: r.in, Dir: r.files.Dir, Sources: r.files.Sources, Debounce: time.Hour,
		HeldCheck: time.Hour, Logger: r.files.Logger}
	if err := next.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Close() })
	filed := r.waitFiled(t, "hr", r.drop(t, approved.ID), archiveDir)
	checkUploaderReports(t, reports, "a.csv", filed, writes)
	filed = r.waitFiled(t, "hr", r.drop(t, rejected.ID), rejectedDir)
	checkUploaderReports(t, reports, "b.csv", filed, writes)
	still := strings.Join(r.filed(t, "hr", heldDir), " ")
	if !strings.Contains(still, fmt.Sprintf("%d-c.csv", waiting.ID)) || strings.Count(still, "/") != 2 {
		t.Fatalf("held/ holds %q, want c.csv and its report only", still)
	}
	if got := readReport(t, filepath.Join(reports, "c.csv"+ReportSuffix)); got.Decision != Held {
		t.Fatalf("the waiting drop's uploader report says %s", got.Decision)
	}
}

// TestHeldDropLaterUploadOfTheSameNameKeepsItsReport: once a newer upload
// of the same name has its report in reports/, deciding the older held
// drop does not overwrite what the uploader reads.
func TestHeldDropLaterUploadOfTheSameNameKeepsItsReport(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	r.files.HeldCheck = 20 * time.Millisecond
	reports, writes := r.reportsTo(t, "hr")
	r.open(t)
	held := holdOne(t, r, "staff.csv")
	r.files.Announce("", "hr", r.put(t, "hr", "bamboohr.csv", "staff.csv"))
	later := r.waitDrops(t, "hr", 3)[2]
	if _, err := otherProcess(t, r).Reject(context.Background(), schema.DefaultOrg, held.ID, "", Options{}); err != nil {
		t.Fatal(err)
	}
	r.waitFiled(t, "hr", r.drop(t, held.ID), rejectedDir)
	got := readReport(t, filepath.Join(reports, "staff.csv"+ReportSuffix))
	if got.DropID != later.ID || writes("staff.csv"+ReportSuffix) != 3 {
		t.Fatalf("the uploader reads drop %d after %d writes, want the later upload's %d after 3", got.DropID,
			writes("staff.csv"+ReportSuffix), later.ID)
	}
}

// TestPruneKeepsUndecidedHeldDrops: retention prunes filed drops, but a held
// drop's file and report wait in held/ for a decision however old they are;
// pruning them would lose the file an admin reviews and the report the
// uploader is given once the drop is decided.
func TestPruneKeepsUndecidedHeldDrops(t *testing.T) {
	r := MustFiles(t, time.Hour, "hr")
	r.files.HeldCheck = time.Hour
	r.in.Observe = r.files.Observe
	r.open(t)
	held := holdOne(t, r, "staff.csv")
	heldRoot := filepath.Join(r.files.Dir, schema.DefaultOrg, "hr", heldDir)
	days, err := os.ReadDir(heldRoot)
	if err != nil || len(days) != 1 {
		t.Fatalf("held folder: %v %v", days, err)
	}
	r.files.Retention = 10 * 24 * time.Hour
	later := time.Now().Add(30 * 24 * time.Hour)
	r.files.Prune(later)
	base := filepath.Join(heldRoot, days[0].Name(), fmt.Sprintf("%d-%s", held.ID, held.Name))
	for _, p := range []string{base, base + ReportSuffix} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("an undecided held drop was pruned: %v", err)
		}
	}
	if _, err := r.in.Approve(context.Background(), schema.DefaultOrg, held.ID, Options{By: "api"}); err != nil {
		t.Fatal(err)
	}
	if filed := r.waitFiled(t, "hr", r.drop(t, held.ID), archiveDir); filed.Decision != Applied {
		t.Fatalf("filed report: %s (%s)", filed.Decision, filed.Reason)
	}
}
