package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"muster/samples/gen"
)

// files are the generated exports of one row count.
type files struct {
	rows             int
	day0, day1, crlf string
	size             int64
}

// writeFiles writes day 0, day 1 and day 1 again with CR LF line ends (the
// same records in other bytes: a re-export with no changes).
func (b *bench) writeFiles(rows int) (files, error) {
	dir := filepath.Join(b.dir, fmt.Sprintf("files-%d", rows))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return files{}, err
	}
	f := files{rows: rows, day0: filepath.Join(dir, "day0.csv"), day1: filepath.Join(dir, "day1.csv"),
		crlf: filepath.Join(dir, "day1-crlf.csv")}
	for _, w := range []struct {
		path string
		o    gen.Options
	}{
		{f.day0, gen.Options{Rows: rows, Seed: 1}},
		{f.day1, gen.Options{Rows: rows, Seed: 1, Day: 1, Churn: b.churn}},
		{f.crlf, gen.Options{Rows: rows, Seed: 1, Day: 1, Churn: b.churn, CRLF: true}},
	} {
		if err := writeGen(w.path, w.o); err != nil {
			return f, err
		}
	}
	st, err := os.Stat(f.day0)
	if err != nil {
		return f, err
	}
	f.size = st.Size()
	return f, nil
}

func writeGen(path string, o gen.Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gen.Write(f, o); err != nil {
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

// ingestCmd ingests a file. The next-day file removes more people than the
// default guard lets through (500): the bench lifts the guards so the drop
// applies, as the operator of a source that size would.
func (b *bench) ingestCmd(data, file, profile string) *exec.Cmd {
	cmd := exec.Command(b.bin, "ingest", "-data", data, "-source", "hr", "-max-remove", "-1", "-max-remove-percent", "-1", "-json", file)
	cmd.Env = os.Environ()
	if profile != "" {
		cmd.Env = append(cmd.Env, "MUSTER_CPUPROFILE="+profile+".cpu", "MUSTER_MEMPROFILE="+profile+".heap")
	}
	return cmd
}

// ingestRuns are the series of one row count.
type ingestRuns struct {
	imp, first, next, dup, same series
	report                      report // of the last next day
}

type report struct {
	Decision string
	Counts   map[string]int64
}

// ingestRounds runs the ingest rounds of one row count: in odd rounds
// sqlite3's .import runs first, in even rounds muster's ingests do. Every
// round starts from empty stores. The last round's store is kept in keep
// (for the read paths) when keep is not "".
func (b *bench) ingestRounds(f files, keep string) (ingestRuns, error) {
	var r ingestRuns
	for round := range b.rounds {
		work := filepath.Join(b.dir, fmt.Sprintf("round-%d-%d", f.rows, round))
		os.RemoveAll(work)
		if err := os.MkdirAll(work, 0o750); err != nil {
			return r, err
		}
		last := round == b.rounds-1
		anchor := func() error {
			s, err := measure(importCmd(filepath.Join(work, "import.db"), f.day0), nil)
			if err != nil {
				return fmt.Errorf("sqlite3 .import: %w", err)
			}
			r.imp = append(r.imp, s)
			return os.Remove(filepath.Join(work, "import.db"))
		}
		ours := func() error {
			data := filepath.Join(work, "data")
			for _, step := range []struct {
				name, file string
				to         *series
				want       string
			}{
				{"first", f.day0, &r.first, "applied"},
				{"next", f.day1, &r.next, "applied"},
				{"dup", f.day1, &r.dup, "duplicate"},
				{"same", f.crlf, &r.same, "applied"},
			} {
				profile := ""
				if last && b.profile != "" {
					profile = filepath.Join(b.profile, fmt.Sprintf("%d-%s", f.rows, step.name))
				}
				var out strings.Builder
				s, err := measure(b.ingestCmd(data, step.file, profile), &out)
				if err != nil {
					return fmt.Errorf("muster ingest %s: %w", step.name, err)
				}
				var rep report
				if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.Decision != step.want {
					return fmt.Errorf("muster ingest %s: decision %q, want %q (%v)", step.name, rep.Decision, step.want, err)
				}
				if step.name == "same" && (rep.Counts["added"] != 0 || rep.Counts["updated"] != 0 || rep.Counts["removed"] != 0) {
					return fmt.Errorf("muster ingest of the CR LF re-export changed something: %v", rep.Counts)
				}
				if step.name == "next" {
					r.report = rep
				}
				*step.to = append(*step.to, s)
			}
			return nil
		}
		steps := []func() error{anchor, ours}
		if round%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return r, err
			}
		}
		b.logf("  round %d: .import %s, first %s (%d MB), next day %s (%d MB), duplicate %s, no-change re-export %s (%d MB); load %s",
			round+1, r.imp[round].wall.Round(time.Millisecond), r.first[round].wall.Round(time.Millisecond), r.first[round].rssKB>>10,
			r.next[round].wall.Round(time.Millisecond), r.next[round].rssKB>>10, r.dup[round].wall.Round(time.Millisecond),
			r.same[round].wall.Round(time.Millisecond), r.same[round].rssKB>>10, loadavg())
		if last && keep != "" {
			os.RemoveAll(keep)
			if err := os.Rename(filepath.Join(work, "data"), keep); err != nil {
				return r, err
			}
		}
		os.RemoveAll(work)
	}
	return r, nil
}

