//go:build !amd64 || purego

package schema

const useSIMD = false

func splitSSE2(line []byte, delim byte, ends []int) (n int, quote, ctrl, high uint32) {
	panic("schema: no splitSSE2 here")
}
