package sftpserver

import (
	"path"
	"strings"
	"unicode/utf8"
)

// maxNameLen is the longest file name accepted, in bytes, as on most Unix
// file systems.
const maxNameLen = 255

// validFileName reports why name cannot be a file in an inbox, or "" if it
// can. Names that other systems would misread are refused outright rather
// than stored: a backslash (a Windows client's separator sent literally),
// control characters, a trailing dot or space (which Windows strips), or
// invalid UTF-8.
func validFileName(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "a file name is required"
	case len(name) > maxNameLen:
		return "file name too long"
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

// area is the part of an account's visible tree a path falls in.
type area int

const (
	areaRoot    area = iota // "/": the upload area itself
	areaInbox               // a file in the upload area
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

// flat reports whether the path names a file directly in the inbox, the only
// place uploads may go (the inbox has no subfolders).
func (v vpath) flat() bool { return v.area == areaInbox && !strings.Contains(v.rel, "/") }
