package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync/atomic"

	"muster/schema"
)

// DropFile is a file opened as a drop: hashed, and decoded as the pipeline
// reads its records. `muster ingest` and the daemon (Files) both open their
// files with OpenFile, so the same file is judged the same way whichever
// way it came in. Close it once the drop has run.
type DropFile struct {
	// Drop is the file's drop; the caller sets Org and Source.
	Drop Drop
	// Size is the file's size in bytes when it was opened.
	Size int64

	f    *os.File
	read atomic.Int64
	hash *fileHash
}

// OpenFile opens the file at path as a drop named name, decoded with opts:
// its content hash ("sha256:...", the drop's identity, so the same file
// twice is a duplicate; "+settings:..." follows when opts are not the
// defaults, since other settings read other records) and a Drop whose
// records stream from the file (see FileDrop: a file the decoder refuses
// is still a drop, rejected, and an empty one is an empty stream, which the
// guards hold). The hash is computed on its own goroutine while the
// pipeline starts reading the records (Drop.Hash), through the same
// descriptor, so the records are those of the content hashed even if the
// file is renamed or replaced meanwhile. Only a regular file is opened (see
// OpenRegular): anything else is a *NotRegularError.
func OpenFile(path, name string, opts schema.DecodeOptions) (*DropFile, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	df := &DropFile{Size: st.Size(), f: f, hash: &fileHash{done: make(chan struct{})}}
	go df.hash.run(f, name, settingsTag(opts))
	df.Drop, err = FileDrop(countingReader{f, &df.read}, name, "", opts)
	if err != nil {
		df.Close()
		return nil, err
	}
	df.Drop.Hash, df.Drop.Size = df.hash.wait, st.Size()
	return df, nil
}

// fileHash computes a file's content hash with reads at offsets (pread),
// beside the decoder's reading of the same descriptor.
type fileHash struct {
	done chan struct{}
	stop atomic.Bool
	sum  string
	err  error
}

func (h *fileHash) run(f *os.File, name, tag string) {
	defer close(h.done)
	sum := sha256.New()
	buf := make([]byte, 256<<10)
	for off := int64(0); ; {
		if h.stop.Load() {
			h.err = errors.New("stopped")
			return
		}
		n, err := f.ReadAt(buf, off)
		sum.Write(buf[:n])
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			h.err = fmt.Errorf("read %s: %w", name, err)
			return
		}
	}
	h.sum = "sha256:" + hex.EncodeToString(sum.Sum(nil)) + tag
}

func (h *fileHash) wait() (string, error) {
	<-h.done
	return h.sum, h.err
}

// ContentHash returns the file's content hash, waiting for it (Drop.Hash).
func (df *DropFile) ContentHash() (string, error) { return df.hash.wait() }

// BytesRead says how much of the file the decoder has read so far (for a
// progress line); it may be called while the drop runs.
func (df *DropFile) BytesRead() int64 { return df.read.Load() }

// Close closes the file.
func (df *DropFile) Close() error {
	df.hash.stop.Store(true)
	<-df.hash.done
	return df.f.Close()
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// settingsTag identifies the settings a file is read with, appended to its
// content hash when they are not the defaults: the same bytes read with
// another delimiter, date order or column mapping say something else, so
// they are not a duplicate of the drop read before.
func settingsTag(opts schema.DecodeOptions) string {
	if opts.Delimiter == 0 && !opts.DayFirst && len(opts.Columns) == 0 {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q %t", opts.Delimiter, opts.DayFirst)
	for _, col := range slices.Sorted(maps.Keys(opts.Columns)) {
		fmt.Fprintf(h, " %q=%q", col, opts.Columns[col])
	}
	return "+settings:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// FileDrop starts a drop from a file's content: it decodes the header and
// returns a Drop whose records stream from r as the pipeline reads them.
// A file the decoder refuses at once (not text, no email column...) gives a
// Drop with no records and its problems, which Ingest records as rejected.
// The caller fills Org and Source, and keeps r open until Ingest returns.
// hash is the content's identity, "sha256:..." of the file. Files on disk
// are opened with OpenFile, which hashes them and calls FileDrop.
func FileDrop(r io.Reader, name, hash string, opts schema.DecodeOptions) (Drop, error) {
	d := Drop{Name: name, ContentHash: hash}
	// The pipeline finds repeated addresses itself, against the snapshot,
	// in memory that does not grow with the file.
	opts.DeferDuplicates = true
	dec, err := schema.NewDecoder(r, opts)
	var fe *schema.FileError
	switch {
	case errors.As(err, &fe):
		d.FileProblems = fe.Problems
		d.FileInfo, _ = json.Marshal(fe.Info.Capped(MaxProblems))
		if onlyEmpty(fe.Problems) {
			// An empty file is what a truncated export looks like: as a full
			// snapshot it says "nobody", which the guards hold for an admin
			// rather than refuse, like a header-only file.
			d.Records = &schema.SliceStream{}
		}
		return d, nil
	case err != nil:
		return d, fmt.Errorf("read %s: %w", name, err)
	}
	d.Records = dec
	d.Delta = dec.Info().Delta
	d.Info = dec.Info
	return d, nil
}

func onlyEmpty(ps []schema.Problem) bool {
	for _, p := range ps {
		if p.Severity == schema.SeverityError && p.Code != schema.CodeEmptyFile {
			return false
		}
	}
	return len(ps) > 0
}
