package ingest

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"muster/schema"
	"muster/store"
)

// Decision is what happened to a drop.
type Decision string

// Decisions.
const (
	Applied   Decision = "applied"
	Held      Decision = "held"
	Rejected  Decision = "rejected"
	Duplicate Decision = "duplicate"
	// Superseded: the file was replaced by its sender before it was taken
	// (an SFTP upload overwritten in the same session); never read.
	Superseded Decision = "superseded"
)

// Counts are the numbers of a drop. Rows counts the records read; each row
// is then added, updated, unchanged or invalid (a delta's removal rows count
// as removed, or as unchanged when the source did not list the person).
// Removed counts people the drop withdraws from the source. Suppressed
// counts people the drop offboarded (merge rule 5) plus those it added or
// updated who stay out of the audience because they are offboarded.
// Joined and Left count the audience itself, not the source: recipients the
// applied drop made active, and active ones it took out (a person another
// source still lists stays in and counts in neither). The console's chart
// of the audience over time adds them up.
type Counts struct {
	Rows       int64 `json:"rows"`
	Added      int64 `json:"added"`
	Updated    int64 `json:"updated"`
	Removed    int64 `json:"removed"`
	Unchanged  int64 `json:"unchanged"`
	Invalid    int64 `json:"invalid"`
	Suppressed int64 `json:"suppressed"`
	Joined     int64 `json:"joined"`
	Left       int64 `json:"left"`
}

// Timings say where a drop's time went, in milliseconds.
type Timings struct {
	ReadMS  int64 `json:"read_ms"`
	ApplyMS int64 `json:"apply_ms"`
	TotalMS int64 `json:"total_ms"`
}

// ChangeLine is one change in a report's sample of the diff.
type ChangeLine struct {
	Op   string `json:"op"`
	Key  string `json:"key"`
	Line int    `json:"line,omitempty"`
}

// MaxProblems and MaxSample bound what a report carries, so a broken
// million-row file gives a readable report; the counts stay exact. The
// file's description in a report lists at most MaxProblems columns and
// file-level problems too (schema.FileInfo.Capped).
const (
	MaxProblems = 1000
	MaxSample   = 20
)

// Report is the outcome of one drop: kept in the store, printed by the CLI,
// served by the API. Decision, Counts and Timings are what metrics need.
type Report struct {
	DropID      int64    `json:"drop_id,omitempty"`
	Org         string   `json:"org"`
	Source      string   `json:"source"`
	Name        string   `json:"name"`
	Mode        string   `json:"mode"`
	ContentHash string   `json:"content_hash,omitempty"`
	Decision    Decision `json:"decision"`
	// DryRun is set when nothing was written: Decision is what would happen.
	DryRun bool `json:"dry_run,omitempty"`
	// Reason says why a drop was held, rejected or a duplicate.
	Reason string `json:"reason,omitempty"`
	// Interrupted: a stream (a pull) that stopped or failed part-way;
	// nothing of it is applied (Decision Rejected).
	Interrupted bool   `json:"interrupted,omitempty"`
	DuplicateOf int64  `json:"duplicate_of,omitempty"`
	Counts      Counts `json:"counts"`
	// Problems found in the drop, file-level first, then by line; at most
	// MaxProblems (ProblemsOmitted says how many more).
	Problems        []schema.Problem `json:"problems,omitempty"`
	ProblemsOmitted int64            `json:"problems_omitted,omitempty"`
	// Sample lists the first changes of the diff, for review.
	Sample  []ChangeLine `json:"sample,omitempty"`
	Seq     int64        `json:"seq,omitempty"`
	Started time.Time    `json:"started"`
	Timings Timings      `json:"timings"`
	// File describes the decoded file (encoding, delimiter, columns), as the
	// decoder reported it.
	File json.RawMessage `json:"file,omitempty"`

	// readFrom is when the source's state the drop describes was read.
	readFrom time.Time
	// interrupted lists the drops of the same file an earlier run left
	// "received", closed by this one (settleInterrupted), for the caller to
	// log.
	interrupted []int64
}

func (r *Report) addProblem(p schema.Problem) {
	if len(r.Problems) >= MaxProblems {
		r.ProblemsOmitted++
		return
	}
	r.Problems = append(r.Problems, p)
}

// insertProblem puts p where it goes among the problems found in order of
// lines: after those of earlier lines and after the first at of its own
// line's. Problems past MaxProblems are counted as omitted, as addProblem
// would have.
func (r *Report) insertProblem(p schema.Problem, at int) {
	if p.Line == 0 {
		r.addProblem(p) // a row from no file: no place but the end
		return
	}
	i := 0 // the problems about the whole file (line 0) come first
	for i < len(r.Problems) && r.Problems[i].Line < p.Line {
		i++
	}
	for n := 0; n < at && i < len(r.Problems) && r.Problems[i].Line == p.Line; n++ {
		i++
	}
	if i >= MaxProblems {
		r.ProblemsOmitted++
		return
	}
	r.Problems = slices.Insert(r.Problems, i, p)
	if len(r.Problems) > MaxProblems {
		r.Problems = r.Problems[:MaxProblems]
		r.ProblemsOmitted++
	}
}

func (r *Report) addSample(op store.ChangeOp, key string, line int) {
	if len(r.Sample) < MaxSample {
		r.Sample = append(r.Sample, ChangeLine{Op: op.String(), Key: key, Line: line})
	}
}

// JSON returns the report as stored.
func (r *Report) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}

// ParseReport reads a stored report.
func ParseReport(b []byte) (*Report, error) {
	var r Report
	if len(b) == 0 {
		return &r, nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	return &r, nil
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	what := string(r.Decision)
	if r.DryRun {
		what = "would be " + what + " (dry run: nothing written)"
	}
	id := ""
	if r.DropID > 0 {
		id = fmt.Sprintf("drop %d ", r.DropID)
	}
	fmt.Fprintf(&b, "%s%s from source %s (%s): %s\n", id, quoteName(r.Name), r.Source, r.Mode, what)
	if r.Reason != "" {
		fmt.Fprintf(&b, "  reason: %s\n", r.Reason)
	}
	c := r.Counts
	fmt.Fprintf(&b, "  rows %d: added %d, updated %d, removed %d, unchanged %d, invalid %d, suppressed %d\n",
		c.Rows, c.Added, c.Updated, c.Removed, c.Unchanged, c.Invalid, c.Suppressed)
	fmt.Fprintf(&b, "  time: read %s, apply %s, total %s\n", ms(r.Timings.ReadMS), ms(r.Timings.ApplyMS), ms(r.Timings.TotalMS))
	if len(r.Sample) > 0 {
		fmt.Fprintf(&b, "  changes (first %d):\n", len(r.Sample))
		for _, s := range r.Sample {
			line := ""
			if s.Line > 0 {
				line = fmt.Sprintf(" (line %d)", s.Line)
			}
			fmt.Fprintf(&b, "    %-8s %s%s\n", s.Op, s.Key, line)
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, "  problems:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "    %s: %s\n", p.Severity, p)
		}
		if r.ProblemsOmitted > 0 {
			fmt.Fprintf(&b, "    ... and %d more\n", r.ProblemsOmitted)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func quoteName(s string) string {
	if s == "" {
		return "records"
	}
	return fmt.Sprintf("%q", s)
}

func ms(n int64) string { return (time.Duration(n) * time.Millisecond).String() }
