package schema

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gocarina/gocsv"

	"muster/samples/gen"
)

// benchRows is the size of the generated file BenchmarkDecode reads:
// MUSTER_BENCH_ROWS, 1,000,000 by default.
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

// cpuTime is the CPU time (user and system, all threads, GC included) the
// process has used: on a shared machine, wall time says more about the
// neighbours than about the code.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRows reports rows per second of wall time and of CPU time.
func reportRows(b *testing.B, rows int, cpu0 time.Duration) {
	cpu := (cpuTime(b) - cpu0).Seconds()
	n := float64(rows) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(n/cpu, "rows/cpu-s")
}

// BenchmarkDecode decodes and validates a generated 16-column export of
// benchRows rows (about 250 bytes a row) from a file, as the pipeline
// does: one op is the whole file. The file is written once per run, not
// held in memory, so the memory figures are the decoder's.
//
//	go test ./schema -run '^$' -bench 'Decode$' -benchtime 3x
func BenchmarkDecode(b *testing.B) {
	rows := benchRows(b)
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
	b.SetBytes(st.Size())
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		decodeCount(b, f, rows)
		f.Close()
	}
	reportRows(b, rows, cpu0)
}

// decodeCount decodes r and checks it holds rows valid records.
func decodeCount(b *testing.B, r io.Reader, rows int) {
	d, err := NewDecoder(r, DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if len(rec.Problems) != 0 {
			b.Fatalf("line %d: %v", rec.Line, rec.Problems)
		}
		n++
	}
	if n != rows || len(d.Info().Problems) != 0 {
		b.Fatalf("decoded %d rows, problems %v", n, d.Info().Problems)
	}
}

// The benchmarks below compare ways to split the same 100,000 generated
// rows, held in memory: muster's reader alone, the full decoder, and the
// alternatives for the hot path, encoding/csv and gocsv.
const compareRows = 100_000

func compareData(b *testing.B) []byte {
	var buf bytes.Buffer
	if err := gen.Write(&buf, gen.Options{Rows: compareRows, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	return buf.Bytes()
}

// BenchmarkSplit is muster's row splitter alone.
func BenchmarkSplit(b *testing.B) {
	data := compareData(b)
	cpu0 := cpuTime(b)
	for b.Loop() {
		c := newCSVReader(bytes.NewReader(data))
		c.delim = ','
		n := 0
		for c.next() == nil {
			n++
		}
		if n != compareRows+1 {
			b.Fatalf("%d rows", n)
		}
	}
	reportRows(b, compareRows, cpu0)
}

// BenchmarkDecodeInMemory is the whole decoder on the same rows.
func BenchmarkDecodeInMemory(b *testing.B) {
	data := compareData(b)
	cpu0 := cpuTime(b)
	for b.Loop() {
		decodeCount(b, bytes.NewReader(data), compareRows)
	}
	reportRows(b, compareRows, cpu0)
}

// BenchmarkSplitEncodingCSV is encoding/csv reusing its record: splitting only.
func BenchmarkSplitEncodingCSV(b *testing.B) {
	data := compareData(b)
	cpu0 := cpuTime(b)
	for b.Loop() {
		r := csv.NewReader(bytes.NewReader(data))
		r.ReuseRecord = true
		n := 0
		for {
			if _, err := r.Read(); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				b.Fatal(err)
			}
			n++
		}
		if n != compareRows+1 {
			b.Fatalf("%d rows", n)
		}
	}
	reportRows(b, compareRows, cpu0)
}

// genRow is the generated file's row as gocsv unmarshals it.
type genRow struct {
	EmployeeID    string `csv:"Employee_ID"`
	FirstName     string `csv:"First_Name"`
	LastName      string `csv:"Last_Name"`
	WorkEmail     string `csv:"Work_Email"`
	WorkerStatus  string `csv:"Worker_Status"`
	Department    string `csv:"Department"`
	Division      string `csv:"Division"`
	CostCenter    string `csv:"Cost_Center"`
	Groups        string `csv:"Groups"`
	BusinessTitle string `csv:"Business_Title"`
	ManagerEmail  string `csv:"Manager_Email"`
	HireDate      string `csv:"Hire_Date"`
	WorkerType    string `csv:"Worker_Type"`
	Language      string `csv:"Preferred_Language"`
	City          string `csv:"City"`
	Country       string `csv:"Country"`
}

// BenchmarkSplitGocsv is gocsv unmarshalling each row into a struct:
// splitting and mapping to fields, without any checking.
func BenchmarkSplitGocsv(b *testing.B) {
	data := compareData(b)
	cpu0 := cpuTime(b)
	for b.Loop() {
		n := 0
		err := gocsv.UnmarshalToCallback(bytes.NewReader(data), func(r genRow) {
			n++
		})
		if err != nil || n != compareRows {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
	reportRows(b, compareRows, cpu0)
}
