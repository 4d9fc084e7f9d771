// Command muster-gen writes a deterministic, realistic HR export for
// benchmarks and load tests:
//
//	go run ./cmd/muster-gen -rows 1000000 > day0.csv
//	go run ./cmd/muster-gen -rows 1000000 -day 1 > day1.csv
//
// Day 1 is the next day's export of the same people: 1% changed, 0.5% left
// and 0.5% joined (-churn 2, the default). -crlf writes the same records
// with CR LF line ends. The same flags always write the same bytes.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"muster/samples/gen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed; asking for help is not an error
		}
		fmt.Fprintln(os.Stderr, "muster-gen:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("muster-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 1000, "number of people")
	seed := fs.Int("seed", 1, "seed: the same seed writes the same file")
	day := fs.Int("day", 0, "0 for the first export, 1 for the next day's")
	churn := fs.Float64("churn", 2, "percent of people the next day's export touches (half changed, a quarter left, a quarter joined)")
	crlf := fs.Bool("crlf", false, "end lines with CR LF: the same records in other bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("usage: muster-gen [-rows N] [-seed S] [-day 0|1] [-churn PERCENT] [-crlf] > file.csv")
	}
	return gen.Write(stdout, gen.Options{Rows: *rows, Seed: *seed, Day: *day, Churn: *churn, CRLF: *crlf})
}
