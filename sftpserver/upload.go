package sftpserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"muster/schema"
)

// upload is one file being written by a client. Its bytes go to a private
// staging file; only a clean close moves that file into the inbox (an
// atomic rename), and only then, once synced and hashed, is it announced.
type upload struct {
	h       *handler
	name    string // inbox name
	temp    bool   // schema.IsTempName(name): committed but never announced
	staged  string // path of the staging file relative to the home root
	started time.Time

	mu       sync.Mutex
	f        *os.File
	st       stager
	cover    spans    // every range written, for filling from base
	size     int64    // the file's size as the client sees it
	base     *os.File // the previous file of this name, when opened without TRUNC
	baseLim  int64    // how much of base still shows through
	atime    time.Time
	mtime    time.Time
	setTimes bool
	received int64
	checkAt  int64 // the size at which free space is checked again
	failed   error // a refused or failed write: never committed
	aborted  error // the connection ended with the file open
	closed   bool
}

func (h *handler) startUpload(r *sftp.Request) (*upload, error) {
	v := resolve(r.Filepath)
	switch {
	case v.area == areaRoot || (v.area == areaReports && v.rel == "."):
		return nil, failure("is a folder")
	case v.area == areaReports:
		return nil, h.refuse(v.show, denied("/reports is read-only; upload files to /"))
	case path.Base(v.rel) == trailingSlash:
		// "put x dir/": OpenSSH opens "dir/" and fails (EISDIR).
		return nil, h.refuse(strings.TrimSuffix(v.show, trailingSlash), failure("not a file name: the path ends with a slash"))
	}
	if why := validInboxPath(v.rel, false, h.c.srv.limits().MaxFolderDepth); why != "" {
		return nil, h.refuse(v.show, failure(why))
	}
	if d := v.dir(); d != "." {
		// The folder must exist, as with OpenSSH (no such file otherwise).
		if fi, err := h.inbox.Lstat(d); err != nil || !fi.IsDir() {
			return nil, noSuchFile()
		}
	}
	flags := r.Pflags()
	fi, err := h.inbox.Lstat(v.rel)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, mapErr(err)
	case exists && !fi.Mode().IsRegular():
		return nil, h.refuse(v.show, failure("not a regular file"))
	case !exists && !flags.Creat:
		return nil, noSuchFile()
	case exists && flags.Creat && flags.Excl:
		return nil, failure("file exists")
	}
	if err := h.checkSpace(v.show); err != nil {
		return nil, err
	}
	if !h.acquire() {
		return nil, h.refuse(v.show, errTooManyOpen)
	}
	staged, f, err := h.createStaged()
	if err != nil {
		h.release()
		h.c.log.Error("cannot create staging file", logErr, err)
		return nil, failure("cannot store the file")
	}
	u := &upload{h: h, name: v.rel, temp: schema.IsTempName(v.rel), staged: staged, started: time.Now(), f: f,
		checkAt: h.c.srv.cfg.spaceStep}
	u.st.f, u.st.budget = f, &h.c.srv.windows
	// Without TRUNC the client updates the file in place: scp writes then
	// sets the size, reput appends from where the old file ends, WinSCP
	// resumes a .filepart. Bytes it does not write come from the old file,
	// copied in at commit only where needed.
	if exists && !flags.Trunc {
		if u.base, err = h.inbox.Open(v.rel); err != nil {
			u.discard()
			h.release()
			return nil, mapErr(err)
		}
		if bfi, err := u.base.Stat(); err == nil {
			u.baseLim, u.size = bfi.Size(), bfi.Size()
		}
	}
	h.mu.Lock()
	h.inflight[u.name] = u
	h.mu.Unlock()
	h.c.srv.writeStarted(u.hostPath())
	return u, nil
}

// checkSpace refuses an upload (name as the client wrote it) while the file
// system holding the server's data has less than MinFreeSpace free. A free
// space that cannot be read does not refuse: the writes themselves then
// tell.
func (h *handler) checkSpace(name string) error {
	cfg := &h.c.srv.cfg
	if cfg.MinFreeSpace < 0 {
		return nil
	}
	free, err := cfg.freeSpace(h.homePath)
	if err != nil || free >= cfg.MinFreeSpace {
		return nil
	}
	err = failure("the server is short of disk space; try again later")
	h.c.srv.stats.nope.Add(1)
	h.c.log.Warn("upload refused", logName, name, logOutcome, "refused", logReason, err.Error(),
		"free_bytes", free, "min_free_bytes", cfg.MinFreeSpace)
	return err
}