// printIngest prints the figures of one row count.
func (b *bench) printIngest(f files, r ingestRuns, load0 string) {
	c := gen.ChangesOf(gen.Options{Rows: f.rows, Churn: b.churn})
	fmt.Fprintf(b.out, "\n%d rows (%d MB), next day churn %g%% (%d changed, %d left, %d joined); %d rounds, alternating which runs first; load %s before, %s after\n",
		f.rows, f.size>>20, b.churnPercent(), c.Changed, c.Removed, c.Added, b.rounds, load0, loadavg())
	var t table
	t.add("run", "wall s (min med max)", "CPU s, user+sys (min med max)", "peak RSS MB (min med max)")
	for _, l := range []struct {
		name string
		s    series
	}{
		{"sqlite3 .import (email primary key)", r.imp},
		{"muster ingest, first (day 0)", r.first},
		{"muster ingest, next day (day 1)", r.next},
		{"muster ingest, same file again (duplicate)", r.dup},
		{"muster ingest, re-export with no changes", r.same},
	} {
		t.add(l.name, l.s.wall().format("", 2), l.s.cpu().format("", 2), l.s.rss().format("", 0))
	}
	t.print(b.out)
	if rep := r.report; rep.Counts != nil {
		fmt.Fprintf(b.out, "next day: %s; added %d, updated %d, removed %d, unchanged %d\n", rep.Decision,
			rep.Counts["added"], rep.Counts["updated"], rep.Counts["removed"], rep.Counts["unchanged"])
	}
	var rt table
	rt.add("ratio to .import, per round", "wall (min med max)", "CPU (min med max)", "target")
	fw, fc := ratios(r.first, r.imp, wallOf), ratios(r.first, r.imp, cpuOf)
	nw, nc := ratios(r.next, r.imp, wallOf), ratios(r.next, r.imp, cpuOf)
	rt.add("first ingest", fw.format("x", 2), fc.format("x", 2), "wall <= 1.0x, CPU <= 1.2x")
	rt.add("next day", nw.format("x", 2), nc.format("x", 2), "wall <= 0.15x")
	rt.print(b.out)
	rows := rowsLabel(f.rows)
	secs := func(s spread) string { return fmt.Sprintf("%.2f s", s.med) }
	mb := func(s spread) string { return fmt.Sprintf("%.0f MB (max %.0f)", s.med, s.max) }
	b.sum.add("first ingest "+rows+": wall", secs(r.first.wall()), secs(r.imp.wall())+" `.import`", ratioText(fw), "<= 1.0x")
	b.sum.add("first ingest "+rows+": CPU user+sys", secs(r.first.cpu()), secs(r.imp.cpu())+" `.import`", ratioText(fc), "<= 1.2x")
	b.sum.add("next day "+rows+": wall", secs(r.next.wall()), secs(r.imp.wall())+" `.import`", ratioText(nw), "<= 0.15x")
	b.sum.add("next day "+rows+": CPU user+sys", secs(r.next.cpu()), secs(r.imp.cpu())+" `.import`", ratioText(nc), "")
	b.sum.add("re-export, no changes "+rows+": wall", secs(r.same.wall()), "", "", "< 0.5 s at 1M")
	b.sum.add("same file again "+rows+": wall", secs(r.dup.wall()), "", "", "")
	b.sum.add("peak RSS "+rows+": first ingest", mb(r.first.rss()), mb(r.imp.rss())+" `.import`", "", "<= 150 MB")
	b.sum.add("peak RSS "+rows+": next day", mb(r.next.rss()), "", "", "<= 150 MB")
}

func (b *bench) churnPercent() float64 {
	if b.churn == 0 {
		return 2
	}
	return b.churn
}

// rowsLabel writes a row count as 100k or 1M.
func rowsLabel(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%gM", float64(n)/1e6)
	}
	if n >= 1000 {
		return fmt.Sprintf("%gk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
