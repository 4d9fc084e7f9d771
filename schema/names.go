package schema

import "strings"

// tempSuffixes are the endings clients give a file while it is still being
// written: WinSCP (.filepart), rclone (.partial), lftp and browsers (.part),
// hand-written scripts (.tmp, .temp).
var tempSuffixes = []string{".filepart", ".part", ".partial", ".tmp", ".temp"}

// IsTempName reports whether name (a base name) is one that tools use while
// a file is still being written or is not meant to be read: dot-files
// (lftp's ".in.NAME", editors' swap files), names starting with "~" (Office
// lock files), and names ending in .filepart, .part, .partial, .tmp or .temp
// (any case). Such files are never ingested, whether they arrive by SFTP or
// in a watched folder; renaming one to a normal name makes it a drop.
func IsTempName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~") {
		return true
	}
	lower := strings.ToLower(name)
	for _, s := range tempSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}

// ValidName reports whether s can name an organisation, a source or an SFTP
// account: such names become folder names on the host, so only letters,
// digits, '.', '_', '-' and '@' are allowed, at most 64 bytes, not starting
// with '.' or '-'.
func ValidName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '_' || r == '-' || r == '@'
		if !ok {
			return false
		}
	}
	return true
}
