//go:build amd64 && !purego

package schema

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The SSE2 splitter must agree with the portable one on every line: the
// delimiters' positions, the quote that sends a row to the byte-by-byte
// reader, and the high and control bytes that send values to the checks.
func TestSplitSSE2MatchesPortable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Bytes on both sides of every boundary the splitter tests.
	alphabet := []byte{',', ';', '|', '\t', '"', '\r', '\n', 0, 0x1f, ' ', '!', 'a', 'Z', '~', 0x7f, 0x80, 0xc3, 0xa9, 0xff}
	for i := 0; i < 50_000; i++ {
		line := make([]byte, rng.IntN(200))
		plainRate := rng.IntN(100) // how many bytes are plain letters, in percent
		for j := range line {
			if rng.IntN(100) < plainRate {
				line[j] = 'a' + byte(rng.IntN(26))
			} else {
				line[j] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		checkSplitSSE2(t, line, []byte{',', ';', '\t', '|'}[rng.IntN(4)])
	}
}

// FuzzSplitSSE2 is TestSplitSSE2MatchesPortable on the fuzzer's lines.
//
//	go test ./schema -run '^$' -fuzz FuzzSplitSSE2 -fuzztime 1m
func FuzzSplitSSE2(f *testing.F) {
	f.Add([]byte("E1000000,José,Johnson,jose.johnson@x.example,Active,,2021-11-28"), byte(','))
	f.Add([]byte("a;\"b\";c\r;d\x7f;\xc3\xa9;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;"), byte(';'))
	f.Fuzz(func(t *testing.T, line []byte, delim byte) {
		checkSplitSSE2(t, line, delim)
	})
}

func checkSplitSSE2(t *testing.T, line []byte, delim byte) {
	t.Helper()
	simd, portable := &csvReader{delim: delim}, &csvReader{delim: delim}
	okS := simd.split(line)
	useSIMD = false
	okP := portable.split(line)
	useSIMD = true
	if okS != okP || okS && (!slices.Equal(simd.bounds, portable.bounds) || simd.high != portable.high || simd.ctrl != portable.ctrl) {
		t.Fatalf("line %q delim %q:\nSSE2     ok %v bounds %v high %v ctrl %v\nportable ok %v bounds %v high %v ctrl %v",
			line, delim, okS, simd.bounds, simd.high, simd.ctrl, okP, portable.bounds, portable.high, portable.ctrl)
	}
}
