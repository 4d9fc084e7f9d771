package store

import (
	"unsafe"
)

// Large arrays that live as long as a diff or an apply (a snapshot index
// of millions of rows) are kept outside the Go heap, in memory mapped for
// them and unmapped when done: the garbage collector neither scans them
// nor counts them towards its next goal, so they do not make the heap,
// hence the process, grow to twice their size. Only types without
// pointers may live there.

// offheapSlice returns a zeroed slice of n T outside the Go heap, and the
// function that frees it (after which the slice must not be used).
func offheapSlice[T any](n int) ([]T, func()) {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size == 0 {
		return nil, func() {}
	}
	mem, free := mapAnon(size)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n), free
}
