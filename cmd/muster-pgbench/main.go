// Command muster-pgbench measures muster's ingest of a large HR export into
// a PostgreSQL store against psql's \copy of the same file into a table
// whose email column is the primary key, side by side in one run, on the
// same server:
//
//	go run ./cmd/muster-pgbench -url postgres://user@host:port/db -rows 1000000 -rounds 3
//
// It builds ./cmd/muster (or takes -muster BIN), writes the deterministic day-0 export and its
// next-day version with samples/gen, then each round, in fresh schemas,
// alternating which goes first: psql \copy of day 0; muster ingest of day
// 0 (first ingest into an empty store); muster ingest of day 1 (the next
// day). It prints every time, the ratios to \copy with their min, median
// and max, and the load average. The figures are wall times: the work is
// split between muster and the server, whose CPU muster's rusage does not
// see. With -compare OLD, another muster binary (an older build) runs
// beside it in every round, the three in a rotating order, so a change is
// measured against what it replaces under the same load. Each timed step
// starts with a CHECKPOINT (untimed), so none pays for the dirty buffers
// and WAL the steps before it left (the anchor otherwise often ran after
// an ingest's checkpoint had begun); -checkpoint=false leaves them.
// When the server runs on this machine, each step's CPU time (the
// client's and the server's processes') is printed beside its wall time,
// with its ratios: the work done, which the waits of a shared machine do
// not blur (cpu.go).
// (cmd/muster-bench is the same against sqlite3 .import.)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"muster/samples/gen"
	"muster/store/pg"
)

func main() {
	url := flag.String("url", os.Getenv("MUSTER_TEST_POSTGRES"), "PostgreSQL server (a database muster may create schemas in); default $MUSTER_TEST_POSTGRES")
	rows := flag.Int("rows", 1000000, "people in the export")
	rounds := flag.Int("rounds", 3, "rounds (A and B alternate which goes first)")
	dir := flag.String("dir", "bench-out", "working directory")
	bin := flag.String("muster", "", "muster binary to measure (default: build ./cmd/muster)")
	old := flag.String("compare", "", "another muster binary measured beside it in every round")
	cp := flag.Bool("checkpoint", true, "run CHECKPOINT (untimed) before each timed step")
	flag.Parse()
	if err := run(*url, *rows, *rounds, *dir, *bin, *old, *cp); err != nil {
		fmt.Fprintln(os.Stderr, "muster-pgbench:", err)
		os.Exit(1)
	}
}

