package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// maxTextProblems is how many problems the text output lists; -json lists all.
const maxTextProblems = 50

// checkOutput is what `muster check -json` prints: the file, the source
// label, the config's settings used, and schema.CheckResult's fields.
type checkOutput struct {
	Path     string         `json:"path"`
	Source   string         `json:"source,omitempty"`
	Settings *checkSettings `json:"settings,omitempty"`
	schema.CheckResult
}

// checkSettings are the settings of a source in the config that `check`
// read the file with (flags given explicitly win over them).
type checkSettings struct {
	Config            string            `json:"config"`
	Org               string            `json:"org"`
	Mode              string            `json:"mode"`
	Delimiter         string            `json:"delimiter,omitempty"`
	DayFirst          bool              `json:"day_first"`
	Columns           map[string]string `json:"columns,omitempty"`
	MaxInvalidPercent float64           `json:"max_invalid_percent"`
}

// cmdCheck reads a file as the pipeline would, prints what muster
// understood of it, and exits 4 when the file would be refused, 3 when it
// would be held (no rows). It never
// touches a store. With -source naming a source of the config, the file is
// read with that source's delimiter, day_first and column overrides, and
// judged by its max_invalid_percent, as the daemon would.
func cmdCheck(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check", "FILE (or - for standard input)")
	cf := addConfigFlags(fs, e)
	source := fs.String("source", "", "the source the file is for: read with its settings in the config (-config)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	records := fs.Bool("records", false, "also print the decoded records")
	df := addDecodeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("check takes one FILE, got %d arguments", fs.NArg())
	}
	var conf *SourceConf
	switch {
	case *source != "":
		if err := cf.load("", *source); err != nil {
			return err
		}
		conf = cf.source(*source)
	case set(fs)["config"]:
		// Without a source the config has nothing to say about a file,
		// but a config named that does not load must say so.
		if err := cf.readFile(""); err != nil {
			return err
		}
	}
	opts, err := df.options(conf)
	if err != nil {
		return err
	}
	maxInvalid, label, settings := checkSource(cf, *source, conf)
	path := fs.Arg(0)
	var in io.Reader = e.stdin
	if path == "-" {
		path = "(standard input)"
	} else {
		f, err := openChecked(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	var res schema.CheckResult
	if *asJSON {
		res, err = writeCheckJSON(e.stdout, in, opts, maxInvalid, *records,
			checkOutput{Path: path, Source: *source, Settings: settings})
	} else {
		err = printCheckStream(e.stdout, in, opts, maxInvalid, *records, path, label, deltaSource(conf), &res)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	switch {
	case res.Refused:
		return exitStatus(exitRejected)
	case res.Held && !deltaSource(conf):
		return exitStatus(exitHeld)
	}
	return nil
}

// openChecked opens the file named on the command line: a symbolic link
// the user names is followed (they mean its target), but only a regular
// file is read, so a named pipe or a device fails at once instead of
// waiting for ever.
func openChecked(path string) (*os.File, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, err
	}
	return ingest.OpenRegular(real)
}

// deltaSource says the config makes every file of the source a delta.
func deltaSource(conf *SourceConf) bool { return conf != nil && conf.Mode == string(store.ModeDelta) }

// checkSource returns the share of invalid rows over which the source's
// files are refused, the source line of the text output, and the config's
// settings used (nil: none).
func checkSource(cf *configFlags, source string, conf *SourceConf) (float64, string, *checkSettings) {
	switch {
	case conf != nil:
		pct := cf.cfg.sourceConfig(conf).MaxInvalidPercent
		maxInvalid := pct / 100
		if pct < 0 {
			maxInvalid = math.Inf(1) // -1: never refused for invalid rows
		}
		settings := &checkSettings{Config: cf.cfg.path, Org: conf.Org, Mode: conf.Mode, DayFirst: conf.DayFirst,
			Columns: conf.Columns, MaxInvalidPercent: pct}
		if d := conf.decodeOptions().Delimiter; d != 0 {
			settings.Delimiter = string(d)
		}
		return maxInvalid, source + " (" + cf.cfg.describe(conf) + ")", settings
	case source != "" && cf.cfg != nil:
		return schema.DefaultMaxInvalidShare, fmt.Sprintf("%s (not in %s: built-in settings)", source, cf.cfg.path), nil
	case source != "":
		return schema.DefaultMaxInvalidShare, source + " (no config: built-in settings)", nil
	}
	return schema.DefaultMaxInvalidShare, "", nil
}

// printCheck prints what check understood; deltaSource says the source is
// configured as delta, which makes every file of it a delta. res.Problems
// holds the first problems (at least maxTextProblems of them, when there
// are as many), total says how many there are, and records prints the
// records asked for.
func printCheck(w io.Writer, path, source string, deltaSource bool, res schema.CheckResult, total int, records func(io.Writer) error) {
	fi := res.File
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	p("file", "%s", path)
	if source != "" {
		p("source", "%s", source)
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
		switch {
		case fi.Delta:
			kind = "delta: it has an action column, so each row adds, updates or removes one person"
		case deltaSource:
			kind = "delta: the source is configured so, and with no action column each row adds or updates one person"
		}
		p("kind", "%s", kind)
	}
	p("rows", "%d (%d valid, %d invalid)", fi.Rows, res.Valid, res.Invalid)
	if total > 0 {
		p("problems", "%d", total)
		for i, pr := range res.Problems {
			if i == maxTextProblems {
				break
			}
			fmt.Fprintf(w, "  %s %s\n", pr.Severity, pr)
		}
		if total > maxTextProblems {
			fmt.Fprintf(w, "  ... and %d more (use -json to see them all)\n", total-maxTextProblems)
		}
	}
	_ = records(w)
	switch {
	case res.Refused:
		p("result", "REFUSED: %s", res.Reasons[0].Message)
	case res.Held && !deltaSource:
		p("result", "HELD: no rows; as a full snapshot it would remove everyone, so it is held for an admin to approve or reject")
	default:
		p("result", "accepted: %d records would be applied", res.Valid)
	}
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
