package schema

import "io"

// Stream yields records one at a time, so a source of a million rows is
// never held in memory whole. Next returns io.EOF after the last record; any
// other error is fatal for the whole source. The pipeline in ingest/ takes
// a Stream, whichever source produced it: a decoded file, a WorkOS pull or a
// manual edit.
type Stream interface {
	Next() (Record, error)
}

// SliceStream is a Stream over records already in memory (manual edits,
// tests).
type SliceStream struct {
	Records []Record
	i       int
}

// Next returns the next record or io.EOF.
func (s *SliceStream) Next() (Record, error) {
	if s.i >= len(s.Records) {
		return Record{}, io.EOF
	}
	s.i++
	return s.Records[s.i-1], nil
}
