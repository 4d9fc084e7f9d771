package sftpserver

import (
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// handler serves one SFTP session of one account. Every file system call
// goes through an os.Root, so no client path, "..", or symlink planted in
// the home reaches outside it; paths are also checked against the layout
// before any call.
type handler struct {
	c         *clientConn
	acc       *account
	homePath  string
	home      *os.Root // for committing: .staging/x -> inbox/name
	inbox     *os.Root
	reports   *os.Root
	inboxPath string

	mu       sync.Mutex
	inflight map[string]*upload // open uploads by inbox name, for path-based setstat and stat
	open     int                // handles open: uploads, downloads, listings
	// tempStarted remembers when temporary-named uploads of this session
	// started, for the announcement when they are renamed.
	tempStarted map[string]time.Time
}

func (c *clientConn) newHandler(acc *account) (*handler, error) {
	homePath := c.srv.homeDir(acc)
	if err := c.srv.makeHome(acc); err != nil {
		return nil, err
	}
	h := &handler{c: c, acc: acc, homePath: homePath, inboxPath: filepath.Join(homePath, inboxDir),
		inflight: make(map[string]*upload)}
	var err error
	if h.home, err = os.OpenRoot(homePath); err != nil {
		return nil, err
	}
	if h.inbox, err = h.home.OpenRoot(inboxDir); err == nil {
		h.reports, err = h.home.OpenRoot(reportsDirName)
	}
	if err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

func (h *handler) close() {
	for _, r := range []*os.Root{h.reports, h.inbox, h.home} {
		if r != nil {
			r.Close()
		}
	}
}

// RealPath answers with the clean absolute path: "" and "." are "/", the
// inbox, where a client lands.
func (h *handler) RealPath(p string) (string, error) {
	return path.Clean("/" + p), nil
}

// Readlink is refused: a link's target would show host paths.
func (h *handler) Readlink(string) (string, error) {
	return "", unsupported("symbolic links are not supported")
}

// Filelist serves List (readdir) and Stat.
func (h *handler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	v := resolve(r.Filepath)
	switch r.Method {
	case "List":
		if !h.acquire() {
			return nil, errTooManyOpen
		}
		l, err := h.list(v)
		if err != nil {
			h.release()
			return nil, err
		}
		return &openListing{listerAt: l, release: h.release}, nil
	case "Stat", "Lstat":
		fi, err := h.stat(v, r.Method == "Lstat")
		if err != nil {
			return nil, mapErr(err)
		}
		return listerAt{fi}, nil
	}
	return nil, unsupported("operation not supported")
}

// Lstat is Stat without following a symlink.
func (h *handler) Lstat(r *sftp.Request) (sftp.ListerAt, error) { return h.Filelist(r) }

func (h *handler) stat(v vpath, lstat bool) (os.FileInfo, error) {
	switch v.area {
	case areaRoot:
		fi, err := h.inbox.Stat(".")
		return named(fi, "/"), err
	case areaReports:
		st := h.reports.Stat
		if lstat {
			st = h.reports.Lstat
		}
		fi, err := st(v.rel)
		if v.rel == "." {
			return named(fi, reportsDirName), err
		}
		return named(fi, ""), err
	}
	if u := h.findUpload(v.rel); u != nil {
		return u.info(), nil
	}
	st := h.inbox.Stat
	if lstat {
		st = h.inbox.Lstat
	}
	fi, err := st(v.rel)
	return named(fi, ""), err
}

func (h *handler) list(v vpath) (listerAt, error) {
	var root *os.Root
	switch v.area {
	case areaRoot:
		root = h.inbox
	case areaReports:
		root = h.reports
	default:
		fi, err := h.inbox.Lstat(v.rel)
		if err != nil {
			return nil, mapErr(err)
		}
		if !fi.IsDir() {
			return nil, failure("not a folder")
		}
		root = h.inbox
	}
	f, err := root.Open(v.rel)
	if err != nil {
		return nil, mapErr(err)
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make(listerAt, 0, len(entries)+1)
	if v.area == areaRoot {
		if fi, err := h.reports.Stat("."); err == nil {
			out = append(out, named(fi, reportsDirName))
		}
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			out = append(out, named(fi, ""))
		}
	}
	return out, nil
}

// Fileread opens a file for download: reports always, uploads only for
// accounts with ReadBack.
func (h *handler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	v := resolve(r.Filepath)
	root := h.reports
	switch {
	case v.area == areaRoot || (v.area == areaReports && v.rel == "."):
		return nil, failure("is a folder")
	case v.area == areaInbox && !h.acc.ReadBack:
		return nil, denied("reading uploads back is disabled for this account")
	case v.area == areaInbox:
		root = h.inbox
	}
	if !h.acquire() {
		return nil, errTooManyOpen
	}
	f, err := root.Open(v.rel)
	if err != nil {
		h.release()
		return nil, mapErr(err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		h.release()
		return nil, failure("not a regular file")
	}
	return &fileReader{f: f, release: h.release}, nil
}

// fileReader serves a download. Its errors go through mapErr: those of
// *os.File carry the host path, and pkg/sftp would send their text to the
// client (a READ at an offset with the top bit set arrives as a negative
// one and fails that way).
type fileReader struct {
	f       *os.File
	release func()
	once    sync.Once
}

func (r *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, failure("offset out of range")
	}
	n, err := r.f.ReadAt(p, off)
	if err != nil && err != io.EOF { // pkg/sftp compares with io.EOF
		err = mapErr(err)
	}
	return n, err
}

// Close is called on the client's CLOSE and again when the session ends.
func (r *fileReader) Close() error {
	err := r.f.Close()
	r.once.Do(r.release)
	return mapErr(err)
}

// Filewrite starts an upload (OPEN with WRITE, CREAT, TRUNC or APPEND).
func (h *handler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.startUpload(r)
}

// OpenFile serves an OPEN for reading and writing at once (sshfs, some
// Java clients). Without it pkg/sftp would answer reads with zeros and
// corrupt the file (pkg/sftp #374); here reads are refused.
func (h *handler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	u, err := h.startUpload(r)
	if err != nil {
		return nil, err
	}
	return readRefused{u}, nil
}

type readRefused struct{ *upload }

func (readRefused) ReadAt([]byte, int64) (int, error) {
	return 0, denied("reading a file while uploading it is not supported")
}

// Filecmd serves the path commands.
func (h *handler) Filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Setstat":
		return h.setstat(r)
	case "Rename":
		return h.rename(r.Filepath, r.Target)
	case "Remove":
		return h.remove(resolve(r.Filepath))
	case "Mkdir":
		return h.mkdir(resolve(r.Filepath))
	case "Rmdir":
		return h.rmdir(resolve(r.Filepath))
	case "Link", "Symlink":
		return unsupported("links are not supported")
	}
	return unsupported("operation not supported")
}

