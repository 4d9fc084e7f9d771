package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"muster/schema"
	"muster/store"
)

// Export formats.
const (
	ExportCSV  = "csv"  // a header line, then email, first_name, last_name
	ExportJSON = "json" // one JSON object per line (NDJSON)
)

// ExportAudience writes the organisation's active recipients who belong to
// any of the groups (an audience, merge rule 4), in key order, as CSV or
// JSON lines: `muster export` and the HTTP API both use it, so both
// neutralise formulas the same way. It returns how many it wrote.
func ExportAudience(ctx context.Context, st *store.Store, orgID int64, groupIDs []int64, format string, out io.Writer) (int64, error) {
	if format != ExportCSV && format != ExportJSON {
		return 0, schema.Errorf(schema.EInvalid, "export format %q is not csv or json", format)
	}
	if len(groupIDs) == 0 {
		return 0, schema.Errorf(schema.EInvalid, "an export needs at least one group")
	}
	w := bufio.NewWriterSize(out, 1<<16)
	var each func(email, first, last []byte) error
	if format == ExportJSON {
		enc := json.NewEncoder(w)
		each = func(email, first, last []byte) error {
			return enc.Encode(map[string]string{"email": string(email), "first_name": string(first), "last_name": string(last)})
		}
	} else {
		if _, err := w.WriteString("email,first_name,last_name\n"); err != nil {
			return 0, err
		}
		var line []byte
		each = func(email, first, last []byte) error {
			line = appendExportField(line[:0], email)
			line = append(line, ',')
			line = appendExportField(line, first)
			line = append(line, ',')
			line = appendExportField(line, last)
			line = append(line, '\n')
			_, err := w.Write(line)
			return err
		}
	}
	// Reading rows out of SQLite and writing them out run on a core each:
	// rows go from one to the other a thousand at a time, their values
	// copied back to back into the batch's bytes (the store's strings are
	// only good until the next row).
	batches, free := make(chan *memberBatch, 4), make(chan *memberBatch, 6)
	written := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		var err error
		for b := range batches {
			for i := 0; i < b.len() && err == nil; i++ {
				err = each(b.member(i))
			}
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				close(stop)
				for range batches {
				}
				break
			}
			b.reset()
			select {
			case free <- b:
			default:
			}
		}
		written <- err
	}()
	var n int64
	b := newMemberBatch()
	send := func() error {
		select {
		case batches <- b:
		case <-stop:
			return errors.New("export stopped")
		}
		select {
		case b = <-free:
		default:
			b = newMemberBatch()
		}
		return nil
	}
	err := st.EachAudienceMember(ctx, orgID, groupIDs, func(email, first, last string) error {
		n++
		if b.add(email, first, last); b.len() == memberBatchSize {
			return send()
		}
		return nil
	})
	if err == nil && b.len() > 0 {
		err = send()
	}
	close(batches)
	werr := <-written
	if werr != nil {
		return n, werr
	}
	return n, err
}

// memberBatchSize is how many members an export hands from reader to
// writer at once.
const memberBatchSize = 1024

// memberBatch holds members' email, first and last names back to back in
// one array of bytes.
type memberBatch struct {
	text []byte
	ends []int // where each value ends in text, three a member
}

func newMemberBatch() *memberBatch {
	return &memberBatch{text: make([]byte, 0, 128*memberBatchSize), ends: make([]int, 0, 3*memberBatchSize)}
}

func (b *memberBatch) add(email, first, last string) {
	for _, v := range [3]string{email, first, last} {
		b.text = append(b.text, v...)
		b.ends = append(b.ends, len(b.text))
	}
}

func (b *memberBatch) len() int { return len(b.ends) / 3 }

// member returns the values of member i: views of the batch's bytes.
func (b *memberBatch) member(i int) (email, first, last []byte) {
	start := 0
	if i > 0 {
		start = b.ends[3*i-1]
	}
	e := b.ends[3*i : 3*i+3]
	return b.text[start:e[0]], b.text[e[0]:e[1]], b.text[e[1]:e[2]]
}

func (b *memberBatch) reset() {
	b.text, b.ends = b.text[:0], b.ends[:0]
}

// appendExportField appends a value as an export writes it: neutralised
// (NeutraliseCSV), then as encoding/csv writes a field. Most values start
// with a letter or digit and hold no comma, quote or line end: they are
// copied as they are, after one look at each byte.
func appendExportField[S string | []byte](b []byte, s S) []byte {
	if len(s) == 0 || !csvPlainStart[s[0]] {
		return appendCSVField(b, NeutraliseCSV(string(s)))
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\r' || c == '\n' {
			return appendCSVField(b, NeutraliseCSV(string(s)))
		}
	}
	return append(b, s...)
}

// csvPlainStart holds the bytes a value may start with and need neither
// neutralising nor quoting for it: printable ASCII but formulaStarts, the
// quote and the backslash (of \.).
var csvPlainStart = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`=+-@;,"\`, c)
	}
	return t
}()

// appendCSVField appends a field as encoding/csv's Writer writes it (comma
// separated, LF line ends): quoted when it holds a comma, a quote, CR or LF,
// starts with white space or is \. (quotes inside doubled).
func appendCSVField(b []byte, f string) []byte {
	if !csvNeedsQuotes(f) {
		return append(b, f...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(f, '"')
		if i < 0 {
			break
		}
		b = append(b, f[:i+1]...)
		b = append(b, '"')
		f = f[i+1:]
	}
	b = append(b, f...)
	return append(b, '"')
}

func csvNeedsQuotes(f string) bool {
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; c == ',' || c == '"' || c == '\r' || c == '\n' {
			return true
		}
	}
	if c := f[0]; c > ' ' && c < utf8.RuneSelf {
		return f == `\.`
	}
	r, _ := utf8.DecodeRuneInString(f)
	return unicode.IsSpace(r)
}

// NeutraliseCSV keeps a spreadsheet from running a value as a formula
// (schema.NeutraliseCSV): values added by hand are not trimmed as a file's
// are, so a formula may hide behind leading white space.
func NeutraliseCSV(s string) string { return schema.NeutraliseCSV(s) }

// AttrMap returns the optional attributes that have a value, by name, for
// JSON.
func AttrMap(a schema.Attrs) map[string]string { return attrMap(a) }
