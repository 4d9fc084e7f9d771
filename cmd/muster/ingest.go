package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"muster/ingest"
	"muster/schema"
)

func cmdIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ingest", "-source NAME FILE")
	sf := addStoreFlags(fs, e)
	srcf := addSourceFlags(fs)
	source := fs.String("source", "", "the source the file comes from (required)")
	dry := fs.Bool("dry-run", false, "compute and print the report; write nothing")
	delim := fs.String("delimiter", "", "column delimiter (default: detected)")
	dayFirst := fs.Bool("day-first", false, "read dates like 03/04/2024 as 3 April")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *source == "" || fs.NArg() != 1 {
		return usagef("need -source NAME and one FILE")
	}
	opts := schema.DecodeOptions{DayFirst: *dayFirst}
	if *delim != "" {
		r := []rune(*delim)
		if len(r) != 1 {
			return usagef("-delimiter must be one character")
		}
		opts.Delimiter = r[0]
	}
	in, cleanup, err := sf.ingesterForDrop(ctx, e, *dry)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg, err := srcf.config(ctx, in.Store, sf.org, *source)
	if err != nil {
		return err
	}
	path := fs.Arg(0)
	hash, size, err := fileHash(path)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := &countReader{r: f}
	drop := ingest.Drop{Org: sf.org, Source: cfg, Name: filepath.Base(path), ContentHash: hash}
	dec, err := schema.NewDecoder(cr, opts)
	var fe *schema.FileError
	switch {
	case errors.As(err, &fe):
		drop.FileProblems = fe.Problems
		drop.FileInfo, _ = json.Marshal(fe.Info)
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	default:
		drop.Records = dec
		drop.Delta = dec.Info().Delta
		drop.Info = func() schema.FileInfo { return dec.Info() }
	}
	if p := newProgress(e, size, cr); p != nil {
		in.Progress = p.report
		defer p.done()
	}
	rep, err := in.Ingest(ctx, drop, ingest.Options{DryRun: *dry, By: "cli"})
	if err != nil {
		return err
	}
	return printReport(e, sf, rep)
}

// fileHash returns the SHA-256 of a file (its identity as a drop) and size.
func fileHash(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// progress prints one line on a terminal while a long drop runs: rows per
// second and the time left. Nothing when stderr is not a terminal.
type progress struct {
	w     io.Writer
	size  int64
	cr    *countReader
	start time.Time
	last  time.Time
	shown bool
}

func newProgress(e *env, size int64, cr *countReader) *progress {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: e.stderr, size: size, cr: cr, start: time.Now()}
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
		done := float64(p.cr.n.Load())
		eta := ""
		if done > 0 && p.size > 0 {
			eta = fmt.Sprintf(", %.0f%%, reading done in %s", done*100/float64(p.size),
				time.Duration(el*(float64(p.size)-done)/done*float64(time.Second)).Round(time.Second))
		}
		line = fmt.Sprintf("read %d rows (%.0f rows/s%s)", pr.Done, float64(pr.Done)/el, eta)
	default:
		line = fmt.Sprintf("applied %d of %d changes", pr.Done, pr.Total)
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.shown = true
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
