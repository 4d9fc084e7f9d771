//go:build unix

package ingest

import "syscall"

// Open flags of OpenRegular: never follow a final symbolic link, never
// wait on a named pipe.
const (
	oNoFollow = syscall.O_NOFOLLOW
	oNonBlock = syscall.O_NONBLOCK
)
