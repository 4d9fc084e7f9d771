package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of samples/golden")

const samplesDir = "../samples"

// sampleFiles lists every sample export: the realistic ones in samples/
// and the broken ones in samples/broken/.
func sampleFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{samplesDir, filepath.Join(samplesDir, "broken")} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".csv") || strings.HasSuffix(e.Name(), ".txt")) {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(files) < 6 {
		t.Fatalf("only %d sample files", len(files))
	}
	return files
}

// TestSamples decodes every sample and compares the result with its golden
// file, so what the README and the tests say about samples/ cannot go
// stale. Run `go test ./schema -run TestSamples -update` after a deliberate
// change, and read the diff.
func TestSamples(t *testing.T) {
	for _, path := range sampleFiles(t) {
		broken := filepath.Base(filepath.Dir(path)) == "broken"
		name := filepath.Base(path)
		if broken {
			name = "broken-" + name
		}
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := Check(f, DecodeOptions{}, DefaultMaxInvalidShare, true)
			if err != nil {
				t.Fatal(err)
			}
			// The realistic samples are accepted; every broken one is refused,
			// but the empty file, which is held as a header-only one is.
			held := name == "broken-empty.csv"
			if res.Refused != (broken && !held) || res.Held != held {
				t.Errorf("refused = %v, held = %v, want %v, %v: %v", res.Refused, res.Held, broken && !held, held, res.Reasons)
			}
			if !broken && (res.Valid == 0 || len(res.File.Ignored) == len(res.File.Columns)) {
				t.Errorf("sample decodes to %d valid records", res.Valid)
			}
			got, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join(samplesDir, "golden", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s decodes differently from %s (run with -update and read the diff):\n%s",
					path, golden, firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return ""
}