var errTooManyOpen = failure("too many files open at once")

// acquire counts a new handle against Limits.MaxOpenFiles, or reports
// false
// when the session holds that many already.
func (h *handler) acquire() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	// The cap bounds what one session holds: uploads (a staging file and
	// buffers each), downloads (a file descriptor each) and folder
	// listings (the whole listing in memory). pkg/sftp itself sets none.
	if h.open >= h.c.srv.limits().MaxOpenFiles {
		return false
	}
	h.open++
	return true
}

func (h *handler) release() {
	h.mu.Lock()
	h.open--
	h.mu.Unlock()
}

func (h *handler) refuse(name string, err error) error {
	h.c.srv.stats.nope.Add(1)
	h.c.log.Warn("upload refused", logName, name, logOutcome, "refused", logReason, err.Error())
	return err
}

func (h *handler) createStaged() (string, *os.File, error) {
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", nil, err
	}
	rel := path.Join(stagingDir, "up-"+hex.EncodeToString(rnd[:]))
	f, err := h.home.OpenFile(rel, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	return rel, f, err
}

// WriteAt stores p at off. Writes arrive concurrently and out of order.
func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case u.failed != nil:
		return 0, u.failed
	case u.closed:
		return 0, failure("file is closed")
	case off < 0:
		return 0, failure("negative offset")
	}
	// Compared so that it cannot overflow: off comes from the client.
	if off > u.h.acc.MaxFileSize-int64(len(p)) {
		u.failed = u.h.refuse(u.name, failure(fmt.Sprintf("file too large: the limit for this account is %d bytes", u.h.acc.MaxFileSize)))
		return 0, u.failed
	}
	if off+int64(len(p)) >= u.checkAt {
		if err := u.h.checkSpace(u.name); err != nil {
			u.failed = err
			return 0, err
		}
		u.checkAt = off + int64(len(p)) + u.h.c.srv.cfg.spaceStep
	}
	if err := u.st.writeAt(p, off); err != nil {
		u.h.c.log.Error("write to staging file failed", logName, u.name, logErr, err)
		u.failed = mapErr(err)
		return 0, u.failed
	}
	u.received += int64(len(p))
	u.h.c.srv.stats.bytes.Add(int64(len(p)))
	end := off + int64(len(p))
	u.cover = u.cover.add(off, end)
	u.size = max(u.size, end)
	return len(p), nil
}

// setstat applies a SETSTAT/FSETSTAT that names the open upload: a size
// truncates or extends it (scp sets the final size this way), times are
// kept for the commit, permissions and owners are accepted and ignored.
func (u *upload) setstat(flags sftp.FileAttrFlags, attrs *sftp.FileStat) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failed != nil {
		return u.failed
	}
	if flags.Size {
		if attrs.Size > uint64(u.h.acc.MaxFileSize) {
			return failure("file too large")
		}
		n := int64(attrs.Size)
		if err := u.st.flushAll(); err != nil {
			return mapErr(err)
		}
		if err := u.f.Truncate(n); err != nil {
			return mapErr(err)
		}
		u.size = n
		u.cover = u.cover.clip(n)
		u.baseLim = min(u.baseLim, n)
	}
	if flags.Acmodtime {
		u.atime, u.mtime = time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)
		u.setTimes = true
	}
	return nil
}

// TransferError is called by pkg/sftp when the connection ends while the
// file is open: the transfer did not finish.
func (u *upload) TransferError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.aborted = err
}

