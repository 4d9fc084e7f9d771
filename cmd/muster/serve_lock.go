package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// LockFile is the file in the data dir that `muster serve` holds locked
// while it runs (it says the pid). Commands such as `muster drops` do not
// take it: they work beside the daemon.
const LockFile = "serve.lock"

// errLocked is what lockFile returns when another process holds the lock.
var errLocked = errors.New("locked")

// lockDataDir takes the data dir for this daemon: a second one would share
// the spools and watched folders, and take the first one's drops in
// progress as interrupted ones to redo beside it. The lock goes with the
// process, so a crash never leaves it held.
func lockDataDir(dir string) (release func() error, err error) {
	p := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			b, _ := os.ReadFile(p)
			pid := string(bytes.TrimSpace(b))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("another muster serve (pid %s) is running on the data dir %s: stop it first", pid, dir)
		}
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() error {
		f.Truncate(0)
		return f.Close() // closing the file releases the lock
	}, nil
}
