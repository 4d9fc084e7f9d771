//go:build amd64 && !purego

package schema

// useSIMD says whether split uses splitSSE2 for lines of 32 bytes or more;
// tests turn it off to check the portable code against it.
var useSIMD = true

// splitSSE2 reads line (at least 32 bytes) 32 bytes at a time, writing the
// position of each delimiter to ends from ends[0] and returning their
// number. quote, ctrl and high are non-zero when the line holds a quote,
// a byte below 0x20 or a byte above ASCII. ends must have room for
// len(line) positions.
//
//go:noescape
func splitSSE2(line []byte, delim byte, ends []int) (n int, quote, ctrl, high uint32)
