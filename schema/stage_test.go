package schema

import (
	"bytes"
	"io"
	"testing"

	"muster/samples/gen"
)

func stageData(b *testing.B) []byte {
	var buf bytes.Buffer
	gen.Write(&buf, gen.Options{Rows: 100000, Seed: 1})
	return buf.Bytes()
}

func BenchmarkStageRead(b *testing.B) {
	data := stageData(b)
	b.SetBytes(int64(len(data)))
	c0 := cpuTime(b)
	defer func() { b.ReportMetric(float64((cpuTime(b)-c0).Nanoseconds())/float64(b.N)/100000, "cpu-ns/row") }()
	for b.Loop() {
		c := newCSVReader(bytes.NewReader(data))
		c.delim = ','
		for c.next() != io.EOF {
		}
	}
}

func BenchmarkStageDecode(b *testing.B) {
	data := stageData(b)
	b.SetBytes(int64(len(data)))
	c0 := cpuTime(b)
	defer func() { b.ReportMetric(float64((cpuTime(b)-c0).Nanoseconds())/float64(b.N)/100000, "cpu-ns/row") }()
	for b.Loop() {
		d, _ := NewDecoder(bytes.NewReader(data), DecodeOptions{})
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}
