package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"muster/schema"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/golden")

// TestSampleReportsGolden ingests every sample export (and every broken
// one) into a fresh store and compares its report with a golden file, so
// the README's examples and the reports people read cannot drift unseen.
// Run with -update to accept a change.
func TestSampleReportsGolden(t *testing.T) {
	files, _ := filepath.Glob("../samples/*.*")
	broken, _ := filepath.Glob("../samples/broken/*.*")
	files = append(files, broken...)
	if len(files) < 5 {
		t.Fatalf("found %d samples", len(files))
	}
	for _, path := range files {
		if strings.HasPrefix(filepath.Base(path), ".") || filepath.Ext(path) == ".toml" {
			continue // .gitattributes; the sample config is not an export
		}
		name := strings.TrimPrefix(strings.ReplaceAll(strings.TrimPrefix(path, "../samples/"), "/", "-"), "")
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := FileDrop(f, filepath.Base(path), "sha256:"+name, schema.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d.Source = SourceConfig{Name: "sample"}
			rep, err := MustIngester(t).Ingest(context.Background(), d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(name, "broken-") && rep.Decision == Applied {
				t.Fatalf("broken sample applied: %s", rep.Reason)
			}
			rep.Started, rep.Timings = time.Time{}, Timings{}
			got, _ := json.MarshalIndent(rep, "", "  ")
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o750)
				if err := os.WriteFile(golden, append(got, '\n'), 0o640); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden report (run go test ./ingest -run Golden -update): %v", err)
			}
			if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
				t.Fatalf("report differs from %s:\n%s", golden, got)
			}
		})
	}
}
