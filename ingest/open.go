package ingest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"muster/schema"
)

// NotRegularError is a drop's path that is not a regular file: a symbolic
// link (never followed: one renamed over a file that settled must not make
// muster read what it points to), a named pipe (reading one would wait for
// a writer for ever), a device, a socket or a folder.
type NotRegularError struct {
	Name string
	Kind string // "a symbolic link", "a named pipe (FIFO)"...
}

func (e *NotRegularError) Error() string {
	return e.Name + " is not a regular file: it is " + e.Kind + "; only regular files are read"
}

// Unwrap gives the error its code (invalid input: retrying cannot help)
// and its message for users.
func (e *NotRegularError) Unwrap() error {
	return &schema.Error{Code: schema.EInvalid, Message: e.Error()}
}

// OpenRegular opens path for reading if it is a regular file: the last
// element is not followed if it is a symbolic link, the open never waits
// (a named pipe with no writer would block it for ever), and the check is
// made on the opened descriptor, so nothing swapped in between a check and
// the open is read.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
			if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, &NotRegularError{Name: filepath.Base(path), Kind: kindOf(fi.Mode())}
			}
		}
		return nil, err
	}
	fi, err := f.Stat() // fstat: the file opened, not whatever the path names now
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegularError{Name: filepath.Base(path), Kind: kindOf(fi.Mode())}
	}
	return f, nil
}

// kindOf names what a file mode is.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a folder"
	}
	return "not a regular file"
}
