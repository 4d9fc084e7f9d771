package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHeldDropsFiledWhenDecidedByTheCLI: the daemon holds an empty file
// uploaded over SFTP and one dropped into a folder (as `muster ingest`
// holds such a file); an admin decides them with `muster drops` (another
// process); the daemon then files each away (archive/ for the approved
// one, rejected/ for the other) and rewrites the uploader's reports with
// the final outcome. A file ingested by hand stays where it was.
func TestHeldDropsFiledWhenDecidedByTheCLI(t *testing.T) {
	needSFTP(t)
	data := t.TempDir()
	cfg := config(t, data, "")
	d := MustServe(t, data, t.TempDir(), nil, "-config", cfg)
	samples, local := filepath.Join(repo, "samples"), t.TempDir()
	d.sftp("workday", samples, "put workday.csv")
	waitDecided(t, data, 1)
	if err := os.WriteFile(filepath.Join(local, "workday.csv"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	d.sftp("workday", local, "put workday.csv")
	writeAtomic(t, filepath.Join(data, "admin-drop", "empty.csv"), "")
	ds := waitDecided(t, data, 3)
	for _, x := range ds[1:] {
		if x.Status != "held" {
			t.Fatalf("empty file %s of %s: %s (%s), want held", x.Name, x.Source, x.Status, x.Report.Reason)
		}
	}
	// By hand: held too, and the file is only read.
	byHand := filepath.Join(local, "header-only.csv")
	if err := os.WriteFile(byHand, []byte("Email,First Name\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, out := musterCode(t, "ingest", "-config", cfg, "-source", "admin", byHand); code != 3 || !strings.Contains(out, "held") {
		t.Fatalf("muster ingest of a header-only file: exit %d\n%s", code, out)
	}
	if code, out := musterCode(t, "drops", "reject", "-config", cfg, "-reason", "header only", "4"); code != 0 {
		t.Fatalf("reject 4: exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(byHand); err != nil || string(b) != "Email,First Name\n" {
		t.Fatalf("the file ingested by hand was moved or changed: %v %q", err, b)
	}

	workday, admin := ds[1], ds[2]
	if code, out := musterCode(t, "drops", "approve", "-config", cfg, itoa(workday.ID)); code != 0 {
		t.Fatalf("approve: exit %d\n%s", code, out)
	}
	if code, out := musterCode(t, "drops", "reject", "-config", cfg, "-reason", "truncated", itoa(admin.ID)); code != 0 {
		t.Fatalf("reject: exit %d\n%s", code, out)
	}
	drops := filepath.Join(data, "drops", "default")
	filedIn := func(source, where, name string) bool {
		for _, p := range files(filepath.Join(drops, source)) {
			if strings.HasPrefix(p, where+"/") && strings.HasSuffix(p, "/"+name) {
				return true
			}
		}
		return false
	}
	waitFor(t, "the held drops filed away", func() bool {
		return filedIn("workday", "archive", itoa(workday.ID)+"-workday.csv") &&
			filedIn("workday", "archive", itoa(workday.ID)+"-workday.csv.report.json") &&
			filedIn("admin", "rejected", itoa(admin.ID)+"-empty.csv") &&
			filedIn("admin", "rejected", itoa(admin.ID)+"-empty.csv.report.json") &&
			len(files(filepath.Join(drops, "workday", "held")))+len(files(filepath.Join(drops, "admin", "held"))) == 0
	})
	// What the uploader reads back, with its own client.
	got := t.TempDir()
	var rep struct {
		DropID   int64  `json:"drop_id"`
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	waitFor(t, "the uploader's report to say applied", func() bool {
		d.sftp("workday", got, "get reports/workday.csv.report.json", "get reports/workday.csv.errors.csv")
		b, _ := os.ReadFile(filepath.Join(got, "workday.csv.report.json"))
		return json.Unmarshal(b, &rep) == nil && rep.Decision == "applied"
	})
	if rep.DropID != workday.ID || !strings.Contains(rep.Reason, "approved by cli:") {
		t.Fatalf("uploader's report: %+v", rep)
	}
	if b, _ := os.ReadFile(filepath.Join(got, "workday.csv.errors.csv")); !strings.Contains(string(b), "empty_file") {
		t.Fatalf("uploader's errors CSV:\n%s", b)
	}
	for _, want := range []string{"held drop decided: filed", "drop=" + itoa(workday.ID), "decision=applied",
		"drop=" + itoa(admin.ID), "decision=rejected"} {
		if !strings.Contains(d.stderr.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, d.stderr)
		}
	}
	if n := activeCount(t, data); n != 0 {
		t.Fatalf("%d active after approving workday's empty file", n)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
