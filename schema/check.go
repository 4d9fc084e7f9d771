package schema

import (
	"errors"
	"io"
	"sort"
)

// CheckResult is what reading a whole file found: what `muster check`
// prints and what the golden files of samples/ hold.
type CheckResult struct {
	// File is what the decoder understood of the file.
	File FileInfo `json:"file"`
	// Valid and Invalid count the records read; Rows in File counts both.
	Valid   int `json:"valid"`
	Invalid int `json:"invalid"`
	// Refused is true when the pipeline would refuse the file whole.
	Refused bool `json:"refused"`
	// Held is true when the file has no rows (it is empty, or a header
	// alone) and is not a delta: as a full snapshot it would remove everyone,
	// so the pipeline holds it for an admin instead of applying or refusing
	// it.
	Held bool `json:"held,omitempty"`
	// Reasons are the problems that refuse it.
	Reasons []Problem `json:"reasons,omitempty"`
	// Problems lists every problem, of the file and of its rows, by line.
	Problems []Problem `json:"problems"`
	// Records are the decoded records, when asked for.
	Records []Record `json:"records,omitempty"`
}

// Check reads a whole file as the pipeline would and says whether it would
// be refused: a file-level problem, or more invalid rows than maxInvalid
// allows (a share, such as DefaultMaxInvalidShare); or held: no rows. Records are kept only
// when keepRecords is set. The error is for a failing reader only; a
// broken file is a refused result. It holds every problem in memory: for
// files of any size, CheckStream.
func Check(r io.Reader, opts DecodeOptions, maxInvalid float64, keepRecords bool) (CheckResult, error) {
	var rowProblems, records = []Problem{}, []Record(nil)
	keep := func(rec Record) error { records = append(records, rec); return nil }
	if !keepRecords {
		keep = nil
	}
	res, err := CheckStream(r, opts, maxInvalid, func(p Problem) error { rowProblems = append(rowProblems, p); return nil }, keep)
	if err != nil {
		return res, err
	}
	res.Records = records
	res.Problems = MergeProblems(res.Problems, rowProblems)
	return res, nil
}

// CheckStream is Check for a file of any size: the problems of its rows
// go to problem as they are read, in line order, and its records to record
// (nil: not kept), instead of into the result, whose Problems then holds
// the file-level problems and a too-many-invalid refusal only, sorted by
// line (MergeProblems merges the two). Memory stays bounded whatever the
// number of rows. An error from problem or record stops the read and is
// returned.
func CheckStream(r io.Reader, opts DecodeOptions, maxInvalid float64, problem func(Problem) error, record func(Record) error) (CheckResult, error) {
	var res CheckResult
	d, err := NewDecoder(r, opts)
	var fe *FileError
	switch {
	case errors.As(err, &fe):
		res.File = fe.Info
		res.File.Problems = fe.Problems
	case err != nil:
		return res, err
	}
	for d != nil {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !errors.As(err, new(*FileError)) {
				return res, err
			}
			break
		}
		if rec.Valid() {
			res.Valid++
		} else {
			res.Invalid++
		}
		for _, p := range rec.Problems {
			if err := problem(p); err != nil {
				return res, err
			}
		}
		if record != nil {
			if err := record(rec); err != nil {
				return res, err
			}
		}
	}
	if d != nil {
		res.File = d.Info()
	}
	res.Problems = append([]Problem{}, res.File.Problems...)
	for _, p := range res.File.Problems {
		// An empty file is held, not refused, like a header-only one (a
		// truncated export looks like either).
		if p.Severity == SeverityError && p.Code != CodeEmptyFile {
			res.Reasons = append(res.Reasons, p)
		}
	}
	if len(res.Reasons) == 0 && TooManyInvalid(res.Invalid, res.File.Rows, maxInvalid) {
		p := TooManyInvalidProblem(res.Invalid, res.File.Rows, maxInvalid)
		res.Reasons = append(res.Reasons, p)
		res.Problems = append(res.Problems, p)
	}
	res.Refused = len(res.Reasons) > 0
	res.Held = !res.Refused && res.File.Rows == 0 && !res.File.Delta
	sort.SliceStable(res.Problems, func(i, j int) bool { return res.Problems[i].Line < res.Problems[j].Line })
	return res, nil
}

// MergeProblems merges two lists of problems each sorted by line into one,
// a's first where lines are equal.
func MergeProblems(a, b []Problem) []Problem {
	out := make([]Problem, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if b[0].Line < a[0].Line {
			out, b = append(out, b[0]), b[1:]
		} else {
			out, a = append(out, a[0]), a[1:]
		}
	}
	return append(append(out, a...), b...)
}
