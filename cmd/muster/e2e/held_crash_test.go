package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHeldDropKeepsItsFileAcrossAKill: muster is killed after a drop was
// recorded as held and before its file was filed in held/ (at the start of
// filing, and after the report was written, before the file moved). On
// restart the file in the spool is filed as that held drop: one drop, its
// file and report in held/, no duplicate.
func TestHeldDropKeepsItsFileAcrossAKill(t *testing.T) {
	for _, point := range []string{"file-begin", "file-moving"} {
		t.Run(point, func(t *testing.T) {
			data := t.TempDir()
			folder := filepath.Join(data, "in")
			cfg := filepath.Join(t.TempDir(), "muster.toml")
			os.WriteFile(cfg, []byte("[[sources]]\nname = \"hr\"\nkind = \"folder\"\nfolder = \""+folder+
				"\"\n[watch]\ndebounce = \"100ms\"\n"), 0o600)
			d := MustServe(t, data, t.TempDir(), []string{"MUSTER_TEST_CRASH_AT=" + point}, "-config", cfg)
			// A header alone: held for an admin (a full snapshot of nobody).
			tmp := filepath.Join(data, "header.csv")
			os.WriteFile(tmp, []byte("Email,First Name,Last Name\n"), 0o640)
			if err := os.Rename(tmp, filepath.Join(folder, "header.csv")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the pause at "+point, func() bool {
				return strings.Contains(d.stderr.String(), "MUSTER_TEST_CRASH_AT "+point)
			})
			d.kill()
			if ds := drops(t, data); len(ds) != 1 || ds[0].Status != "held" {
				t.Fatalf("drops at the kill: %+v", ds)
			}
			MustServe(t, data, t.TempDir(), nil, "-config", cfg)
			held := filepath.Join(data, "drops", "default", "hr", "held")
			waitFor(t, "the file in held/", func() bool {
				for _, f := range files(held) {
					if strings.HasSuffix(f, "-header.csv") {
						return true
					}
				}
				return false
			})
			ds := drops(t, data)
			if len(ds) != 1 || ds[0].Status != "held" {
				t.Fatalf("after the restart: %+v (want the one held drop, no duplicate)", ds)
			}
			got := files(held)
			if len(got) != 2 {
				t.Errorf("held/ holds %v, want the file and its report", got)
			}
			if spool := files(filepath.Join(data, "drops", "default", "hr", "spool")); len(spool) != 0 {
				t.Errorf("spool still holds %v", spool)
			}
		})
	}
}