func run(url string, rows, rounds int, dir, bin, old string, checkpoints bool) error {
	if !pg.IsURL(url) {
		return fmt.Errorf("-url: a postgres:// URL is needed")
	}
	if _, err := exec.LookPath("psql"); err != nil {
		return fmt.Errorf("psql is needed (apt-get install postgresql-client)")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if bin == "" {
		bin = filepath.Join(dir, "muster")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/muster").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	day0, day1 := filepath.Join(dir, "day0.csv"), filepath.Join(dir, "day1.csv")
	for d, p := range []string{day0, day1} {
		if _, err := os.Stat(p); err == nil {
			continue
		}
		fmt.Printf("writing %s (%d rows, day %d)\n", p, rows, d)
		if err := writeGen(p, rows, d); err != nil {
			return err
		}
	}
	if checkpoints {
		fmt.Println("each timed step (\\copy, first ingest, next day) starts after a CHECKPOINT, untimed")
	} else {
		fmt.Println("no CHECKPOINT between steps (-checkpoint=false): a step may pay for the checkpoints of those before it")
	}
	pm := postmaster(url)
	if pm == 0 {
		fmt.Println("the server's processes cannot be read here: wall times only")
	} else {
		fmt.Println("cpu: the step's client (psql, muster) and the server's processes, from /proc")
	}
	fmt.Printf("load average before: %s\n", loadavg())
	var cp, first, next, ofirst, onext []timing
	for i := range rounds {
		anchor := func() error {
			d, err := copyAnchor(url, day0, checkpoints, pm)
			cp = append(cp, d)
			return err
		}
		muster := func() error {
			f, n, err := ingest(bin, dir, url, day0, day1, checkpoints, pm)
			first, next = append(first, f), append(next, n)
			return err
		}
		order := []func() error{anchor, muster}
		if old != "" {
			order = append(order, func() error {
				f, n, err := ingest(old, dir, url, day0, day1, checkpoints, pm)
				ofirst, onext = append(ofirst, f), append(onext, n)
				return err
			})
		}
		// Each round starts with the next one: A B C, B C A, C A B, ...
		order = append(order[i%len(order):], order[:i%len(order)]...)
		for _, f := range order {
			if err := f(); err != nil {
				return err
			}
		}
		fmt.Printf("round %d: \\copy %v  first ingest %v (%.2fx)  next day %v (%.2fx)", i+1,
			ms(cp[i].wall), ms(first[i].wall), ratio(first[i].wall, cp[i].wall), ms(next[i].wall), ratio(next[i].wall, cp[i].wall))
		if old != "" {
			fmt.Printf("  | -compare: first %v (%.2fx)  next day %v (%.2fx)", ms(ofirst[i].wall),
				ratio(ofirst[i].wall, cp[i].wall), ms(onext[i].wall), ratio(onext[i].wall, cp[i].wall))
		}
		fmt.Printf("  load %s\n", loadavg())
		if pm != 0 {
			fmt.Printf("    cpu: \\copy %v  first ingest %v (%.2fx)  next day %v (%.2fx)", ms(cp[i].cpu),
				ms(first[i].cpu), ratio(first[i].cpu, cp[i].cpu), ms(next[i].cpu), ratio(next[i].cpu, cp[i].cpu))
			if old != "" {
				fmt.Printf("  | -compare: first %v (%.2fx)  next day %v (%.2fx)", ms(ofirst[i].cpu),
					ratio(ofirst[i].cpu, cp[i].cpu), ms(onext[i].cpu), ratio(onext[i].cpu, cp[i].cpu))
			}
			fmt.Println()
		}
	}
	summary := func(label string, first, next []timing) {
		var rf, rn, cf, cn []float64
		for i := range cp {
			rf, rn = append(rf, ratio(first[i].wall, cp[i].wall)), append(rn, ratio(next[i].wall, cp[i].wall))
			cf, cn = append(cf, ratio(first[i].cpu, cp[i].cpu)), append(cn, ratio(next[i].cpu, cp[i].cpu))
		}
		fmt.Printf("\n%sfirst ingest / \\copy: min %.2fx median %.2fx max %.2fx (target <= 1.5x)\n", append([]any{label}, spread(rf)...)...)
		fmt.Printf("%snext day / \\copy:     min %.2fx median %.2fx max %.2fx (target <= 0.3x)\n", append([]any{label}, spread(rn)...)...)
		if pm != 0 {
			fmt.Printf("%scpu: first ingest / \\copy: min %.2fx median %.2fx max %.2fx\n", append([]any{label}, spread(cf)...)...)
			fmt.Printf("%scpu: next day / \\copy:     min %.2fx median %.2fx max %.2fx\n", append([]any{label}, spread(cn)...)...)
		}
	}
	summary("", first, next)
	if old != "" {
		summary("-compare "+old+": ", ofirst, onext)
	}
	fmt.Printf("load average after: %s\n", loadavg())
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

// copyAnchor is the least a store keyed by email must do: every row into
// a table whose email column is the primary key, with psql's \copy.
func copyAnchor(url, file string, checkpoints bool, pm int) (timing, error) {
	u, drop, err := pg.NewSchema(context.Background(), url, "anchor")
	if err != nil {
		return timing{}, err
	}
	defer drop()
	cols := make([]string, len(gen.Header))
	for i, h := range gen.Header {
		cols[i] = fmt.Sprintf("%q text", h)
		if h == "Work_Email" {
			cols[i] += " PRIMARY KEY"
		}
	}
	conn, schema := psqlURL(u)
	setup := exec.Command("psql", "-q", "-v", "ON_ERROR_STOP=1", conn, "-c",
		fmt.Sprintf("CREATE TABLE %s.people(%s)", schema, strings.Join(cols, ", ")))
	if out, err := setup.CombinedOutput(); err != nil {
		return timing{}, fmt.Errorf("psql: %v\n%s", err, out)
	}
	cmd := exec.Command("psql", "-q", "-v", "ON_ERROR_STOP=1", conn, "-c",
		fmt.Sprintf(`\copy %s.people FROM '%s' WITH (FORMAT csv, HEADER true)`, schema, file))
	if err := checkpoint(url, checkpoints); err != nil {
		return timing{}, err
	}
	t, out, err := timed(cmd, pm)
	if err != nil {
		return timing{}, fmt.Errorf("psql \\copy: %v\n%s", err, out)
	}
	return t, nil
}

// psqlURL returns a URL psql takes (without the search_path parameter
// libpq does not know) and the schema.
func psqlURL(u string) (string, string) {
	base, query, _ := strings.Cut(u, "?")
	var keep []string
	schema := ""
	for _, kv := range strings.Split(query, "&") {
		if v, ok := strings.CutPrefix(kv, "search_path="); ok {
			schema = v
			continue
		}
		keep = append(keep, kv)
	}
	return base + "?" + strings.Join(keep, "&"), schema
}

// ingest runs muster's first ingest of day0 and then day1 into a fresh
// schema, and returns each wall time.
func ingest(bin, dir, url, day0, day1 string, checkpoints bool, pm int) (first, next timing, err error) {
	u, drop, err := pg.NewSchema(context.Background(), url, "bench")
	if err != nil {
		return timing{}, timing{}, err
	}
	defer drop()
	data := filepath.Join(dir, "data")
	os.RemoveAll(data)
	cfg := filepath.Join(dir, "bench.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("data_dir = %q\n[store]\nurl_env = \"MUSTER_STORE_URL\"\n", data)), 0o600); err != nil {
		return timing{}, timing{}, err
	}
	env := append(os.Environ(), "MUSTER_STORE_URL="+u)
	if out, err := command(env, bin, "store", "migrate", "-config", cfg).CombinedOutput(); err != nil {
		return timing{}, timing{}, fmt.Errorf("migrate: %v\n%s", err, out)
	}
	for i, f := range []string{day0, day1} {
		c := command(env, bin, "ingest", "-config", cfg, "-source", "hr", "-max-remove", "20000", "-json", f)
		if err := checkpoint(url, checkpoints); err != nil {
			return timing{}, timing{}, err
		}
		t, out, err := timed(c, pm)
		if err != nil {
			return timing{}, timing{}, fmt.Errorf("muster ingest %s: %v\n%.2000s", f, err, out)
		}
		if i == 0 {
			first = t
		} else {
			next = t
		}
	}
	return first, next, nil
}

// checkpoint writes out what earlier steps left in the server's buffers
// and WAL, so the next step is timed on its own work (unless not on).
func checkpoint(url string, on bool) error {
	if !on {
		return nil
	}
	ctx := context.Background()
	db, err := pg.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("CHECKPOINT (the benchmark's role needs pg_checkpoint or superuser; or -checkpoint=false): %w", err)
	}
	return nil
}

func command(env []string, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = env
	return c
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func spread(v []float64) []any {
	s := slices.Clone(v)
	slices.Sort(s)
	return []any{s[0], s[len(s)/2], s[len(s)-1]}
}
