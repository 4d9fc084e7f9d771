package store

import (
	"errors"
	"fmt"
	"os"

	"github.com/mattn/go-sqlite3"
)

// The reserve is a file of ReserveSize bytes kept beside a SQLite store
// that a daemon opens (Options.Reserve). After a clean stop SQLite removes
// its write-ahead log and shared-memory files and must create them again at
// the next open; on a disk with no byte free that open fails ("disk I/O
// error") and the daemon could not start to say why, nor serve what it
// holds. With a reserve, an open that fails for want of space removes the
// reserve, which frees room for those files, and tries once more; the
// reserve is written again at a later open once there is room.
const ReserveSize = 4 << 20

// reservePath is the reserve's file beside the store file.
func reservePath(path string) string { return path + "-reserve" }

// noSpace reports whether err is SQLite failing to write: a full disk
// shows as SQLITE_FULL, or as SQLITE_IOERR when creating the log fails.
func noSpace(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrFull || se.Code == sqlite3.ErrIoErr || se.Code == sqlite3.ErrCantOpen)
}

// releaseReserve removes the reserve and reports whether there was one.
func releaseReserve(path string) (bool, error) {
	err := os.Remove(reservePath(path))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// keepReserve writes the reserve when it is missing or short. A disk too
// full to hold it leaves none (and says so): the store works without it.
func keepReserve(path string) error {
	p := reservePath(path)
	if fi, err := os.Stat(p); err == nil && fi.Size() == ReserveSize {
		return nil
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store reserve: %w", err)
	}
	// Zeros written, not a sparse file: the blocks must be the disk's.
	_, err = f.Write(make([]byte, ReserveSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return fmt.Errorf("store reserve of %d MiB not kept: %w", ReserveSize>>20, err)
	}
	return nil
}

// ReserveReleased reports whether this open removed the store's reserve to
// make room on a full disk (see ReserveSize).
func (s *Store) ReserveReleased() bool { return s.reserveReleased }

// ReserveErr is why the reserve could not be kept at this open, if it
// could not (the disk is full, or nearly).
func (s *Store) ReserveErr() error { return s.reserveErr }
