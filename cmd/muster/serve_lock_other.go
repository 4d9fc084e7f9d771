//go:build !unix

package main

import "os"

// lockFile does nothing where flock is missing: one daemon per data dir
// is then the operator's care.
func lockFile(*os.File) error { return nil }
