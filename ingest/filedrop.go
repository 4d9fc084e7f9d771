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
// src. The caller runs the drop, then calls info for what the decoder
// understood of the whole file, and close. A file the decoder refuses is
// still a drop (Records nil, FileProblems saying why), so it is recorded
// and reported as rejected.
func openFileDrop(path, name string, src *FileSource) (d Drop, info func() json.RawMessage, closeFn func(), err error) {
	hash, err := hashFile(path)
	if err != nil {
		return Drop{}, nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Drop{}, nil, nil, err
	}
	d = Drop{Org: src.Org, Source: src.Config, Name: name, ContentHash: hash}
	dec, err := schema.NewDecoder(f, src.Decode)
	var fe *schema.FileError
	switch {
	case errors.As(err, &fe):
		fi := fe.Info
		fi.Problems = fe.Problems
		b, _ := json.Marshal(fi)
		d.FileProblems, d.FileInfo = fe.Problems, b
		return d, func() json.RawMessage { return b }, func() { f.Close() }, nil
	case err != nil:
		f.Close()
		return Drop{}, nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	head := dec.Info()
	d.Records, d.Delta, d.FileProblems = dec, head.Delta, head.Problems
	d.FileInfo, _ = json.Marshal(head)
	info = func() json.RawMessage {
		b, _ := json.Marshal(dec.Info())
		return b
	}
	return d, info, func() { f.Close() }, nil
}

// hashFile returns the hex SHA-256 of the file's content: the drop's
// identity, so the same file twice is a duplicate.
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
	return hex.EncodeToString(h.Sum(nil)), nil
}
