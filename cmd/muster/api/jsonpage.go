package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	st   *store.Store
	ctx  context.Context
	org  int64
	objs *groupObjects // nil: every page builds its own
	buf  *[]byte
	b    []byte
	n    int
	// groups holds each group of the page as its JSON object, written
	// once: a page of a thousand names a few dozen groups three thousand
	// times.
	groups groupJSON
	err    error
}

// groupJSON holds groups' JSON objects by id: in a slice for the small ids
// (most stores' groups), in a map for others.
type groupJSON struct {
	dense  [][]byte
	sparse map[int64][]byte
}

// denseGroups bounds the ids groupJSON keeps in its slice.
const denseGroups = 4096

func (g *groupJSON) get(id int64) ([]byte, bool) {
	if id >= 0 && id < int64(len(g.dense)) {
		b := g.dense[id]
		return b, b != nil
	}
	b, ok := g.sparse[id]
	return b, ok
}

func (g *groupJSON) set(id int64, b []byte) {
	if id >= 0 && id < denseGroups {
		if id >= int64(len(g.dense)) {
			g.dense = append(g.dense, make([][]byte, int(id)+1-len(g.dense))...)
		}
		g.dense[id] = b
		return
	}
	if g.sparse == nil {
		g.sparse = map[int64][]byte{}
	}
	g.sparse[id] = b
}

func newPageWriter(ctx context.Context, st *store.Store, objs *groupObjects, org int64) *pageWriter {
	var buf *[]byte
	select {
	case buf = <-pageBuffers:
	default:
		buf = new([]byte)
	}
	return &pageWriter{st: st, ctx: ctx, objs: objs, org: org, buf: buf, b: (*buf)[:0]}
}

// addGroups sets the JSON objects of groups (a group not found by the store
// is written with empty names, as encoding/json writes a zero Group, and
// not kept in p.objs).
func (p *pageWriter) addGroups(ids []int64, gs map[int64]store.Group) {
	for _, id := range ids {
		g, found := gs[id]
		b := []byte(`{"source":`)
		b = appendJSONString(b, g.SourceName)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, g.Name)
		b = append(b, '}')
		p.groups.set(id, b)
		if found && p.objs != nil {
			p.objs.put(p.org, id, b)
		}
	}
}

// groupObjects keeps the JSON objects of the groups pages have named, by
// id, for every page: a group's source and name never change and no group
// is deleted (the store caches them so too), so an object never goes
// stale. A page then builds none and asks the store nothing.
type groupObjects struct {
	mu sync.RWMutex
	m  map[int64]groupObject
}

type groupObject struct {
	org  int64
	json []byte
}

// get returns the object of group id of org.
func (g *groupObjects) get(org, id int64) ([]byte, bool) {
	g.mu.RLock()
	o, ok := g.m[id]
	g.mu.RUnlock()
	return o.json, ok && o.org == org
}

func (g *groupObjects) put(org, id int64, b []byte) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[int64]groupObject{}
	}
	g.m[id] = groupObject{org: org, json: b}
	g.mu.Unlock()
}

// pageBuffers keeps the buffers pages are written in (a page of a
// thousand is some 300 KB), at most four of at most 4 MiB. Not a
// sync.Pool: that one is emptied by every garbage collection, some every
// dozen pages, and each page after one grew its buffer again.
var pageBuffers = make(chan *[]byte, 4)

// add appends a recipient to the page (the array's elements only).
func (p *pageWriter) add(r *store.Recipient) error {
	var missing []int64
	for _, id := range r.GroupIDs {
		if _, ok := p.groups.get(id); ok {
			continue
		}
		if p.objs != nil {
			if b, ok := p.objs.get(p.org, id); ok {
				p.groups.set(id, b)
				continue
			}
		}
		missing = append(missing, id)
	}
	if len(missing) > 0 {
		gs, err := p.st.GroupsByID(p.ctx, p.org, missing)
		if err != nil {
			return err
		}
		p.addGroups(missing, gs)
	}
	if p.n > 0 {
		p.b = append(p.b, ',')
	}
	p.n++
	p.b = appendRecipient(p.b, r, &p.groups)
	return nil
}

