package store

import "syscall"

// hugePages asks the kernel to back a large mapping with huge pages where
// it can (transparent huge pages in "madvise" mode, Debian's default): a
// snapshot index is looked up at random, a row at a time, and with 4 KiB
// pages most look-ups of millions of rows also miss the TLB. A refusal
// changes nothing but speed.
func hugePages(mem []byte) {
	if len(mem) >= 4<<20 {
		_ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE)
	}
}
