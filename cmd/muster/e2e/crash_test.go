package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"muster/samples/gen"
)

// bigRows is the size of the large drops: 200,000 rows, or 50,000 when the
// daemon is built with the race detector (about 5x slower), to keep the
// suite within its time.
var bigRows = map[bool]int{false: 200_000, true: 50_000}[raceEnabled]

// TestCrashWhileApplyingIsRedoneOnce SIGKILLs muster at points of a drop's
// apply (the pipeline's test hook pauses there and says so on stderr, so
// the kill lands deterministically), restarts it, and checks that the
// store holds the drop applied exactly once and nothing is left over: in
// the middle of the transaction of a large drop (nothing of it committed:
// redone), and after the commit but before the file was filed away (the
// redo is a duplicate).
func TestCrashWhileApplyingIsRedoneOnce(t *testing.T) {
	for _, tc := range []struct {
		point  string
		rows   int
		redoAs string // the second drop's status
		stale  string // the first drop's status after the restart
		drops  int
	}{
		{point: "apply-half", rows: bigRows, redoAs: "applied", stale: "rejected", drops: 2},
		{point: "apply-done", rows: 2_000, redoAs: "duplicate", stale: "applied", drops: 2},
	} {
		t.Run(tc.point, func(t *testing.T) {
			data := t.TempDir()
			folder := filepath.Join(data, "in")
			cfg := filepath.Join(t.TempDir(), "muster.toml")
			os.WriteFile(cfg, []byte(`[[sources]]
name = "hr"
kind = "folder"
folder = "`+folder+`"
[watch]
debounce = "100ms"
`), 0o600)
			// The export is written outside and renamed in, as a careful
			// HR job does.
			big := filepath.Join(data, "export.csv")
			f, err := os.Create(big)
			if err != nil {
				t.Fatal(err)
			}
			if err := gen.Write(f, gen.Options{Rows: tc.rows, Seed: 7}); err != nil {
				t.Fatal(err)
			}
			f.Close()
			d := MustServe(t, data, t.TempDir(), []string{"MUSTER_TEST_CRASH_AT=" + tc.point}, "-config", cfg)
			if err := os.Rename(big, filepath.Join(folder, "export.csv")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the pause at "+tc.point, func() bool {
				return strings.Contains(d.stderr.String(), "MUSTER_TEST_CRASH_AT "+tc.point)
			})
			d.kill()
			before := drops(t, data)
			if len(before) != 1 {
				t.Fatalf("drops at the crash: %+v", before)
			}
			if tc.point == "apply-half" && before[0].Status != "received" {
				t.Fatalf("killed mid-apply, but the drop is %s", before[0].Status)
			}
			MustServe(t, data, t.TempDir(), nil, "-config", cfg)
			ds := waitDecided(t, data, tc.drops)
			if ds[0].Status != tc.stale || ds[1].Status != tc.redoAs || ds[0].ContentHash != ds[1].ContentHash {
				t.Fatalf("after the restart: %+v", ds)
			}
			applied := 0
			for _, x := range ds {
				if x.Status == "applied" {
					applied++
				}
			}
			if applied != 1 {
				t.Fatalf("%d applied drops of the file, want exactly 1: %+v", applied, ds)
			}
			if tc.point == "apply-half" && !strings.Contains(show(t, data, ds[0].ID), "interrupted") {
				t.Fatalf("the interrupted drop does not say so: %s", show(t, data, ds[0].ID))
			}
			if n := activeCount(t, data); n != int64(tc.rows) {
				t.Fatalf("%d active recipients, want %d", n, tc.rows)
			}
			// Nothing left unprocessed: the folder and the spool are empty,
			// the file is archived once.
			waitFor(t, "the file archived", func() bool {
				return len(files(filepath.Join(data, "drops", "default", "hr", "archive"))) >= 2
			})
			if left := files(folder); len(left) != 0 {
				t.Fatalf("left in the folder: %v", left)
			}
			if left := files(filepath.Join(data, "drops", "default", "hr", "spool")); len(left) != 0 {
				t.Fatalf("left in the spool: %v", left)
			}
			got := files(filepath.Join(data, "drops", "default", "hr", "archive"))
			csvs := 0
			for _, p := range got {
				if strings.HasSuffix(p, "-export.csv") {
					csvs++
				}
			}
			if csvs != 1 {
				t.Fatalf("archive: %v, want the file once", got)
			}
		})
	}
}

// show returns `muster drops show -json ID`.
func show(t testing.TB, data string, id int64) string {
	t.Helper()
	out := muster(t, "drops", "show", "-json", "-data", data, strconv.FormatInt(id, 10))
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSIGTERMDuringDropStopsCleanly stops muster with SIGTERM while a
// large drop is in progress, with a short grace: muster either finishes the
// drop or sets it aside, and exits 0 either way; the next start takes the
// file again if needed, and the drop is applied exactly once.
func TestSIGTERMDuringDropStopsCleanly(t *testing.T) {
	rows := bigRows / 2
	data := t.TempDir()
	folder := filepath.Join(data, "in")
	cfg := filepath.Join(t.TempDir(), "muster.toml")
	os.WriteFile(cfg, []byte("log_level = \"debug\"\n[[sources]]\nname = \"hr\"\nkind = \"folder\"\nfolder = \""+folder+
		"\"\n[watch]\ndebounce = \"100ms\"\ngrace = \"100ms\"\n"), 0o600)
	big := filepath.Join(data, "export.csv")
	f, _ := os.Create(big)
	if err := gen.Write(f, gen.Options{Rows: rows, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d := MustServe(t, data, t.TempDir(), nil, "-config", cfg)
	if err := os.Rename(big, filepath.Join(folder, "export.csv")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drop in progress", func() bool { return strings.Contains(d.stderr.String(), `msg="drop progress"`) })
	d.stop() // exit status 0, or stop fails the test
	if _, err := os.Stat(filepath.Join(data, "serve.json")); err == nil {
		t.Fatal("serve.json left after a clean stop")
	}
	MustServe(t, data, t.TempDir(), nil, "-config", cfg)
	var ds []drop
	waitFor(t, "the drop applied", func() bool {
		ds = drops(t, data)
		for _, x := range ds {
			if x.Status == "received" {
				return false
			}
		}
		return len(ds) > 0 && ds[len(ds)-1].Status == "applied"
	})
	applied := 0
	for _, x := range ds {
		if x.Status == "applied" {
			applied++
		}
	}
	if applied != 1 || activeCount(t, data) != int64(rows) {
		t.Fatalf("drops %+v, %d active", ds, activeCount(t, data))
	}
	if len(ds) == 2 && !strings.Contains(show(t, data, ds[0].ID), "interrupted") {
		t.Fatalf("the set-aside drop does not say so: %+v", ds)
	}
}
