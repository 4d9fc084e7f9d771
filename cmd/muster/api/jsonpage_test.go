package api

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// The hand-written page is byte for byte what encoding/json makes of the
// same recipients, whatever their values hold: quotes, HTML characters,
// control characters, U+2028, invalid UTF-8, attributes in any order.
func TestRecipientsPageJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Zoë", "O'Brien", `"q"`, `back\slash`, "<b>&", "tab\there", "nl\n", "\x00", "\x7f", "\u2028",
		"\u2029", "\xff", "\xe2\x82", "日本", "😀", "", " ", "+1 555", "=SUM(A1)", "\r", "\b\f", "\x1f", "Research & Development"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	// Small ids, large ones (kept apart by the page) and one the store
	// does not know (7: written with empty names).
	ids := []int64{1, 2, 3, 4, 5, 6, 7, 4095, 4096, 1 << 40}
	groups := map[int64]store.Group{}
	for _, id := range ids {
		if id != 7 {
			groups[id] = store.Group{ID: id, SourceName: str(), Name: str()}
		}
	}
	for round := range 200 {
		var recs []store.Recipient
		for range rng.IntN(5) {
			r := store.Recipient{Key: str(), Email: str(), FirstName: str(), LastName: str(),
				Status: store.RecipientStatus(str()), CreatedSeq: rng.Int64N(1 << 40), UpdatedSeq: rng.Int64N(10)}
			for i := range r.Attrs {
				if rng.IntN(4) == 0 {
					r.Attrs[i] = str()
				}
			}
			if rng.IntN(2) == 0 {
				r.Email = r.Key // most addresses are their key
			}
			if rng.IntN(2) == 0 {
				r.Status = []store.RecipientStatus{store.StatusActive, store.StatusGone}[rng.IntN(2)]
			}
			for _, id := range ids {
				if rng.IntN(2) == 0 {
					r.GroupIDs = append(r.GroupIDs, id)
				}
			}
			recs = append(recs, r)
		}
		next := ""
		if round%2 == 0 {
			next = str() + "x"
		}
		out := make([]recipientView, 0, len(recs))
		for _, rec := range recs {
			v := recipientView{Recipient: rec, Attrs: ingest.AttrMap(rec.Attrs), Groups: []ingest.GroupName{}}
			for _, id := range rec.GroupIDs {
				v.Groups = append(v.Groups, ingest.GroupName{Source: groups[id].SourceName, Name: groups[id].Name})
			}
			out = append(out, v)
		}
		body := map[string]any{"recipients": out}
		if next != "" {
			body["next"] = next
		}
		for _, pretty := range []bool{false, true} {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			if pretty {
				enc.SetIndent("", "  ")
			}
			if err := enc.Encode(body); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			writeRecipientsPage(w, pretty, recs, groups, next)
			if got := w.Body.String(); got != want.String() {
				t.Fatalf("round %d, pretty %v:\n got %s\nwant %s", round, pretty, got, want.String())
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
		}
	}
	var a schema.Attrs
	if got := string(appendAttrs(nil, &a)); got != "" {
		t.Fatalf("no attributes: %q", got)
	}
}

func TestWantPretty(t *testing.T) {
	for q, want := range map[string]bool{"": false, "pretty": true, "pretty=1": true, "pretty=true": true,
		"pretty=0": false, "pretty=false": false, "limit=5&pretty": true} {
		v, _ := url.ParseQuery(q)
		if got := wantPretty(v); got != want {
			t.Errorf("%q: %v", q, got)
		}
	}
}

// BenchmarkRecipientsPage measures the server's time for one page of 1,000
// recipients (three groups each), from the request to the last byte
// written: the store's query, the groups' names and the JSON. cpu-ms/op
// is the process's CPU time per page, steadier than wall time on a shared
// machine.
//
//	go test -run X -bench RecipientsPage ./cmd/muster/api
func BenchmarkRecipientsPage(b *testing.B) {
	a := MustAPI(b)
	recs := people(20_000, "p", "acme.example", "All Staff", "Berlin Office", "Engineering")
	for i := range recs {
		recs[i].FirstName, recs[i].LastName = "Aisha", "Andersson"
	}
	if rep := a.ingest(acme, csvSource("hr"), "big.csv", recs); rep.Decision != ingest.Applied {
		b.Fatalf("ingest: %s", rep.Decision)
	}
	req := httptest.NewRequest("GET", "/v1/recipients?limit=1000&after=p05000@acme.example", nil)
	req.Header.Set("Authorization", "Bearer "+a.secret["acme-viewer"])
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		w := httptest.NewRecorder()
		a.srv.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendJSONString appends the plain values a page is mostly
// made of.
//
//	go test -run X -bench AppendJSONString ./cmd/muster/api
func BenchmarkAppendJSONString(b *testing.B) {
	vals := []string{"aisha.andersson.1000296@mail.northwind-traders.example", "Aisha", "Andersson", "active",
		"Research & Development", "Lyon Office", "2021-11-28", "Full Time", "fr-FR"}
	buf := make([]byte, 0, 4096)
	for range b.N {
		buf = buf[:0]
		for _, v := range vals {
			buf = appendJSONString(buf, v)
		}
	}
}

// appendJSONString tests eight bytes at a time (plain8): every byte value
// at every place of a value longer than eight, and long random values made
// of plain runs and the pieces JSON escapes, come out as encoding/json
// writes them.
func TestAppendJSONStringAsEncodingJSON(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
	plain := "abcdefghijklmnopqrstuvwxyz.@-_0123"
	for c := range 256 {
		for at := range 20 {
			check(plain[:at] + string([]byte{byte(c)}) + plain[at:])
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{`"`, `\`, "<", ">", "&", "\x00", "\x1f", " ", "\x7f", "~", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀"}
	for range 20_000 {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(plain[:rng.IntN(len(plain))])
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		b.WriteString(plain[:rng.IntN(len(plain))])
		check(b.String())
	}
}
