package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"muster/schema"
)

// maxTextProblems is how many problems the text output lists; -json lists all.
const maxTextProblems = 50

// checkOutput is what `muster check -json` prints: the file, the source
// label, and schema.CheckResult's fields.
type checkOutput struct {
	Path   string `json:"path"`
	Source string `json:"source,omitempty"`
	schema.CheckResult
}

// cmdCheck reads a file as the pipeline would, prints what muster
// understood of it, and exits 4 when the file would be refused. It never
// touches a store.
func cmdCheck(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check", "FILE")
	source := fs.String("source", "", "name of the source, to label the output (per-source settings are not read yet)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	records := fs.Bool("records", false, "also print the decoded records")
	delim := fs.String("delimiter", "", "the column delimiter: , ; | tab or one character (default: detect)")
	dayFirst := fs.Bool("day-first", false, "read dates such as 03/04/2024 as day first (3 April)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("check takes one FILE, got %d arguments", fs.NArg())
	}
	opts := schema.DecodeOptions{DayFirst: *dayFirst}
	if *delim != "" {
		d, err := parseDelimiter(*delim)
		if err != nil {
			return err
		}
		opts.Delimiter = d
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := schema.Check(f, opts, schema.DefaultMaxInvalidShare, *records)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checkOutput{Path: path, Source: *source, CheckResult: res}); err != nil {
			return err
		}
	} else {
		printCheck(e.stdout, path, *source, res)
	}
	if res.Refused {
		return exitStatus(exitRejected)
	}
	return nil
}

func parseDelimiter(s string) (rune, error) {
	switch strings.ToLower(s) {
	case "tab", `\t`:
		return '\t', nil
	case "comma":
		return ',', nil
	case "semicolon":
		return ';', nil
	case "pipe":
		return '|', nil
	}
	if r, n := utf8.DecodeRuneInString(s); n == len(s) && r < utf8.RuneSelf {
		return r, nil
	}
	return 0, usagef("-delimiter %q: give one character, or tab", s)
}

func printCheck(w io.Writer, path, source string, res schema.CheckResult) {
	fi := res.File
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	p("file", "%s", path)
	if source != "" {
		p("source", "%s (a label only: per-source settings are not read yet)", source)
	}
	if fi.Encoding != "" {
		enc := fi.Encoding
		if fi.BOM {
			enc += " with BOM"
		}
		if fi.EncodingAssumed {
			enc += " (assumed: the bytes are not valid UTF-8)"
		}
		p("encoding", "%s", enc)
	}
	if fi.Delimiter != 0 {
		p("delimiter", "%s %q (%s)", schema.DelimiterName(fi.Delimiter), fi.Delimiter, fi.DelimiterFrom)
	}
	if len(fi.Columns) > 0 {
		p("header", "line %d, %d columns", fi.HeaderLine, len(fi.Columns))
		width := 0
		for _, c := range fi.Columns {
			width = max(width, utf8.RuneCountInString(c.Name))
		}
		for _, c := range fi.Columns {
			pad := strings.Repeat(" ", width-utf8.RuneCountInString(c.Name))
			if c.Field != "" {
				fmt.Fprintf(w, "  %s%s -> %s\n", c.Name, pad, c.Field)
			} else {
				fmt.Fprintf(w, "  %s%s    (ignored: %s)\n", c.Name, pad, c.Note)
			}
		}
		kind := "full snapshot: people it does not list are removed from this source"
		if fi.Delta {
			kind = "delta: it has an action column, so each row adds, updates or removes one person"
		}
		p("kind", "%s", kind)
	}
	p("rows", "%d (%d valid, %d invalid)", fi.Rows, res.Valid, res.Invalid)
	if n := len(res.Problems); n > 0 {
		p("problems", "%d", n)
		for i, pr := range res.Problems {
			if i == maxTextProblems {
				fmt.Fprintf(w, "  ... and %d more (use -json to see them all)\n", n-maxTextProblems)
				break
			}
			fmt.Fprintf(w, "  %s %s\n", pr.Severity, pr)
		}
	}
	for _, r := range res.Records {
		fmt.Fprintf(w, "record      line %d: %s\n", r.Line, recordLine(r))
	}
	if res.Refused {
		p("result", "REFUSED: %s", res.Reasons[0].Message)
		return
	}
	p("result", "accepted: %d records would be applied", res.Valid)
}

// recordLine is a one-line summary of a record for the text output.
func recordLine(r schema.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", r.Email)
	if r.Key != r.Email && r.Key != "" {
		fmt.Fprintf(&b, " (key %s)", r.Key)
	}
	if name := strings.TrimSpace(r.FirstName + " " + r.LastName); name != "" {
		fmt.Fprintf(&b, " %q", name)
	}
	fmt.Fprintf(&b, " %s", r.Status)
	if r.Action == schema.ActionRemove {
		b.WriteString(" REMOVE")
	}
	if r.SourceID != "" {
		fmt.Fprintf(&b, " id=%s", r.SourceID)
	}
	if len(r.Groups) > 0 {
		fmt.Fprintf(&b, " groups=%s", strings.Join(r.Groups, "|"))
	}
	for i, v := range r.Attrs {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", schema.Attr(i), v)
		}
	}
	if !r.Valid() {
		b.WriteString(" INVALID")
	}
	return b.String()
}
