package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"muster/schema"
)

// FileDrop starts a drop from a file's content: it decodes the header and
// returns a Drop whose records stream from r as the pipeline reads them.
// A file the decoder refuses at once (not text, no email column...) gives a
// Drop with no records and its problems, which Ingest records as rejected.
// The caller fills Org and Source, and keeps r open until Ingest returns.
// hash is the content's identity, "sha256:..." of the file.
func FileDrop(r io.Reader, name, hash string, opts schema.DecodeOptions) (Drop, error) {
	d := Drop{Name: name, ContentHash: hash}
	dec, err := schema.NewDecoder(r, opts)
	var fe *schema.FileError
	switch {
	case errors.As(err, &fe):
		d.FileProblems = fe.Problems
		d.FileInfo, _ = json.Marshal(fe.Info)
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
