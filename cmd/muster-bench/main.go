// Command muster-bench measures muster's ingest of a large HR export
// against the sqlite3 command-line tool's .import of the same file into a
// table whose email column is the primary key, side by side in one run:
//
//	go run ./cmd/muster-bench -rows 1000000 -runs 3
//
// It builds ./cmd/muster, writes the deterministic day-0 export and its
// next-day version with samples/gen, then for each run, in fresh
// directories: sqlite3 .import of day 0; muster ingest of day 0 (first
// ingest); muster ingest of day 1 (the next day). It prints the median wall
// time, the median user CPU time and the peak memory of each, and the
// ratios to .import. The machine may be shared: user CPU is the steadier
// figure.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"muster/samples/gen"
)

type sample struct {
	wall, user, sys time.Duration
	rssKB           int64
}

func main() {
	rows := flag.Int("rows", 1000000, "people in the export")
	runs := flag.Int("runs", 3, "runs; medians are reported")
	dir := flag.String("dir", "bench-out", "working directory (files and stores are written here)")
	keep := flag.Bool("keep", false, "keep the generated files between invocations")
	flag.Parse()
	if err := run(*rows, *runs, *dir, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "muster-bench:", err)
		os.Exit(1)
	}
}

func run(rows, runs int, dir string, keep bool) error {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return fmt.Errorf("the sqlite3 command-line tool is needed (apt-get install sqlite3)")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	bin := filepath.Join(dir, "muster")
	fmt.Printf("building %s\n", bin)
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/muster").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	day0, day1 := filepath.Join(dir, "day0.csv"), filepath.Join(dir, "day1.csv")
	for d, p := range []string{day0, day1} {
		if _, err := os.Stat(p); err == nil && keep {
			continue
		}
		fmt.Printf("writing %s (%d rows, day %d)\n", p, rows, d)
		if err := writeGen(p, rows, d); err != nil {
			return err
		}
	}
	st, _ := os.Stat(day0)
	fmt.Printf("file: %d rows, %d MB\n", rows, st.Size()>>20)
	var imp, first, next []sample
	var lastReport string
	for i := 0; i < runs; i++ {
		work := filepath.Join(dir, fmt.Sprintf("run%d", i))
		os.RemoveAll(work)
		if err := os.MkdirAll(work, 0o750); err != nil {
			return err
		}
		s, _, err := measure(importCmd(filepath.Join(work, "import.db"), day0))
		if err != nil {
			return fmt.Errorf("sqlite3 .import: %w", err)
		}
		imp = append(imp, s)
		data := filepath.Join(work, "data")
		s, _, err = measure(ingestCmd(bin, data, day0))
		if err != nil {
			return fmt.Errorf("muster ingest day0: %w", err)
		}
		first = append(first, s)
		s, out, err := measure(ingestCmd(bin, data, day1))
		if err != nil {
			return fmt.Errorf("muster ingest day1: %w", err)
		}
		next = append(next, s)
		lastReport = out
		fmt.Printf("run %d: import %v (user %v)  first ingest %v (user %v, %d MB)  next day %v (user %v, %d MB)\n", i+1,
			imp[i].wall.Round(time.Millisecond), imp[i].user.Round(time.Millisecond),
			first[i].wall.Round(time.Millisecond), first[i].user.Round(time.Millisecond), first[i].rssKB>>10,
			next[i].wall.Round(time.Millisecond), next[i].user.Round(time.Millisecond), next[i].rssKB>>10)
		os.RemoveAll(work)
	}
	mi, mf, mn := median(imp), median(first), median(next)
	fmt.Println()
	fmt.Printf("%-36s %9s %9s %9s %8s\n", "median of "+fmt.Sprint(runs)+" runs", "wall", "user CPU", "sys CPU", "peak MB")
	for _, l := range []struct {
		name string
		s    sample
	}{{"sqlite3 .import (email PRIMARY KEY)", mi}, {"muster ingest, first (day 0)", mf}, {"muster ingest, next day (day 1)", mn}} {
		fmt.Printf("%-36s %9v %9v %9v %8d\n", l.name, l.s.wall.Round(10*time.Millisecond), l.s.user.Round(10*time.Millisecond),
			l.s.sys.Round(10*time.Millisecond), l.s.rssKB>>10)
	}
	fmt.Printf("first ingest / .import: %.2fx wall, %.2fx user CPU (target <= 1.5x)\n", ratio(mf.wall, mi.wall), ratio(mf.user, mi.user))
	fmt.Printf("next day / .import:     %.2fx wall, %.2fx user CPU (target <= 0.3x)\n", ratio(mn.wall, mi.wall), ratio(mn.user, mi.user))
	var rep struct {
		Decision string
		Counts   map[string]int64
	}
	if json.Unmarshal([]byte(lastReport), &rep) == nil {
		c := gen.ChangesFor(rows)
		fmt.Printf("next day: %s; added %d, updated %d, removed %d, unchanged %d (the generator changed %d, removed %d, added %d)\n",
			rep.Decision, rep.Counts["added"], rep.Counts["updated"], rep.Counts["removed"], rep.Counts["unchanged"],
			c.Changed, c.Removed, c.Added)
	}
	return nil
}

func writeGen(path string, rows, day int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gen.Write(f, gen.Options{Rows: rows, Seed: 1, Day: day}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// importCmd is the least a store keyed by email must do: every row into a
// table whose email column is the primary key.
func importCmd(db, file string) *exec.Cmd {
	cols := make([]string, len(gen.Header))
	for i, h := range gen.Header {
		cols[i] = fmt.Sprintf("%q TEXT", h)
		if h == "Work_Email" {
			cols[i] += " PRIMARY KEY"
		}
	}
	script := fmt.Sprintf("CREATE TABLE people(%s);\n.import --csv --skip 1 %s people\n", strings.Join(cols, ", "), file)
	cmd := exec.Command("sqlite3", db)
	cmd.Stdin = strings.NewReader(script)
	return cmd
}

// ingestCmd ingests a file. The next-day file removes 0.5% of people, over
// the default guard of 500 for a million: the bench raises it so the drop
// applies (as an operator of a source that size would).
func ingestCmd(bin, data, file string) *exec.Cmd {
	return exec.Command(bin, "ingest", "-data", data, "-source", "hr", "-max-remove", "20000", "-json", file)
}

func measure(cmd *exec.Cmd) (sample, string, error) {
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, out.String(), fmt.Errorf("%v\n%s", err, out.String())
	}
	s := sample{wall: wall, user: cmd.ProcessState.UserTime(), sys: cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.rssKB = ru.Maxrss
	}
	return s, out.String(), nil
}

func median(ss []sample) sample {
	pick := func(f func(sample) int64) int64 {
		v := make([]int64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return sample{
		wall:  time.Duration(pick(func(s sample) int64 { return int64(s.wall) })),
		user:  time.Duration(pick(func(s sample) int64 { return int64(s.user) })),
		sys:   time.Duration(pick(func(s sample) int64 { return int64(s.sys) })),
		rssKB: pick(func(s sample) int64 { return s.rssKB }),
	}
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