// PosixRename is rename that replaces an existing target, atomically.
func (h *handler) PosixRename(r *sftp.Request) error {
	return h.rename(r.Filepath, r.Target)
}

func (h *handler) remove(v vpath) error {
	if v.area != areaInbox {
		return denied("only uploaded files can be removed")
	}
	fi, err := h.inbox.Lstat(v.rel)
	if err != nil {
		return mapErr(err)
	}
	if fi.IsDir() {
		return failure("is a folder")
	}
	s := h.c.srv
	s.lockPaths(h.hostPath(v.rel))
	defer s.hand.mu.Unlock()
	if err := h.inbox.Remove(v.rel); err != nil {
		return mapErr(err)
	}
	s.removedPending(h.hostPath(v.rel))
	return nil
}

// hostPath is the host path of rel in the inbox.
func (h *handler) hostPath(rel string) string {
	return filepath.Join(h.inboxPath, filepath.FromSlash(rel))
}

// rename moves a file within the inbox, replacing the target if it exists
// (for plain RENAME too: a drop box is better served by that than by
// OpenSSH's refusal, and curl and WinSCP's flows expect it). A committed
// upload not yet handed over follows its file; a file renamed from a
// temporary name to a normal one (how WinSCP, rclone and hand scripts say
// "this file is complete") is taken like an upload closed under that name.
func (h *handler) rename(from, to string) error {
	src, dst := resolve(from), resolve(to)
	if src.area != areaInbox || dst.area != areaInbox {
		return denied("only uploaded files can be renamed, within /")
	}
	if why := validInboxPath(dst.rel, false, h.c.srv.limits().MaxFolderDepth); why != "" {
		return failure(why)
	}
	fi, err := h.inbox.Lstat(src.rel)
	if err != nil {
		return mapErr(err)
	}
	if fi.IsDir() {
		return failure("folders cannot be renamed")
	}
	if !fi.Mode().IsRegular() {
		return failure("not a regular file")
	}
	if dfi, err := h.inbox.Lstat(dst.rel); err == nil && dfi.IsDir() {
		return failure("target is a folder")
	}
	s := h.c.srv
	s.lockPaths(h.hostPath(src.rel), h.hostPath(dst.rel))
	defer s.hand.mu.Unlock()
	if err := h.inbox.Rename(src.rel, dst.rel); err != nil {
		return mapErr(err)
	}
	h.c.log.Info("renamed", logName, dst.rel, "from", src.rel)
	if src.rel != dst.rel {
		s.renamedPending(h, src.rel, dst.rel)
	}
	return nil
}