// write answers the page with the cursor of the next page ("" at the end).
func (p *pageWriter) write(w http.ResponseWriter, pretty bool, next string) {
	// The page's elements are written from the buffer they were appended
	// to, between the object's head and tail: no copy of 300 KB a page.
	head := make([]byte, 0, len(next)+32)
	head = append(head, '{')
	if next != "" {
		head = append(head, `"next":`...)
		head = appendJSONString(head, next)
		head = append(head, ',')
	}
	head = append(head, `"recipients":[`...)
	const tail = "]}\n"
	defer func() {
		if cap(p.b) > 4<<20 {
			return
		}
		*p.buf = p.b
		select {
		case pageBuffers <- p.buf:
		default:
		}
	}()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if pretty {
		var ind bytes.Buffer
		whole := slices.Concat(head, p.b, []byte(tail[:2]))
		if json.Indent(&ind, whole, "", "  ") == nil {
			whole = ind.Bytes()
		}
		whole = append(whole, '\n')
		w.Header().Set("Content-Length", strconv.Itoa(len(whole)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(whole)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(p.b)+len(tail)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err == nil {
		if _, err = w.Write(p.b); err == nil {
			_, _ = w.Write([]byte(tail))
		}
	}
}

// writeRecipientsPage answers a page of recipients with the names of their
// groups and the cursor of the next page ("" at the end).
func writeRecipientsPage(w http.ResponseWriter, pretty bool, recs []store.Recipient, groups map[int64]store.Group, next string) {
	p := newPageWriter(context.Background(), nil, nil, 0)
	for i := range recs {
		p.addGroups(recs[i].GroupIDs, groups)
	}
	for i := range recs {
		_ = p.add(&recs[i])
	}
	p.write(w, pretty, next)
}

// appendRecipient appends one recipient as recipientView would marshal,
// with the JSON objects of its groups.
func appendRecipient(b []byte, r *store.Recipient, groups *groupJSON) []byte {
	b = append(b, `{"key":`...)
	key := len(b)
	b = appendJSONString(b, r.Key)
	end := len(b)
	b = append(b, `,"email":`...)
	if r.Email == r.Key { // most are: the same JSON
		b = append(b, b[key:end]...)
	} else {
		b = appendJSONString(b, r.Email)
	}
	b = append(b, `,"first_name":`...)
	b = appendJSONString(b, r.FirstName)
	b = append(b, `,"last_name":`...)
	b = appendJSONString(b, r.LastName)
	b = append(b, `,"status":`...)
	switch r.Status {
	case store.StatusActive:
		b = append(b, `"active"`...)
	default:
		b = appendJSONString(b, string(r.Status))
	}
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
		g, _ := groups.get(id)
		b = append(b, g...)
	}
	return append(b, "]}"...)
}

// appendAttrs appends the attributes that have a value as an object sorted
// by name (as encoding/json writes a map), or nothing when none has one.
func appendAttrs(b []byte, a *schema.Attrs) []byte {
	set := 0
	for i := range a {
		set |= len(a[i])
	}
	if set == 0 { // most recipients of most stores
		return b
	}
	n := 0
	for _, at := range attrsByName {
		if a[at] == "" {
			continue
		}
		if n == 0 {
			b = append(b, `,"attrs":{`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = appendJSONString(b, at.String())
		b = append(b, ':')
		b = appendJSONString(b, a[at])
	}
	if n == 0 {
		return b
	}
	return append(b, '}')
}

// attrsByName are the attributes in the order of their names, the order
// encoding/json writes a map's keys in.
var attrsByName = func() []schema.Attr {
	out := make([]schema.Attr, schema.NumAttrs)
	for i := range out {
		out[i] = schema.Attr(i)
	}
	slices.SortFunc(out, func(x, y schema.Attr) int { return strings.Compare(x.String(), y.String()) })
	return out
}()

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (its appendString with HTML escaping: quotes, backslashes,
// control characters, <, > and &, U+2028 and U+2029; invalid UTF-8 becomes
// U+FFFD). Plain text, nearly every value, is copied as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = skipPlain(s, i); i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default: // other control characters, <, > and &
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// skipPlain returns the first index from i on of s whose 8 bytes are not
// all ASCII bytes that appendJSONString copies as they are (jsonSafe), or
// len(s) when no 8 bytes are left, testing 8 bytes at once: a page's values
// are mostly long plain addresses.
func skipPlain(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// With every byte below 0x80, (x - n*ones) &^ x & highs is not zero
	// exactly when some byte of x is below n, and a byte equal to c is a
	// zero byte of w ^ c*ones.
	below := func(x uint64, n uint64) uint64 { return (x - n*ones) &^ x & highs }
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		_ = b[7]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if w&highs != 0 || below(w, 0x20)|below(w^'"'*ones, 1)|below(w^'\\'*ones, 1)|
			below(w^'<'*ones, 1)|below(w^'>'*ones, 1)|below(w^'&'*ones, 1) != 0 {
			return i
		}
	}
	return i
}

// jsonSafe holds the ASCII bytes appendJSONString copies as they are: all
// but control characters, the quote, the backslash and the HTML characters
// (encoding/json's htmlSafeSet).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
