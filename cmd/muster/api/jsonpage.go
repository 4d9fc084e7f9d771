package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"muster/schema"
	"muster/store"
)

// A page of recipients is the API's largest JSON answer asked for often (a
// comms tool walks the audience a thousand at a time), so it is written by
// hand rather than through encoding/json's reflection: the same fields in
// the same order as recipientView, compact, and indented only when the
// request asks for ?pretty.

// pageWriter writes a page of recipients as they are read, looking up the
// names of their groups (the store caches them).
type pageWriter struct {
	st     *store.Store
	ctx    context.Context
	org    int64
	buf    *[]byte
	b      []byte
	n      int
	groups map[int64]store.Group
	err    error
}

func newPageWriter(ctx context.Context, st *store.Store, org int64) *pageWriter {
	buf := pageBuffers.Get().(*[]byte)
	return &pageWriter{st: st, ctx: ctx, org: org, buf: buf, b: (*buf)[:0], groups: map[int64]store.Group{}}
}

// pageBuffers keeps the buffers pages are written in: a page of a thousand
// is some 300 KB.
var pageBuffers = sync.Pool{New: func() any { return new([]byte) }}

// add appends a recipient to the page (the array's elements only).
func (p *pageWriter) add(r *store.Recipient) error {
	var missing []int64
	for _, id := range r.GroupIDs {
		if _, ok := p.groups[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		gs, err := p.st.GroupsByID(p.ctx, p.org, missing)
		if err != nil {
			return err
		}
		for id, g := range gs {
			p.groups[id] = g
		}
	}
	if p.n > 0 {
		p.b = append(p.b, ',')
	}
	p.n++
	p.b = appendRecipient(p.b, r, p.groups)
	return nil
}

// write answers the page with the cursor of the next page ("" at the end).
func (p *pageWriter) write(w http.ResponseWriter, pretty bool, next string) {
	out := make([]byte, 0, len(p.b)+len(next)+64)
	out = append(out, '{')
	if next != "" {
		out = append(out, `"next":`...)
		out = appendJSONString(out, next)
		out = append(out, ',')
	}
	out = append(out, `"recipients":[`...)
	out = append(out, p.b...)
	out = append(out, "]}"...)
	if cap(p.b) <= 4<<20 {
		*p.buf = p.b
	}
	pageBuffers.Put(p.buf)
	if pretty {
		var ind bytes.Buffer
		if json.Indent(&ind, out, "", "  ") == nil {
			out = ind.Bytes()
		}
	}
	out = append(out, '\n')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// writeRecipientsPage answers a page of recipients with the names of their
// groups and the cursor of the next page ("" at the end).
func writeRecipientsPage(w http.ResponseWriter, pretty bool, recs []store.Recipient, groups map[int64]store.Group, next string) {
	p := newPageWriter(context.Background(), nil, 0)
	p.groups = groups
	for i := range recs {
		_ = p.add(&recs[i])
	}
	p.write(w, pretty, next)
}

// appendRecipient appends one recipient as recipientView would marshal.
func appendRecipient(b []byte, r *store.Recipient, groups map[int64]store.Group) []byte {
	b = append(b, `{"key":`...)
	b = appendJSONString(b, r.Key)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, r.Email)
	b = append(b, `,"first_name":`...)
	b = appendJSONString(b, r.FirstName)
	b = append(b, `,"last_name":`...)
	b = appendJSONString(b, r.LastName)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(r.Status))
	b = append(b, `,"created_seq":`...)
	b = strconv.AppendInt(b, r.CreatedSeq, 10)
	b = append(b, `,"updated_seq":`...)
	b = strconv.AppendInt(b, r.UpdatedSeq, 10)
	b = appendAttrs(b, &r.Attrs)
	b = append(b, `,"groups":[`...)
	for i, id := range r.GroupIDs {
		if i > 0 {
			b = append(b, ',')
		}
		g := groups[id]
		b = append(b, `{"source":`...)
		b = appendJSONString(b, g.SourceName)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, g.Name)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendAttrs appends the attributes that have a value as an object sorted
// by name (as encoding/json writes a map), or nothing when none has one.
func appendAttrs(b []byte, a *schema.Attrs) []byte {
	var set []schema.Attr
	for i, v := range a {
		if v != "" {
			set = append(set, schema.Attr(i))
		}
	}
	if len(set) == 0 {
		return b
	}
	slices.SortFunc(set, func(x, y schema.Attr) int {
		switch xs, ys := x.String(), y.String(); {
		case xs < ys:
			return -1
		case xs > ys:
			return 1
		}
		return 0
	})
	b = append(b, `,"attrs":{`...)
	for i, at := range set {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, at.String())
		b = append(b, ':')
		b = appendJSONString(b, a[at])
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters, U+2028 and U+2029 included; invalid UTF-8
// becomes U+FFFD). Plain text, nearly every value, is copied as it is.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			if c >= 0x80 && plainUTF8(s[i:]) {
				break
			}
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainUTF8 says s is valid UTF-8 whose ASCII needs no escaping and which
// has no U+2028 or U+2029 (which encoding/json escapes).
func plainUTF8(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			if c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return false
		}
		i += n
	}
	return true
}
