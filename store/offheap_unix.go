//go:build unix

package store

import "syscall"

// mapAnon maps size bytes of zeroed private memory; a failure to map falls
// back to the Go heap.
func mapAnon(size int) ([]byte, func()) {
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, size), func() {}
	}
	hugePages(mem)
	return mem, func() { _ = syscall.Munmap(mem) }
}
