// Command muster-bench measures muster against the plain SQLite work that
// the same data needs, side by side in one run:
//
//	go run ./cmd/muster-bench -rows 100000,1000000 -rounds 3 -reads
//
// For each row count it writes a deterministic day-0 export, its next-day
// version (-churn percent of people touched) and that day again with CR LF
// line ends (the same records in other bytes) into a temporary folder, then
// runs rounds, each from empty stores, alternating which side goes first:
// sqlite3's .import of day 0 into a table keyed by email (the anchor), and
// muster ingest of day 0 (first ingest), day 1 (next day), day 1 again
// (the same file: a duplicate) and the CR LF file (a re-export with no
// changes). With -reads it then serves the last round's store with muster
// serve and measures /v1/export of the whole audience against sqlite3 -csv
// of the same rows, and a walk of /v1/recipients (pages of 1000) to the end
// against sqlite3 -json of the same rows and columns.
//
// Every figure is printed as min, median and max over the rounds, with
// ratios taken round by round (the two sides of a round met the same load)
// and the load average: the machine may be shared. It ends with a Markdown
// table for the README. -bin measures another build (main's, for a
// before-and-after); -profile writes CPU and heap profiles of the last
// round's ingests.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

type bench struct {
	out     io.Writer
	log     io.Writer
	bin     string
	dir     string
	rounds  int
	churn   float64
	profile string
	sum     summary
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "muster-bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("muster-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rowsFlag := fs.String("rows", "1000000", "row counts, comma-separated (100000,1000000,3000000)")
	rounds := fs.Int("rounds", 3, "rounds per row count; sides alternate which goes first")
	churn := fs.Float64("churn", 2, "percent of people the next day touches (half changed, a quarter left, a quarter joined)")
	reads := fs.Bool("reads", false, "also measure /v1/export and a /v1/recipients walk against sqlite3, on each row count's store")
	noIngest := fs.Bool("reads-only", false, "with -reads: one ingest to build each store, no ingest figures")
	bin := fs.String("bin", "", "the muster binary to measure (default: built from ./cmd/muster)")
	dir := fs.String("dir", "", "working folder for files and stores (default: a temporary one, removed at the end)")
	profile := fs.String("profile", "", "write CPU and heap profiles of the last round's ingests into this folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rows []int
	for _, f := range strings.Split(*rowsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			return fmt.Errorf("-rows %q: give row counts of at least 100, comma-separated", *rowsFlag)
		}
		rows = append(rows, n)
	}
	if *rounds < 1 || fs.NArg() > 0 {
		return errors.New("usage: muster-bench [-rows N,N...] [-rounds R] [-churn P] [-reads] [-bin FILE] [-dir DIR] [-profile DIR]")
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return errors.New("the sqlite3 command-line tool is needed (apt-get install sqlite3)")
	}
	b := &bench{out: stdout, log: stderr, rounds: *rounds, churn: *churn, profile: *profile}
	if b.dir = *dir; b.dir == "" {
		tmp, err := os.MkdirTemp("", "muster-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		b.dir = tmp
	} else if err := os.MkdirAll(b.dir, 0o750); err != nil {
		return err
	}
	if b.profile != "" {
		if err := os.MkdirAll(b.profile, 0o750); err != nil {
			return err
		}
	}
	if b.bin = *bin; b.bin == "" {
		b.bin = filepath.Join(b.dir, "muster")
		b.logf("building %s", b.bin)
		if out, err := exec.Command("go", "build", "-o", b.bin, "./cmd/muster").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	} else if abs, err := filepath.Abs(b.bin); err == nil {
		b.bin = abs
	}
	fmt.Fprintf(b.out, "muster-bench: %s; load %s\n", b.bin, loadavg())
	for _, n := range rows {
		b.logf("writing the exports of %d rows", n)
		f, err := b.writeFiles(n)
		if err != nil {
			return err
		}
		keep := ""
		if *reads {
			keep = filepath.Join(b.dir, fmt.Sprintf("store-%d", n))
		}
		if *reads && *noIngest {
			if err := b.buildStore(f, keep); err != nil {
				return err
			}
		} else {
			load0 := loadavg()
			r, err := b.ingestRounds(f, keep)
			if err != nil {
				return err
			}
			b.printIngest(f, r, load0)
		}
		if *reads {
			load0 := loadavg()
			r, err := b.readRounds(keep)
			if err != nil {
				return err
			}
			b.printReads(n, r, load0)
			os.RemoveAll(keep)
		}
		os.RemoveAll(filepath.Dir(f.day0))
	}
	fmt.Fprintln(b.out)
	b.sum.print(b.out)
	return nil
}

// buildStore ingests day 0 and day 1 into data, unmeasured.
func (b *bench) buildStore(f files, data string) error {
	for _, file := range []string{f.day0, f.day1} {
		if _, err := measure(b.ingestCmd(data, file, ""), nil); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, format+"\n", args...)
}
