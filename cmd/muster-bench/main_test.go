package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The bench runs end to end on a small export: every figure printed, the
// summary table at the end, the checks it makes of muster's reports (a
// next day applied, a duplicate, a re-export that changes nothing) held.
func TestBenchSmall(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 tool is not installed")
	}
	bin := filepath.Join(t.TempDir(), "muster")
	if out, err := exec.Command("go", "build", "-o", bin, "muster/cmd/muster").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var out, log bytes.Buffer
	err := run([]string{"-rows", "400", "-rounds", "2", "-reads", "-bin", bin, "-dir", t.TempDir()}, &out, &log)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), log.String())
	}
	for _, want := range []string{"sqlite3 .import (email primary key)", "muster ingest, next day (day 1)",
		"next day: applied; added 2, updated 2, removed 2, unchanged 396", "/v1/export, CSV", "sqlite3 -json",
		"one page of 1000", "| first ingest 400: wall |", "| /v1/export 400 audience: wall |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output has no %q:\n%s", want, out.String())
		}
	}
	if err := run([]string{"-rows", "5"}, &out, &log); err == nil {
		t.Error("5 rows accepted")
	}
}
