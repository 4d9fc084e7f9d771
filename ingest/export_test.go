package ingest

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strings"
	"testing"
)

// An export's CSV is byte for byte what encoding/csv writes of the same
// values, whatever they hold.
func TestExportCSVLikeEncodingCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "b c", ",", `"`, "\r", "\n", "\r\n", " ", "\t", "\u00a0", "\u2003", `\.`, "é", "\xff", "'", "=1", ""}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for range 5000 {
		rec := []string{str(), str(), str()}
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		if err := cw.Write(rec); err != nil {
			t.Fatal(err)
		}
		cw.Flush()
		got := appendCSVField(nil, rec[0])
		for _, f := range rec[1:] {
			got = appendCSVField(append(got, ','), f)
		}
		got = append(got, '\n')
		if string(got) != want.String() {
			t.Fatalf("%q:\n got %q\nwant %q", rec, got, want.String())
		}
	}
}

func TestExportFieldAsNeutralisedCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"a", "Z9", "b c", ",", `"`, "\r", "\n", " ", "\t", "\u00a0", `\.`, `\`, ".", "é", "\xff", "'",
		"=1", "+", "-", "@", ";", "!", "~", "\x7f", "\x00", ""}
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		if got, want := string(appendExportField([]byte("x"), s)), "x"+string(appendCSVField(nil, NeutraliseCSV(s))); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
}