func (h *handler) setstat(r *sftp.Request) error {
	v := resolve(r.Filepath)
	flags, attrs := r.AttrFlags(), r.Attributes()
	if v.area == areaInbox {
		if u := h.findUpload(v.rel); u != nil {
			return u.setstat(flags, attrs)
		}
		h.c.srv.touched(h.hostPath(v.rel))
	}
	fi, err := h.stat(v, false)
	if err != nil {
		return mapErr(err)
	}
	if flags.Size && int64(attrs.Size) != fi.Size() {
		return denied("the size of a stored file cannot be changed")
	}
	// Times are applied to uploads (rclone and WinSCP set them and fail
	// the transfer if that fails); permissions and owners are accepted and
	// ignored, as clients treat a refusal as a failed upload.
	if flags.Acmodtime && v.area == areaInbox && fi.Mode().IsRegular() {
		return mapErr(h.inbox.Chtimes(v.rel, time.Unix(int64(attrs.Atime), 0), time.Unix(int64(attrs.Mtime), 0)))
	}
	return nil
}

// StatVFS reports the space of the file system that holds the inbox, for
// df.
func (h *handler) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	return statVFS(h.inboxPath)
}

func (h *handler) findUpload(name string) *upload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inflight[name]
}

// listerAt serves a fixed list of entries.
type listerAt []os.FileInfo

func (l listerAt) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}

// openListing is the listing behind an open folder handle; closing the
// handle gives its slot back.
type openListing struct {
	listerAt
	release func()
	once    sync.Once
}

func (l *openListing) Close() error {
	l.once.Do(l.release)
	return nil
}

// fileInfo can rename an entry ("/" for the inbox, "reports" for its
// folder) and gives every file the same owner, the server's user and group
// ids (Uid, Gid): a listing's long lines (ls -la) and a file's attributes
// (ls -l FILE, which OpenSSH's client formats itself, with numbers) then
// show the same owner. Sys hides the host's other details.
type fileInfo struct {
	fs.FileInfo
	name string
}

func (f fileInfo) Name() string { return f.name }
func (f fileInfo) Sys() any     { return nil }
func (f fileInfo) Uid() uint32  { return ownerUID }
func (f fileInfo) Gid() uint32  { return ownerGID }

// The owner shown for every file: the server's own ids.
var ownerUID, ownerGID = uint32(os.Getuid()), uint32(os.Getgid())

func named(fi fs.FileInfo, name string) os.FileInfo {
	if fi == nil {
		return nil
	}
	if name == "" {
		name = fi.Name()
	}
	return fileInfo{fi, name}
}
