package schema

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"muster/samples/gen"
)

// benchRows is the size of the generated file the decoder benchmarks
// read: MUSTER_BENCH_ROWS, 1,000,000 by default.
func benchRows(b *testing.B) int {
	if s := os.Getenv("MUSTER_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("MUSTER_BENCH_ROWS: %v", err)
		}
		return n
	}
	return 1_000_000
}

// benchFile writes the generated export once per benchmark run, to a file
// so the benchmark reads it like the pipeline does, not from a 250 MB
// slice that would dominate the memory figures.
func benchFile(b *testing.B, rows int) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "day0.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := gen.Write(f, gen.Options{Rows: rows, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkDecode decodes and validates a generated 16-column export: one
// op is the whole file.
func BenchmarkDecode(b *testing.B) {
	rows := benchRows(b)
	path, size := benchFile(b, rows)
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		d, err := NewDecoder(f, DecodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			r, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if !r.Valid() {
				b.Fatalf("line %d: %v", r.Line, r.Problems)
			}
			n++
		}
		f.Close()
		if n != rows || len(d.Info().Problems) != 0 {
			b.Fatalf("decoded %d rows, problems %v", n, d.Info().Problems)
		}
	}
	cpu := (cpuTime(b) - cpu0).Seconds()
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(rows)*float64(b.N)/cpu, "rows/cpu-s")
}

// cpuTime is the CPU time (user and system) this process has used: on a
// shared machine, wall time says more about the neighbours than the code.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
