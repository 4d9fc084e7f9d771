// Command muster-gen writes a deterministic, realistic HR export for
// benchmarks and load tests:
//
//	go run ./cmd/muster-gen -rows 1000000 > day0.csv
//	go run ./cmd/muster-gen -rows 1000000 -day 1 > day1.csv
//
// Day 1 is the next day's export of the same people: 1% changed, 0.5% left
// and 0.5% joined. The same flags always write the same bytes.
package main

import (
	"flag"
	"fmt"
	"os"

	"muster/samples/gen"
)

func main() {
	rows := flag.Int("rows", 1000, "number of people")
	seed := flag.Uint64("seed", 1, "seed: the same seed writes the same file")
	day := flag.Int("day", 0, "0 for the first export, 1 for the next day's")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: muster-gen [-rows N] [-seed S] [-day 0|1] > file.csv")
		os.Exit(2)
	}
	if err := gen.Write(os.Stdout, gen.Options{Rows: *rows, Seed: *seed, Day: *day}); err != nil {
		fmt.Fprintln(os.Stderr, "muster-gen:", err)
		os.Exit(1)
	}
}
