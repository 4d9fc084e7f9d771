package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"muster/samples/gen"
)

// BenchmarkUploadToCommit measures, for a 10,000-row export, the time from
// the end of its SFTP upload (OpenSSH's sftp has returned: the file is
// closed and committed by the server) to its drop being committed in the
// store (the drop's decided_at, written in the apply's transaction), and
// reports the median and the worst run.
//
//   - new: each run uploads a different export to its own account and
//     source, so every drop adds 10,000 people (the org grows by 10,000 a
//     run).
//
//   - nightly: one account uploads the next day's export of the same
//     10,000 people (1% changed, 0.5% left, 0.5% joined), then the day
//     before again, alternately.
//
//     go test -run X -bench UploadToCommit -benchtime 7x ./cmd/muster/e2e
func BenchmarkUploadToCommit(b *testing.B) {
	needSFTP(b)
	b.Run("new", func(b *testing.B) {
		latency(b, b.N, false, func(i int) (string, gen.Options) {
			return fmt.Sprintf("a%d", i), gen.Options{Rows: 10_000, Seed: 100 + i}
		})
	})
	b.Run("nightly", func(b *testing.B) {
		latency(b, 1, true, func(i int) (string, gen.Options) {
			return "a0", gen.Options{Rows: 10_000, Seed: 100, Day: (i + 1) % 2}
		})
	})
}

// latency runs b.N uploads: run i goes to account and file of upload(i).
// For nightly runs, a first upload (day 0) is done before timing.
func latency(b *testing.B, accounts int, nightly bool, upload func(i int) (string, gen.Options)) {
	data, work := b.TempDir(), b.TempDir()
	pub, _ := os.ReadFile(keyFile + ".pub")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[sftp]\nlisten = \"127.0.0.1:0\"\n")
	for i := range accounts {
		fmt.Fprintf(&cfg, "[[sources]]\nname = \"s%d\"\nkind = \"sftp\"\n[[sftp.accounts]]\nname = \"a%d\"\nsource = \"s%d\"\nkeys = [%q]\n",
			i, i, i, strings.TrimSpace(string(pub)))
	}
	write := func(name string, o gen.Options) {
		f, err := os.Create(filepath.Join(work, name))
		if err != nil {
			b.Fatal(err)
		}
		if err := gen.Write(f, o); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	for i := range b.N {
		_, o := upload(i)
		write(fmt.Sprintf("export-%d.csv", i), o)
	}
	p := filepath.Join(work, "muster.toml")
	os.WriteFile(p, []byte(cfg.String()), 0o600)
	d := MustServe(b, data, work, nil, "-config", p)
	done := 0
	if nightly {
		write("day0.csv", gen.Options{Rows: 10_000, Seed: 100})
		d.sftp("a0", work, "put day0.csv")
		done = 1
		waitDecided(b, data, done)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		account, _ := upload(i)
		d.sftp(account, work, fmt.Sprintf("put export-%d.csv", i))
		uploaded := time.Now()
		ds := waitDecided(b, data, done+i+1)
		var got struct {
			Drop struct {
				Status    string `json:"status"`
				DecidedAt string `json:"decided_at"`
				Report    struct {
					Timings map[string]int64 `json:"timings"`
				} `json:"report"`
			} `json:"drop"`
		}
		last := ds[len(ds)-1]
		json.Unmarshal([]byte(show(b, data, last.ID)), &got)
		at, err := time.Parse(time.RFC3339Nano, got.Drop.DecidedAt)
		if err != nil || got.Drop.Status != "applied" {
			b.Fatalf("drop %d: %s %v; drops %+v", last.ID, got.Drop.Status, err, ds)
		}
		lat = append(lat, at.Sub(uploaded))
		b.Logf("run %d: %v after the upload; pipeline %v", i, at.Sub(uploaded).Round(time.Millisecond), got.Drop.Report.Timings)
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "ms-max")
}