// Close ends the upload: a clean close commits it, anything else discards
// it. A temporary-named file is kept even when interrupted, so the client
// can resume it; it is never announced. A file under a normal name stays
// in the inbox, pending, until it is handed over (handover.go).
func (u *upload) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	h := u.h
	h.mu.Lock()
	if h.inflight[u.name] == u {
		delete(h.inflight, u.name)
	}
	h.mu.Unlock()
	defer h.release()
	defer h.c.srv.writeEnded(u.hostPath())
	switch {
	case u.failed != nil:
		u.discard()
		return u.failed
	case u.aborted != nil && !u.temp:
		h.c.srv.stats.aborted.Add(1)
		h.c.log.Warn("upload aborted", logName, u.name, logBytes, u.received,
			logElapsed, time.Since(u.started).Round(time.Millisecond).String(), logOutcome, "aborted", logReason, u.aborted.Error())
		u.discard()
		return nil
	}
	if err := u.prepare(); err != nil {
		h.c.log.Error("upload commit failed", logName, u.name, logErr, err)
		u.discard()
		return mapErr(err)
	}
	s := h.c.srv
	s.lockPaths(u.hostPath())
	err := h.home.Rename(u.staged, path.Join(inboxDir, u.name))
	if err == nil && !u.temp {
		s.addPending(h, u.f, u.name, u.started, time.Now())
	}
	s.hand.mu.Unlock()
	if err != nil {
		h.c.log.Error("upload commit failed", logName, u.name, logErr, err)
		u.discard()
		return mapErr(err)
	}
	if u.temp {
		s.stats.tempUploads.Add(1)
		h.rememberTemp(u.name, u.started)
		h.c.log.Info("upload kept under a temporary name", logName, u.name, logBytes, u.size,
			logOutcome, "temporary", "interrupted", u.aborted != nil)
		u.f.Close()
	}
	return nil
}

// hostPath is the upload's path in the inbox on the host.
func (u *upload) hostPath() string {
	return filepath.Join(u.h.inboxPath, filepath.FromSlash(u.name))
}

// prepare writes out what is buffered, fills in what the client kept from
// the old file, and applies size and times: the staging file is then what
// the inbox gets.
func (u *upload) prepare() error {
	if err := u.st.flushAll(); err != nil {
		return err
	}
	if u.size > u.h.acc.MaxFileSize {
		return failure("file too large")
	}
	if u.base != nil {
		for _, g := range u.cover.gaps(u.baseLim) {
			if err := copyRange(u.f, u.base, g.lo, g.hi-g.lo); err != nil {
				return fmt.Errorf("copy kept bytes: %w", err)
			}
		}
		u.base.Close()
		u.base = nil
	}
	if err := u.f.Truncate(u.size); err != nil {
		return err
	}
	if u.setTimes {
		if err := u.h.home.Chtimes(u.staged, u.atime, u.mtime); err != nil {
			return err
		}
	}
	return nil
}

// copyRange copies n bytes at off from src to the same offset in dst, in
// the kernel where it can (copy_file_range).
func copyRange(dst, src *os.File, off, n int64) error {
	if _, err := src.Seek(off, io.SeekStart); err != nil {
		return err
	}
	if _, err := dst.Seek(off, io.SeekStart); err != nil {
		return err
	}
	_, err := dst.ReadFrom(&io.LimitedReader{R: src, N: n})
	return err
}

// discard removes the staging file; nothing of the upload remains.
func (u *upload) discard() {
	u.st.release()
	if u.base != nil {
		u.base.Close()
		u.base = nil
	}
	u.f.Close()
	if err := u.h.home.Remove(u.staged); err != nil && !errors.Is(err, fs.ErrNotExist) {
		u.h.c.log.Error("cannot remove staging file", logErr, err)
	}
}

// info describes the open upload to a stat (FSTAT on its handle).
func (u *upload) info() os.FileInfo {
	u.mu.Lock()
	defer u.mu.Unlock()
	mt := u.started
	if u.setTimes {
		mt = u.mtime
	}
	return uploadInfo{name: u.name, size: u.size, mtime: mt}
}

type uploadInfo struct {
	name  string
	size  int64
	mtime time.Time
}

func (i uploadInfo) Name() string       { return i.name }
func (i uploadInfo) Size() int64        { return i.size }
func (i uploadInfo) Mode() fs.FileMode  { return 0o640 }
func (i uploadInfo) ModTime() time.Time { return i.mtime }
func (i uploadInfo) IsDir() bool        { return false }
func (i uploadInfo) Sys() any           { return nil }
func (i uploadInfo) Uid() uint32        { return ownerUID }
func (i uploadInfo) Gid() uint32        { return ownerGID }

// rememberTemp notes when a temporary-named upload started, so a later
// rename to its final name can report the whole transfer's time.
func (h *handler) rememberTemp(name string, started time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tempStarted == nil {
		h.tempStarted = make(map[string]time.Time)
	}
	if len(h.tempStarted) > 1000 {
		clear(h.tempStarted)
	}
	h.tempStarted[name] = started
}

// takeTempStart returns (and forgets) when the temporary-named upload
// name of this session started.
func (h *handler) takeTempStart(name string) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.tempStarted[name]
	delete(h.tempStarted, name)
	return t, ok
}
