//go:build !amd64

package ingest

// cacheAhead does nothing here (cacheahead_amd64.s: a prefetch hint).
func cacheAhead(*byte) {}

// cacheSpan does nothing here.
func cacheSpan(*byte, uintptr) {}
