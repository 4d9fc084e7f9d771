//go:build !linux

package store

import "os"

// flushStart is nil where no call starts writing a file's pages without
// waiting for them: write transactions run without a writeback there.
var flushStart func(f *os.File) error
