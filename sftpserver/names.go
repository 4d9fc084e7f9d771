package sftpserver

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// maxNameLen is the longest file or folder name accepted, in bytes. File
// systems hold 255; the server and the pipeline add suffixes to an
// upload's name for its reports (name.report.json, name.errors.csv) and
// their temporary files, which must fit too, so a longer name is refused
// at upload, with this reason, rather than accepted and never reported on.
const maxNameLen = 200

// validFileName reports why name cannot be a file in an inbox, or "" if it
// can. Names that other systems would misread are refused outright rather
// than stored: a backslash (a Windows client's separator sent literally),
// control characters, a trailing dot or space (which Windows strips), or
// invalid UTF-8.
func validFileName(name string) string {
	return checkName(name, maxNameLen)
}

// checkName is validFileName with a length limit of max bytes.
func checkName(name string, max int) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "a file name is required"
	case len(name) > max:
		return fmt.Sprintf("file name too long: at most %d bytes (this one has %d)", max, len(name))
	case !utf8.ValidString(name):
		return "file name is not valid UTF-8"
	case strings.ContainsAny(name, `/\`):
		return "file name must not contain a slash or backslash"
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return "file name must not end in a dot or space"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "file name must not contain control characters"
		}
	}
	return ""
}

// trailingSlash is the last element of a path the client wrote with a
// trailing slash ("dir/"), which pkg/sftp would clean away: channelIO
// marks an OPEN of such a path with it (see packetFilter), so that
// "put x nosuchdir/" fails as with OpenSSH instead of creating a file
// named nosuchdir. No real name holds a NUL.
const trailingSlash = "\x00"

// validInboxPath reports why rel (slash-separated, relative to the inbox)
// cannot be a file (dir false) or a folder (dir true) of an account, or ""
// if it can: each element a valid name, folders not hidden (a leading dot
// is how clients name temporary things), at most maxDepth folders deep.
func validInboxPath(rel string, dir bool, maxDepth int) string {
	parts := strings.Split(rel, "/")
	if path.Base(rel) == trailingSlash {
		return "not a file name: the path ends with a slash"
	}
	for i, p := range parts {
		if why := validFileName(p); why != "" {
			return why
		}
		if (dir || i < len(parts)-1) && strings.HasPrefix(p, ".") {
			return "folder names must not start with a dot"
		}
	}
	folders := len(parts) - 1
	if dir {
		folders = len(parts)
	}
	switch {
	case folders > 0 && maxDepth <= 0:
		return "folders are not allowed here; upload files to /"
	case folders > maxDepth:
		return fmt.Sprintf("folders nest too deep: at most %d levels", maxDepth)
	}
	return ""
}

// area is the part of an account's visible tree a path falls in.
type area int

const (
	areaRoot    area = iota // "/": the upload area itself
	areaInbox               // a file or folder in the upload area
	areaReports             // "/reports" or something under it
)

// reportsDirName is the read-only folder, visible at "/reports", where the
// pipeline writes the outcome of each drop.
const reportsDirName = "reports"

// vpath is a client path resolved to its area and its path relative to that
// area's directory on the host ("." for the directory itself).
type vpath struct {
	area area
	rel  string // slash-separated, relative, never ".." or absolute
	show string // the clean absolute path the client sees, for messages
}

// resolve maps a client path (already cleaned and made absolute by pkg/sftp,
// but cleaned again here so nothing depends on that) onto the account's
// layout: "/" is the inbox, "/reports/..." the reports folder.
func resolve(p string) vpath {
	clean := path.Clean("/" + p)
	if clean == "/" {
		return vpath{area: areaRoot, rel: ".", show: "/"}
	}
	rel := strings.TrimPrefix(clean, "/")
	if rel == reportsDirName {
		return vpath{area: areaReports, rel: ".", show: clean}
	}
	if r, ok := strings.CutPrefix(rel, reportsDirName+"/"); ok {
		return vpath{area: areaReports, rel: r, show: clean}
	}
	return vpath{area: areaInbox, rel: rel, show: clean}
}

// dir is the folder (relative to the inbox) that holds an inbox path: "."
// for the inbox itself.
func (v vpath) dir() string { return path.Dir(v.rel) }
