//go:build !linux

package schema

// adviseHuge is Linux's huge page advice (see huge_linux.go); elsewhere the
// table keeps the system's pages.
func adviseHuge(s []uint32) {}
