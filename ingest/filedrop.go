package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"muster/schema"
)

// openFileDrop hashes the file at path and starts decoding it as a drop of
// src named name. A file the decoder refuses is still a drop (Records nil,
// FileProblems saying why), so it is recorded and reported as rejected. The
// caller closes the returned file once the drop has run.
func openFileDrop(path, name string, src *FileSource) (Drop, io.Closer, error) {
	hash, err := hashFile(path)
	if err != nil {
		return Drop{}, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Drop{}, nil, err
	}
	d := Drop{Org: src.Org, Source: src.Config, Name: name, ContentHash: hash}
	dec, err := schema.NewDecoder(f, src.Decode)
	var fe *schema.FileError
	switch {
	case errors.As(err, &fe):
		d.FileProblems = fe.Problems
		d.FileInfo, _ = json.Marshal(fe.Info)
	case err != nil:
		f.Close()
		return Drop{}, nil, fmt.Errorf("read %s: %w", name, err)
	default:
		d.Records, d.Delta = dec, dec.Info().Delta
		d.Info = dec.Info
	}
	return d, f, nil
}

// hashFile returns "sha256:" and the hex SHA-256 of the file's content: the
// drop's identity (as `muster ingest` computes it), so the same file twice
// is a duplicate whichever way it came in.
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
