//go:build linux

package schema

import (
	"syscall"
	"unsafe"
)

// adviseHuge asks Linux to back the 2 MiB-aligned part of a large table
// with huge pages. The duplicate table is read at random, one slot a row:
// with 4 KiB pages nearly every lookup of a million-row file also misses
// the TLB, and in a virtual machine that page walk cost more than the
// cache miss (prefetching the slot still waited for it). With 2 MiB pages
// a 24 MiB table needs a dozen TLB entries. It is advice only: where
// transparent huge pages are off, nothing changes.
func adviseHuge(s []uint32) {
	const huge = 2 << 20
	if 4*len(s) < 2*huge {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	start := (p + huge - 1) &^ (huge - 1)
	end := (p + uintptr(4*len(s))) &^ (huge - 1)
	if end > start {
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s))
		_ = syscall.Madvise(b[start-p:end-p], syscall.MADV_HUGEPAGE)
	}
}
