package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// decodeWith decodes in; lazy rows are read back with a RowReader when
// read is set (and counted in *lazy).
func decodeWith(t *testing.T, in string, o DecodeOptions, lazy bool, read bool, nLazy *int) (*Decoder, []Record) {
	t.Helper()
	d, err := NewDecoder(strings.NewReader(in), o)
	if err != nil {
		t.Fatal(err)
	}
	if lazy {
		d.SetLazy()
	}
	var out []Record
	for {
		r, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	rr := d.RowReader()
	for i := range out {
		if out[i].Lazy != nil {
			if nLazy != nil {
				*nLazy++
			}
			if read {
				rr.Read(&out[i])
			}
		}
	}
	return d, out
}

const digestFile = "Email,First Name,Last Name,Status,Groups\n" +
	"ann@x.org,Ann,Lee,Active,a;b\n" +
	"bob@x.org,Bob,\"O'Neil, Jr\",Active,a\n" +
	"cy@x.org,Zoë,Chen,Active,\n" +
	"dee@x.org,Dee,\"Do\"e,Active,a\n" + // a stray quote: a problem
	"eve@x.org,Eve,Vu,Nope,a\n" + // an unknown status: a problem
	"fay@x.org,Fay,Ng,Active\n" // ragged

// Rows left unread and rows read whole without a problem get a digest; a
// lazy row read back is the record the decoder makes of it; the same values
// give the same digest whatever the line ends, other values or another
// header another.
func TestRowDigestsAndLazyRows(t *testing.T) {
	_, plain := decodeWith(t, digestFile, DecodeOptions{DeferDuplicates: true}, false, false, nil)
	lazy := 0
	d, recs := decodeWith(t, digestFile, DecodeOptions{DeferDuplicates: true}, true, true, &lazy)
	if len(recs) != len(plain) || lazy < 3 {
		t.Fatalf("%d records (want %d), %d lazy", len(recs), len(plain), lazy)
	}
	for i := range recs {
		r, p := recs[i], plain[i]
		dg := r.Digest
		r.Digest = 0
		if fmt.Sprint(r) != fmt.Sprint(p) || r.Lazy != nil {
			t.Fatalf("line %d: lazy and read back differs:\n%+v\n%+v", r.Line, r, p)
		}
		if clean := len(r.Problems) == 0; clean != (dg != 0) {
			t.Fatalf("line %d: digest %x, problems %v", r.Line, dg, r.Problems)
		}
	}
	_, unread := decodeWith(t, digestFile, DecodeOptions{DeferDuplicates: true}, true, false, nil)
	for _, r := range unread {
		switch r.Key {
		case "fay@x.org", "dee@x.org": // ragged, a stray quote: read at once
			if r.Lazy != nil {
				t.Fatalf("%s left unread", r.Key)
			}
		case "ann@x.org", "bob@x.org", "cy@x.org":
			if r.Lazy == nil || r.FirstName != "" || r.Email == "" || r.Digest == 0 {
				t.Fatalf("%s: %+v", r.Key, r)
			}
		}
	}
	digests := func(in string) map[string]uint64 {
		_, rs := decodeWith(t, in, DecodeOptions{DeferDuplicates: true}, true, true, nil)
		m := map[string]uint64{}
		for _, r := range rs {
			m[r.Key] = r.Digest
		}
		return m
	}
	base := digests(digestFile)
	crlf := digests(strings.ReplaceAll(digestFile, "\n", "\r\n"))
	changed := digests(strings.Replace(digestFile, "Ann,Lee", "Ann,Lea", 1))
	reheaded := digests(strings.Replace(digestFile, "Groups", "Departments", 1))
	for k, dg := range base {
		if dg == 0 {
			continue
		}
		if crlf[k] != dg {
			t.Errorf("%s: CR LF changed the digest", k)
		}
		if (changed[k] == dg) != (k != "ann@x.org") {
			t.Errorf("%s: digest %x after changing ann's row, was %x", k, changed[k], dg)
		}
		if reheaded[k] == dg {
			t.Errorf("%s: another header gave the same digest", k)
		}
	}
	if d.RowSalt() == 0 {
		t.Fatal("no salt")
	}
}

// Lazy rows read back on another goroutine, in a file of every kind of row
// (the deferred-duplicates corpus, UTF-8 and Windows-1252), are what the
// decoder makes of them.
func TestLazyRowsReadBackAnywhere(t *testing.T) {
	files := []string{digestFile, strings.Replace(digestFile, "Zoë", "Zo\xeb", 1)}
	for _, f := range files {
		_, plain := decodeWith(t, f, DecodeOptions{DeferDuplicates: true}, false, false, nil)
		d, err := NewDecoder(strings.NewReader(f), DecodeOptions{DeferDuplicates: true})
		if err != nil {
			t.Fatal(err)
		}
		d.SetLazy()
		var recs []Record
		for {
			r, err := d.Next()
			if err != nil {
				break
			}
			recs = append(recs, r)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			rr := d.RowReader()
			for i := range recs {
				rr.Read(&recs[i])
			}
		}()
		<-done
		for i := range recs {
			recs[i].Digest = 0
			if fmt.Sprint(recs[i]) != fmt.Sprint(plain[i]) {
				t.Fatalf("line %d:\n%+v\n%+v", plain[i].Line, recs[i], plain[i])
			}
		}
	}
}

// TestDigestsPinned pins what a corpus of files (the samples) decodes to.
// When it fails and the samples did not change, rows decode differently
// than before: digests made by an older muster must not match any more, so
// bump digestVersion (digest.go), then update the pinned hash.
func TestDigestsPinned(t *testing.T) {
	const pinned = "18d65950147a1f98"
	h := sha256.New()
	files, _ := filepath.Glob("../samples/*.csv")
	more, _ := filepath.Glob("../samples/*.txt")
	files = append(files, more...)
	if len(files) < 4 {
		t.Fatalf("samples: %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDecoder(strings.NewReader(string(b)), DecodeOptions{})
		if err != nil {
			continue // a sample the decoder refuses: nothing to pin
		}
		for {
			r, err := d.Next()
			if err != nil {
				break
			}
			fmt.Fprintf(h, "%s %d %q %q %q %q %q %d %q %q %d %v\n", filepath.Base(f), r.Line, r.Email, r.Key, r.FirstName,
				r.LastName, r.Groups, r.Status, r.SourceID, r.Attrs, r.Action, r.Problems)
		}
	}
	fmt.Fprintf(h, "version %d\n", digestVersion)
	if got := hex.EncodeToString(h.Sum(nil))[:16]; got != pinned {
		t.Fatalf("the corpus decodes to %s, pinned %s: see the comment", got, pinned)
	}
}

// SetDigests reads every row whole, as a plain decoder, and gives each the
// digest a lazy decoder gives it.
func TestSetDigestsAsLazy(t *testing.T) {
	for _, f := range []string{digestFile, strings.Replace(digestFile, "Zoë", "Zo\xeb", 1)} {
		_, plain := decodeWith(t, f, DecodeOptions{DeferDuplicates: true}, false, false, nil)
		_, lazy := decodeWith(t, f, DecodeOptions{DeferDuplicates: true}, true, true, nil)
		d, err := NewDecoder(strings.NewReader(f), DecodeOptions{DeferDuplicates: true})
		if err != nil {
			t.Fatal(err)
		}
		d.SetDigests()
		n := 0
		for i := 0; ; i++ {
			r, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Lazy != nil || r.Digest != lazy[i].Digest {
				t.Fatalf("line %d: digest %x (lazy: %x), left unread %v", r.Line, r.Digest, lazy[i].Digest, r.Lazy != nil)
			}
			if r.Digest != 0 {
				n++
			}
			r.Digest = 0
			if fmt.Sprint(r) != fmt.Sprint(plain[i]) {
				t.Fatalf("line %d:\n%+v\n%+v", r.Line, r, plain[i])
			}
		}
		if n < 3 {
			t.Fatalf("%d rows with a digest", n)
		}
	}
}

// Quoted rows whose values, unescaped, make the same bytes but split
// otherwise have other digests; so do a quoted and an unquoted row.
func TestDigestsOfQuotedRows(t *testing.T) {
	const head = "Email,First Name,Last Name,Status,Groups\n"
	digest := func(row string) uint64 {
		_, rs := decodeWith(t, head+row+"\n", DecodeOptions{DeferDuplicates: true}, true, false, nil)
		if len(rs) != 1 || rs[0].Digest == 0 {
			t.Fatalf("%q: %+v", row, rs)
		}
		return rs[0].Digest
	}
	a := digest(`x@x.org,"Ann,Lee",Kay,Active,a`)
	b := digest(`x@x.org,Ann,"Lee,Kay",Active,a`)
	c := digest(`x@x.org,"Ann",Lee,Active,a`)
	d := digest(`x@x.org,Ann,Lee,Active,a`)
	if a == b || c == d {
		t.Fatalf("digests %x %x %x %x", a, b, c, d)
	}
	if digest(`x@x.org,"Ann,Lee",Kay,Active,a`) != a {
		t.Fatal("the same row, another digest")
	}
}
