package ingest

// cacheAhead asks the CPU to bring the cache line holding *p in, without
// waiting for it (PREFETCHT0): a hint, which changes no result. The
// sorted walks of an in-memory spill (spill.dedup, spill.each) read their
// records in key order, scattered over a chunk of tens of MB: each read
// waited for memory. Asked for a few records ahead, the lines arrive
// while the walk decodes and applies the ones before.
//
//go:noescape
func cacheAhead(p *byte)

// cacheSpan asks for every cache line of the n bytes from p (cacheAhead).
// Only addresses are computed from p: nothing there is read, so the span
// may run past p's object.
//
//go:noescape
func cacheSpan(p *byte, n uintptr)
