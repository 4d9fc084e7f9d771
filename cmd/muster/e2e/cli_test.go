package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// musterCode runs the muster binary and returns its exit code and stdout.
func musterCode(t testing.TB, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "MUSTER_CONFIG=", "MUSTER_DATA=")
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out) + string(ee.Stderr)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestCLIBesideTheDaemonWithItsConfig runs the command line, as separate
// processes, with the running daemon's config: a file ingested by hand is
// read with the source's settings (semicolons, a header override, day-first
// dates) into the daemon's store, a drop the daemon held is approved from
// the command line, and the daemon goes on taking files.
func TestCLIBesideTheDaemonWithItsConfig(t *testing.T) {
	data, root := t.TempDir(), t.TempDir()
	folder := filepath.Join(root, "drop")
	cfg := filepath.Join(root, "muster.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = %q
[watch]
debounce = "100ms"
[attributes]
enabled = ["employment_start_date"]
[[sources]]
name = "hr"
kind = "folder"
folder = %q
delimiter = ";"
day_first = true
[sources.columns]
"Kontakt" = "email"
"Eintritt" = "employment_start_date"
`, data, folder)), 0o600); err != nil {
		t.Fatal(err)
	}
	MustServe(t, data, t.TempDir(), nil, "-config", cfg)
	const header = "Kontakt;Vorname;Nachname;Eintritt\n"
	var rows strings.Builder
	for i := range 10 {
		fmt.Fprintf(&rows, "p%d@example.com;P%d;Lee, Jr.;03/04/2024\n", i, i)
	}
	writeAtomic(t, filepath.Join(folder, "day0.csv"), header+rows.String())
	if ds := waitDecided(t, data, 1); ds[0].Status != "applied" {
		t.Fatalf("day 0: %+v", ds[0])
	}
	// By hand, the next day: one person left, one date changed.
	day1 := filepath.Join(t.TempDir(), "day1.csv")
	next := strings.Replace(rows.String(), "p9@example.com;P9;Lee, Jr.;03/04/2024\n", "", 1)
	next = strings.Replace(next, "p0@example.com;P0;Lee, Jr.;03/04/2024", "p0@example.com;P0;Lee, Jr.;05/04/2024", 1)
	if err := os.WriteFile(day1, []byte(header+next), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := musterCode(t, "ingest", "-config", cfg, "-source", "hr", day1); code != 0 || !strings.Contains(out, "updated 1, removed 1") {
		t.Fatalf("ingest: exit %d\n%s", code, out)
	}
	if code, out := musterCode(t, "recipients", "show", "-config", cfg, "p0@example.com"); code != 0 || !strings.Contains(out, "employment_start_date: 2024-04-05") {
		t.Fatalf("p0: exit %d\n%s", code, out)
	}
	// The daemon holds a file removing most people; the CLI approves it.
	writeAtomic(t, filepath.Join(folder, "day2.csv"), header+"p1@example.com;P1;Lee;03/04/2024\n")
	if ds := waitDecided(t, data, 3); ds[2].Status != "held" {
		t.Fatalf("day 2: %+v", ds[2])
	}
	if code, out := musterCode(t, "drops", "approve", "-config", cfg, "3"); code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("approve: exit %d\n%s", code, out)
	}
	if n := activeCount(t, data); n != 1 {
		t.Fatalf("%d active after the approval, want 1", n)
	}
	writeAtomic(t, filepath.Join(folder, "day3.csv"), header+rows.String())
	if ds := waitDecided(t, data, 4); ds[3].Status != "applied" || activeCount(t, data) != 10 {
		t.Fatalf("day 3: %+v", ds[3])
	}
}
