package schema

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// sizedReader returns at most n bytes a read, so that rows straddle the
// reader's fills.
type sizedReader struct {
	r io.Reader
	n int
}

func (c sizedReader) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }

// Records taken with NextIntoBuf into batches whose RowBufs are reused, as
// the pipeline does, read back as the decoder makes them, while the next
// batch is being decoded: no row, value or group list is written over
// before its batch is done with, whatever the line ends, quotes, fills,
// encodings and whether rows are left unread (lazy) or read whole.
func TestNextIntoBufBatchesReused(t *testing.T) {
	var b strings.Builder
	b.WriteString("Email,First Name,Last Name,Status,Groups\r\n")
	for i := range 3000 {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&b, "p%d@x.org,Ann%d,Lee,Active,a;b\r\n", i, i)
		case 1:
			fmt.Fprintf(&b, "q%d@x.org,Bob,\"O'Neil, Jr %d\",Active,a\n", i, i)
		case 2:
			fmt.Fprintf(&b, "Upper.%d@X.Org,Zoë,Chen,Active,\n", i)
		case 3:
			fmt.Fprintf(&b, "r%d@x.org,Dee,\"Do\"e,Active,a\n", i) // a stray quote
		case 4:
			fmt.Fprintf(&b, "  s%d@x.org ,Eve,Vu,Active,\"g;%d\"\r\n", i, i)
		case 5:
			fmt.Fprintf(&b, "t%d@x.org,Fay,Ng,Active\n", i) // ragged
		case 6:
			fmt.Fprintf(&b, "u%d@x.org,Gus,%s,Inactive,b\n", i, strings.Repeat("x", i%300))
		}
		if i%500 == 499 {
			fmt.Fprintf(&b, "w%d@x.org,J\xe9r\xf4me,L\xe9a,Active,\"c;d;e\"\n", i) // Windows-1252 from here on
		}
	}
	in := b.String()
	_, plain := decodeWith(t, in, DecodeOptions{DeferDuplicates: true}, false, false, nil)
	for _, c := range []struct {
		chunk int
		lazy  bool
	}{{1 << 20, true}, {4096, true}, {61, true}, {1 << 20, false}, {4096, false}, {61, false}} {
		chunk := c.chunk
		d, err := NewDecoder(sizedReader{strings.NewReader(in), chunk}, DecodeOptions{DeferDuplicates: true})
		if err != nil {
			t.Fatal(err)
		}
		if c.lazy {
			d.SetLazy()
		} else {
			d.SetDigests()
		}
		type batch struct {
			recs []Record
			buf  RowBuf
		}
		var bs [3]batch
		rr := d.RowReader()
		got, lazy := 0, 0
		check := func(bt *batch) {
			for i := range bt.recs {
				r := &bt.recs[i]
				if r.Lazy != nil {
					lazy++
					rr.Read(r)
				}
				r.Digest = 0
				if p := plain[got]; fmt.Sprint(*r) != fmt.Sprint(p) {
					t.Fatalf("chunk %d, line %d:\n%+v\n%+v", chunk, p.Line, *r, p)
				}
				got++
			}
			bt.recs = bt.recs[:0]
			bt.buf.Reset()
		}
		for k := 0; ; k++ {
			bt := &bs[k%len(bs)]
			var end bool
			for range 5 {
				var r Record
				err := d.NextIntoBuf(&r, &bt.buf)
				if errors.Is(err, io.EOF) {
					end = true
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				bt.recs = append(bt.recs, r)
			}
			// The batch before is read only now, with this one decoded.
			if prev := &bs[(k+len(bs)-1)%len(bs)]; k > 0 {
				check(prev)
			}
			if end {
				check(bt)
				break
			}
		}
		if got != len(plain) || c.lazy && lazy < len(plain)/3 || !c.lazy && lazy > 0 {
			t.Fatalf("chunk %d: %d records of %d, %d lazy", chunk, got, len(plain), lazy)
		}
	}
}
