package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"muster/ingest"
)

// cmdIngest runs one file through the pipeline as a drop of a source. A
// source in the config is read and judged exactly as the daemon would
// (Config.sourceConfig, SourceConf.decodeOptions); flags given explicitly
// win over it.
func cmdIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ingest", "-source NAME FILE")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprintln(e.stderr, "\nA source in the config (-config) takes its settings from there; one that is not takes\n"+
			"them from the store, or from these flags' defaults when new. Flags given explicitly win.")
	}
	sf := addStoreFlags(fs, e)
	srcf := addSourceFlags(fs)
	df := addDecodeFlags(fs)
	source := fs.String("source", "", "the source the file comes from (required)")
	dry := fs.Bool("dry-run", false, "compute and print the report; write nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *source == "" || fs.NArg() != 1 {
		return usagef("need -source NAME and one FILE")
	}
	if err := sf.setup(*source); err != nil {
		return err
	}
	conf := sf.source(*source)
	if err := fileSourceConf(conf); err != nil {
		return err
	}
	opts, err := df.options(conf)
	if err != nil {
		return err
	}
	in, cleanup, err := sf.ingesterForDrop(ctx, e, *dry)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg, err := srcf.config(ctx, in.Store, sf, *source)
	if err != nil {
		return err
	}
	path := fs.Arg(0)
	// Opened as the daemon opens its files (ingest.OpenFile), so both
	// judge a file alike. The file is only read: it stays where it is.
	file, err := ingest.OpenFile(path, filepath.Base(path), opts)
	if err != nil {
		return err
	}
	defer file.Close()
	drop := file.Drop
	drop.Org, drop.Source = sf.org, cfg
	p := newProgress(e, file.Size, file.BytesRead)
	if p != nil {
		in.Progress = p.report
		defer p.done()
	}
	rep, err := in.Ingest(ctx, drop, ingest.Options{DryRun: *dry, By: cliUser(e)})
	// The progress line is cleared before anything else is printed.
	p.done()
	if err != nil {
		return err
	}
	return printReport(e, sf, rep)
}

// progress prints one line on a terminal while a long drop runs: rows per
// second and the time left. Nothing when stderr is not a terminal.
type progress struct {
	w     io.Writer
	size  int64
	read  func() int64 // bytes read so far
	start time.Time
	last  time.Time
	shown bool
	// applyStart is when the first apply progress came.
	applyStart time.Time
}

func newProgress(e *env, size int64, read func() int64) *progress {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: e.stderr, size: size, read: read, start: time.Now()}
}

func (p *progress) report(pr ingest.Progress) {
	now := time.Now()
	if now.Sub(p.last) < 500*time.Millisecond || now.Sub(p.start) < time.Second {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	var line string
	switch pr.Phase {
	case "read":
		done := float64(p.read())
		eta := ""
		if done > 0 && p.size > 0 {
			eta = fmt.Sprintf(", %.0f%%, reading done in %s", done*100/float64(p.size),
				time.Duration(el*(float64(p.size)-done)/done*float64(time.Second)).Round(time.Second))
		}
		line = fmt.Sprintf("read %d rows (%.0f rows/s%s)", pr.Done, float64(pr.Done)/el, eta)
	default:
		if p.applyStart.IsZero() {
			p.applyStart = now
		}
		line = fmt.Sprintf("applied %d of %d changes", pr.Done, pr.Total)
		if ael := now.Sub(p.applyStart).Seconds(); ael > 0 && pr.Done > 0 && pr.Total > 0 {
			rate := float64(pr.Done) / ael
			line += fmt.Sprintf(" (%.0f rows/s, done in %s)", rate,
				(time.Duration(float64(pr.Total-pr.Done)/rate) * time.Second).Round(time.Second))
		}
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.shown = true
}

// done clears the progress line, once; nil does nothing.
func (p *progress) done() {
	if p != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
