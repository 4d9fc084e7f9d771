package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"muster/schema"
)

// `muster check` reads files of any size with bounded memory: the problems
// and records of rows are written to temporary files as they are read
// (spill), and copied into the output once the file has been read, since
// what goes before them (the file's description, the counts, the verdict)
// is known only then.

// spill is a temporary file of lines.
type spill struct {
	f *os.File
	w *bufio.Writer
	n int
}

func newSpill() (*spill, error) {
	f, err := os.CreateTemp("", "muster-check-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // gone once closed, whatever happens
	return &spill{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *spill) add(line []byte) error {
	s.n++
	s.w.Write(line)
	return s.w.WriteByte('\n')
}

// lines calls fn with each line, in order (fn must not keep it).
func (s *spill) lines(fn func([]byte) error) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sc := bufio.NewScanner(s.f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (s *spill) close() { s.f.Close() }

// printCheckStream reads the file and prints what check understood (see
// printCheck), keeping only the first problems and spilling the records.
func printCheckStream(w io.Writer, f io.Reader, opts schema.DecodeOptions, maxInvalid float64, records bool,
	path, label string, delta bool, out *schema.CheckResult) error {
	var first []schema.Problem
	rows := 0
	var recs *spill
	var keep func(schema.Record) error
	if records {
		var err error
		if recs, err = newSpill(); err != nil {
			return err
		}
		defer recs.close()
		keep = func(r schema.Record) error {
			return recs.add([]byte(fmt.Sprintf("record      line %d: %s", r.Line, recordLine(r))))
		}
	}
	res, err := schema.CheckStream(f, opts, maxInvalid, func(p schema.Problem) error {
		rows++
		if len(first) < maxTextProblems {
			first = append(first, p)
		}
		return nil
	}, keep)
	if err != nil {
		return err
	}
	*out = res
	total := len(res.Problems) + rows
	res.Problems = schema.MergeProblems(res.Problems, first)
	printCheck(w, path, label, delta, res, total, func(w io.Writer) error {
		if recs == nil {
			return nil
		}
		return recs.lines(func(l []byte) error {
			_, err := fmt.Fprintf(w, "%s\n", l)
			return err
		})
	})
	return nil
}

// writeCheckJSON reads the file and writes checkOutput as JSON, the same
// object `check -json` always printed, with the rows' problems and records
// streamed from spills.
func writeCheckJSON(w io.Writer, f io.Reader, opts schema.DecodeOptions, maxInvalid float64, records bool,
	head checkOutput) (schema.CheckResult, error) {
	probs, err := newSpill()
	if err != nil {
		return schema.CheckResult{}, err
	}
	defer probs.close()
	var recs *spill
	var keep func(schema.Record) error
	if records {
		if recs, err = newSpill(); err != nil {
			return schema.CheckResult{}, err
		}
		defer recs.close()
		keep = func(r schema.Record) error { return addJSON(recs, r, "") }
	}
	res, err := schema.CheckStream(f, opts, maxInvalid, func(p schema.Problem) error {
		return addJSON(probs, p, strconv.Itoa(p.Line)+" ")
	}, keep)
	if err != nil {
		return res, err
	}
	bw := bufio.NewWriter(w)
	field := func(name string, v any, last bool) {
		b, _ := json.MarshalIndent(v, "  ", "  ")
		fmt.Fprintf(bw, "  %q: %s", name, b)
		if !last {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	bw.WriteString("{\n")
	field("path", head.Path, false)
	if head.Source != "" {
		field("source", head.Source, false)
	}
	if head.Settings != nil {
		field("settings", head.Settings, false)
	}
	field("file", res.File, false)
	field("valid", res.Valid, false)
	field("invalid", res.Invalid, false)
	field("refused", res.Refused, false)
	if res.Held {
		field("held", res.Held, false)
	}
	if len(res.Reasons) > 0 {
		field("reasons", res.Reasons, false)
	}
	// The problems: the file's (few, sorted by line) merged with the
	// rows' (in line order) as they come back from the spill.
	bw.WriteString("  \"problems\": [")
	fileProbs, n := res.Problems, 0
	var ind bytes.Buffer
	item := func(b []byte) {
		if n > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n    ")
		ind.Reset()
		if json.Indent(&ind, b, "    ", "  ") == nil {
			b = ind.Bytes()
		}
		bw.Write(b)
		n++
	}
	err = probs.lines(func(l []byte) error {
		at, js, _ := strings.Cut(string(l), " ")
		line, _ := strconv.Atoi(at)
		for len(fileProbs) > 0 && fileProbs[0].Line <= line {
			b, _ := json.Marshal(fileProbs[0])
			item(b)
			fileProbs = fileProbs[1:]
		}
		item([]byte(js))
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, p := range fileProbs {
		b, _ := json.Marshal(p)
		item(b)
	}
	if n > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]")
	if recs != nil {
		bw.WriteString(",\n  \"records\": [")
		n = 0
		if err := recs.lines(func(l []byte) error { item(l); return nil }); err != nil {
			return res, err
		}
		if n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("]")
	}
	bw.WriteString("\n}\n")
	return res, bw.Flush()
}

func addJSON(s *spill, v any, prefix string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.add(append([]byte(prefix), b...))
}
