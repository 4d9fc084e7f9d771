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

func decodeWith(t *testing.T, in string, o DecodeOptions, known func(string, uint64) (int, bool)) (*Decoder, []Record) {
	t.Helper()
	d, err := NewDecoder(strings.NewReader(in), o)
	if err != nil {
		t.Fatal(err)
	}
	if known != nil {
		d.SetKnown(known)
	}
	var out []Record
	for {
		r, err := d.Next()
		if errors.Is(err, io.EOF) {
			return d, out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

const digestFile = "Email,First Name,Last Name,Status,Groups\n" +
	"ann@x.org,Ann,Lee,Active,a;b\n" +
	"bob@x.org,Bob,\"O'Neil, Jr\",Active,a\n" +
	"cy@x.org,Zoë,Chen,Active,\n" +
	"dee@x.org,Dee,\"Do\"e,Active,a\n" + // a stray quote: a problem
	"eve@x.org,Eve,Vu,Nope,a\n" + // an unknown status: a problem
	"fay@x.org,Fay,Ng,Active\n" // ragged

// Rows read whole get a digest when they have no problem; asking about
// them changes nothing else; the same values give the same digest whatever
// the line ends, other values or another header another.
func TestRowDigests(t *testing.T) {
	_, plain := decodeWith(t, digestFile, DecodeOptions{DeferDuplicates: true}, nil)
	asked := map[string]uint64{}
	d, recs := decodeWith(t, digestFile, DecodeOptions{DeferDuplicates: true}, func(k string, dg uint64) (int, bool) {
		asked[k] = dg
		return 0, false
	})
	if len(recs) != len(plain) {
		t.Fatalf("%d records, want %d", len(recs), len(plain))
	}
	for i := range recs {
		r, p := recs[i], plain[i]
		dg := r.Digest
		r.Digest = 0
		if fmt.Sprint(r) != fmt.Sprint(p) || r.Known != 0 {
			t.Fatalf("line %d: asking changed the record:\n%+v\n%+v", r.Line, r, p)
		}
		clean := len(r.Problems) == 0
		if clean != (dg != 0) || clean && asked[r.Key] != dg {
			t.Fatalf("line %d: digest %x (asked %x), problems %v", r.Line, dg, asked[r.Key], r.Problems)
		}
	}
	if _, ok := asked["fay@x.org"]; ok {
		t.Fatal("a ragged row was offered")
	}
	if _, ok := asked["dee@x.org"]; ok {
		t.Fatal("a row with a stray quote was offered")
	}
	digests := func(in string) map[string]uint64 {
		_, rs := decodeWith(t, in, DecodeOptions{DeferDuplicates: true}, func(string, uint64) (int, bool) { return 0, false })
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

// A row the caller knows comes back with its line, address and key only;
// the others whole, in order.
func TestKnownRows(t *testing.T) {
	_, plain := decodeWith(t, digestFile, DecodeOptions{DeferDuplicates: true}, nil)
	_, recs := decodeWith(t, digestFile, DecodeOptions{DeferDuplicates: true}, func(k string, _ uint64) (int, bool) {
		return len(k), k == "bob@x.org" || k == "cy@x.org"
	})
	for i, r := range recs {
		p := plain[i]
		switch r.Key {
		case "bob@x.org", "cy@x.org":
			if r.Known != len(r.Key)+1 || r.Line != p.Line || r.Email != p.Email || r.FirstName != "" || r.Groups != nil || r.Digest == 0 {
				t.Fatalf("known row: %+v", r)
			}
		default:
			if r.Known != 0 {
				t.Fatalf("line %d known", r.Line)
			}
		}
	}
}

// TestDigestsPinned pins what a corpus of files (the samples) decodes to.
// When it fails and the samples did not change, rows decode differently
// than before: digests made by an older muster must not match any more, so
// bump digestVersion (digest.go), then update the pinned hash.
func TestDigestsPinned(t *testing.T) {
	const pinned = "5d6e851263bffeba"
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
			fmt.Fprintf(h, "%s %v\n", filepath.Base(f), r)
		}
	}
	fmt.Fprintf(h, "version %d\n", digestVersion)
	if got := hex.EncodeToString(h.Sum(nil))[:16]; got != pinned {
		t.Fatalf("the corpus decodes to %s, pinned %s: see the comment", got, pinned)
	}
}
