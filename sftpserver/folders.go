package sftpserver

import "path"

// Accounts may make folders in their inbox (HRIS connectors often insist
// on a remote folder such as /upload or /exports/hr), Limits.MaxFolderDepth
// deep and Limits.MaxFolders in all, and upload into them: those files are
// taken like the others, and their reports go under the same path in
// /reports.

// mkdir makes a folder in the inbox; its parent must exist, as with
// OpenSSH.
func (h *handler) mkdir(v vpath) error {
	switch v.area {
	case areaRoot:
		return failure("file exists")
	case areaReports:
		return denied("/reports is read-only")
	}
	lim := h.c.srv.limits()
	if _, err := h.inbox.Lstat(v.rel); err == nil {
		return failure("file exists")
	}
	if why := validInboxPath(v.rel, true, lim.MaxFolderDepth); why != "" {
		h.c.log.Info("folder refused", logName, v.show, logReason, why)
		return failure(why)
	}
	if d := v.dir(); d != "." {
		if fi, err := h.inbox.Lstat(d); err != nil || !fi.IsDir() {
			return noSuchFile()
		}
	}
	if n := h.countFolders("."); n >= lim.MaxFolders {
		h.c.log.Info("folder refused", logName, v.show, logReason, "too many folders")
		return failure(limitMsg("too many folders in this account", lim.MaxFolders))
	}
	if err := h.inbox.Mkdir(v.rel, 0o750); err != nil {
		return mapErr(err)
	}
	h.c.log.Info("folder made", logName, v.show)
	return nil
}

// rmdir removes an empty folder of the inbox.
func (h *handler) rmdir(v vpath) error {
	if v.area != areaInbox {
		return denied("this folder cannot be removed")
	}
	fi, err := h.inbox.Lstat(v.rel)
	if err != nil {
		return mapErr(err)
	}
	if !fi.IsDir() {
		return failure("not a folder")
	}
	if err := h.inbox.Remove(v.rel); err != nil {
		return mapErr(err) // not empty: FAILURE, as with OpenSSH
	}
	h.c.log.Info("folder removed", logName, v.show)
	return nil
}

// countFolders counts the folders under dir of the inbox (dir itself not
// included), down to the depth limit.
func (h *handler) countFolders(dir string) int {
	n := 0
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		f, err := h.inbox.Open(d)
		if err != nil {
			return
		}
		entries, err := f.ReadDir(-1)
		f.Close()
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.IsDir() {
				n++
				if depth < maxWalkDepth {
					walk(path.Join(d, e.Name()), depth+1)
				}
			}
		}
	}
	walk(dir, 1)
	return n
}

// maxWalkDepth bounds walks of an inbox, whatever the limits were when its
// folders were made.
const maxWalkDepth = 16
