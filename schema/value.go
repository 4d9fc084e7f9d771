package schema

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxValueLen is the longest value, in bytes, muster keeps from a cell it
// reads. Longer values make the row invalid rather than being cut.
const MaxValueLen = 1024

// parseDate reads a date as HR exports write it and returns it as
// YYYY-MM-DD: ISO dates and date-times (the time and zone are dropped; the
// date is the one written), YYYY/MM/DD, M/D/YYYY (or D/M/YYYY when the
// source is day-first), and D.M.YYYY, which is always day-first. "" and
// BambooHR's 0000-00-00 mean no date. The reason is "" when s is a date.
func parseDate(s string, dayFirst bool) (date, reason string) {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		// YYYY-MM-DD, the usual form, in one go.
		y, ok1 := digits(s[0:4])
		m, ok2 := digits(s[5:7])
		d, ok3 := digits(s[8:10])
		if ok1 && ok2 && ok3 {
			if y == 0 && m == 0 && d == 0 {
				return "", ""
			}
			if r := checkYMD(y, m, d); r != "" {
				return "", r
			}
			return s, ""
		}
	}
	if s == "" || strings.HasPrefix(s, "0000-00-00") || strings.HasPrefix(s, "00/00/0000") {
		return "", ""
	}
	if len(s) >= 10 && isISODate(s) {
		if len(s) == 10 {
			if r := checkYMD(atoi2(s[0:4]), atoi2(s[5:7]), atoi2(s[8:10])); r != "" {
				return "", r
			}
			return s, ""
		}
		if !isTimeSuffix(s[10:]) {
			return "", "it is not a date"
		}
		if r := checkYMD(atoi2(s[0:4]), atoi2(s[5:7]), atoi2(s[8:10])); r != "" {
			return "", r
		}
		return s[:10], ""
	}
	datePart, rest := s, ""
	if i := strings.IndexAny(s, " T"); i > 0 {
		datePart, rest = s[:i], s[i:]
	}
	if rest != "" && !isTimeSuffix(rest) {
		return "", "it is not a date"
	}
	parts, sep := splitDate(datePart)
	if sep == 0 && parts[0] == "" {
		return "", "it is not a date"
	}
	var y, m, d int
	switch {
	case len(parts[0]) == 4 && len(parts[2]) <= 2 && sep != '.': // YYYY-M-D, YYYY/MM/DD
		y, m, d = atoi2(parts[0]), atoi2(parts[1]), atoi2(parts[2])
	case len(parts[2]) == 4 && len(parts[0]) <= 2:
		a, b := atoi2(parts[0]), atoi2(parts[1])
		y = atoi2(parts[2])
		switch {
		case sep == '.' || dayFirst:
			d, m = a, b
		default:
			m, d = a, b
		}
		if m > 12 && d <= 12 && sep != '.' {
			if dayFirst {
				return "", "it reads as month " + parts[1] + ", which does not exist (this source is set to day-first dates)"
			}
			return "", "it reads as month " + parts[0] + ", which does not exist; if this source writes the day first, set it to day-first dates"
		}
	case len(parts[2]) == 2 && len(parts[0]) <= 2:
		return "", "a two-digit year is ambiguous; write the year in full"
	default:
		return "", "it is not a date"
	}
	if r := checkYMD(y, m, d); r != "" {
		return "", r
	}
	b := make([]byte, 0, 10)
	b = appendPad(b, y, 4)
	b = append(b, '-')
	b = appendPad(b, m, 2)
	b = append(b, '-')
	b = appendPad(b, d, 2)
	return string(b), ""
}

func isISODate(s string) bool {
	return s[4] == '-' && s[7] == '-' && allDigits(s[0:4]) && allDigits(s[5:7]) && allDigits(s[8:10])
}

// isTimeSuffix accepts what follows a date in a date-time: "T12:07:39.730Z",
// " 00:00:00", "T08:00:00+02:00", " 0:00", " 12:00 PM".
func isTimeSuffix(s string) bool {
	if len(s) < 2 || (s[0] != 'T' && s[0] != ' ') {
		return false
	}
	s = strings.TrimSpace(s[1:])
	if !(s != "" && s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || strings.IndexByte(":.+-Z APMapm", c) >= 0) {
			return false
		}
	}
	return true
}

// splitDate splits D/M/Y, D-M-Y, D.M.Y and Y-M-D forms into three digit runs.
func splitDate(s string) ([3]string, byte) {
	var out [3]string
	var sep byte
	n := 0
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			continue
		}
		if i < len(s) {
			c := s[i]
			if c != '/' && c != '-' && c != '.' || sep != 0 && c != sep {
				return [3]string{}, 0
			}
			sep = c
		}
		if n == 3 || i == start || i-start > 4 {
			return [3]string{}, 0
		}
		out[n] = s[start:i]
		n++
		start = i + 1
	}
	if n != 3 || len(out[1]) > 2 {
		return [3]string{}, 0
	}
	return out, sep
}

var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func checkYMD(y, m, d int) string {
	switch {
	case y < 1900 || y > 2199:
		return "the year is out of range"
	case m < 1 || m > 12:
		return "the month does not exist"
	case d < 1 || d > daysIn[m] || m == 2 && d == 29 && !(y%4 == 0 && (y%100 != 0 || y%400 == 0)):
		return "the day does not exist in that month"
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// digits reads s as a decimal number; ok is false when a byte is not a digit.
func digits(s string) (n int, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int(c)
	}
	return n, true
}

func atoi2(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func appendPad(b []byte, n, width int) []byte {
	var tmp [4]byte
	for i := width - 1; i >= 0; i-- {
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[:width]...)
}

// Status vocabularies, keyed by the value with everything but letters and
// digits removed and lower-cased.
var (
	activeWords = wordSet("active", "a", "employed", "current", "hired", "accepted",
		"pre-hire", "prehire", "new hire", "onboarding", "pending start", "probation",
		"leave", "on leave", "leave of absence", "loa", "paid leave", "unpaid leave",
		"parental leave", "maternity leave", "sick leave", "l", "enabled", "aktiv", "actif",
		"activo", "actief")
	inactiveWords = wordSet("inactive", "i", "terminated", "t", "term", "termed",
		"voluntarily terminated", "involuntarily terminated", "terminated for cause",
		"deactivated", "disabled", "suspended", "archived", "deleted", "former", "left",
		"resigned", "retired", "r", "deceased", "d", "withdrawn", "separated", "offboarded",
		"dismissed", "inaktiv", "ausgetreten", "inactif", "inactivo", "inactief")
	// employmentWords are kinds of employment, which an "Employment
	// Status" column holds for people employed.
	employmentWords = wordSet("full-time", "full time", "fulltime", "ft", "part-time", "part time", "pt",
		"contractor", "contract", "intern", "internship", "temporary", "temp", "permanent", "regular",
		"seasonal", "freelance", "freelancer", "consultant", "employee", "apprentice", "trainee")
	trueWords  = wordSet("true", "yes", "y", "1", "x", "t", "ja", "oui", "si", "sí", "wahr", "vrai")
	falseWords = wordSet("false", "no", "n", "0", "f", "nein", "non", "falsch", "faux")
)

func wordSet(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[wordKey(w)] = true
	}
	return m
}

// wordKey lower-cases a value and keeps only its letters and digits.
func wordKey(s string) string { return string(appendWordKey(nil, s)) }

// appendWordKey appends wordKey(s) to dst: the status of every row is
// looked up by it, so it is built in the caller's buffer (a map indexed by
// string(key) does not allocate either).
func appendWordKey(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
				dst = append(dst, c)
			case c >= 'A' && c <= 'Z':
				dst = append(dst, c+'a'-'A')
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		i += n
	}
	return dst
}

// parseStatus maps a status cell to active or inactive. An empty cell is
// active (a file without a status column is too). ok is false for a value
// muster does not know.
func parseStatus(s string, kind statusKind) (st Status, ok bool) {
	if s == "" {
		return StatusActive, true
	}
	if kind == statusWords {
		// The usual values, as written, without building a key.
		switch s {
		case "Active", "active", "ACTIVE":
			return StatusActive, true
		case "Inactive", "inactive", "INACTIVE", "Terminated", "terminated", "TERMINATED":
			return StatusInactive, true
		}
	}
	var buf [64]byte
	w := appendWordKey(buf[:0], s)
	switch kind {
	case statusTerminated, statusActive:
		var yes bool
		switch {
		case trueWords[string(w)]:
			yes = true
		case falseWords[string(w)] || len(w) == 0:
		default:
			return statusWord(w)
		}
		if yes == (kind == statusTerminated) {
			return StatusInactive, true
		}
		return StatusActive, true
	}
	st, ok = statusWord(w)
	if !ok && kind == statusEmployment && employmentWords[string(w)] {
		return StatusActive, true
	}
	return st, ok
}

// statusWord reads a status word's key. Flag columns fall back to it: an
// "Active Status" or "Active" column may hold "Active" and "Terminated"
// rather than yes and no, and the words mean the same in any column.
func statusWord(w []byte) (Status, bool) {
	switch {
	case activeWords[string(w)]:
		return StatusActive, true
	case inactiveWords[string(w)]:
		return StatusInactive, true
	// "Terminated - Voluntary", "Inactive (rehire eligible)", "Active - Remote".
	case bytes.Contains(w, []byte("terminat")) || bytes.HasPrefix(w, []byte("inactive")) ||
		bytes.Contains(w, []byte("deactivat")) || bytes.Contains(w, []byte("suspend")):
		return StatusInactive, true
	case bytes.HasPrefix(w, []byte("active")):
		return StatusActive, true
	}
	return StatusActive, false
}

var (
	upsertWords = wordSet("add", "added", "new", "create", "insert", "upsert", "update",
		"updated", "change", "changed", "modify", "modified", "hire", "rehire", "a", "u", "c")
	removeWords = wordSet("remove", "removed", "delete", "deleted", "terminate", "terminated",
		"deactivate", "leaver", "drop", "offboard", "r", "d")
)

// parseAction reads a delta row's action.
func parseAction(s string) (Action, bool) {
	var buf [64]byte
	w := appendWordKey(buf[:0], s)
	switch {
	case upsertWords[string(w)]:
		return ActionUpsert, true
	case removeWords[string(w)]:
		return ActionRemove, true
	}
	return ActionUpsert, false
}

// splitGroups splits a groups cell on ";" or "|", trims each name and drops
// empty and repeated names (compared ignoring case; the first spelling is
// kept).
func splitGroups(s string) []string {
	out := appendGroups(nil, s)
	if len(out) == 0 {
		return nil
	}
	return out[:len(out):len(out)]
}

// appendGroups appends the groups of s to dst.
func appendGroups(dst []string, s string) []string {
	base := len(dst)
	for s != "" {
		i := indexGroupSep(s)
		g := s
		if i >= 0 {
			g, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		g = trimSpace(g)
		if g == "" || containsFold(dst[base:], g) {
			continue
		}
		dst = append(dst, g)
	}
	return dst
}

func indexGroupSep(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ';' || s[i] == '|' {
			return i
		}
	}
	return -1
}

// containsFold reports whether list holds s, ignoring case. Names of
// different byte lengths are different (which misses only exotic folds such
// as the Kelvin sign).
func containsFold(list []string, s string) bool {
	for _, x := range list {
		if len(x) == len(s) && (x == s || strings.EqualFold(x, s)) {
			return true
		}
	}
	return false
}

// trimValue is trimSpace with a fast path for values that need no trim.
func trimValue(s string) string {
	if len(s) == 0 || plain(s[0]) && plain(s[len(s)-1]) {
		return s
	}
	return trimSpace(s)
}

// trimSpace trims ASCII and Unicode spaces (NBSP too) and zero-width
// characters, without allocating.
func trimSpace(s string) string {
	for len(s) > 0 {
		c := s[0]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			s = s[1:]
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s)
			if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
				s = s[n:]
				continue
			}
		}
		break
	}
	for len(s) > 0 {
		c := s[len(s)-1]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			s = s[:len(s)-1]
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeLastRuneInString(s)
			if unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
				s = s[:len(s)-n]
				continue
			}
		}
		break
	}
	return s
}

// splitFullName splits "Last, First M" or "First Last" into first and last
// name. In "Last, First M" a trailing middle initial is dropped; in
// "First Middle Last" the first word is the first name and the rest the
// last name, which reads right in a greeting ("Dear Mary"). A suffix such
// as "Jr." or "PhD" ("Bob Roe, Jr.", "Roe, Bob, Jr.", "Roe, Bob Jr") goes
// with the last name, never into the first.
func splitFullName(s string) (first, last string) {
	suffix := ""
	if i := strings.LastIndexByte(s, ','); i >= 0 && isNameSuffix(s[i+1:]) {
		s, suffix = trimSpace(s[:i]), trimSpace(s[i+1:])
	}
	if i := strings.IndexByte(s, ','); i >= 0 {
		last, first = trimSpace(s[:i]), trimSpace(s[i+1:])
		if j := strings.LastIndexByte(first, ' '); j > 0 && suffix == "" && isNameSuffix(first[j+1:]) {
			first, suffix = trimSpace(first[:j]), first[j+1:]
		}
		if j := strings.LastIndexByte(first, ' '); j > 0 {
			if init := strings.TrimSuffix(first[j+1:], "."); utf8.RuneCountInString(init) == 1 {
				first = trimSpace(first[:j])
			}
		}
	} else if i := strings.IndexByte(s, ' '); i >= 0 {
		first, last = s[:i], trimSpace(s[i+1:])
	} else {
		first = s
	}
	if suffix != "" {
		last = trimSpace(last + " " + suffix)
	}
	return first, last
}

// splitLastFirst splits a name from a column headed "Last, First": as
// splitFullName when it has a comma ("Lovelace, Ada M."); without one
// ("Lovelace Ada", an export that dropped it), the last word is the first
// name and the rest the last name ("De la Cruz Maria").
func splitLastFirst(s string) (first, last string) {
	if strings.IndexByte(s, ',') >= 0 {
		return splitFullName(s)
	}
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		return trimSpace(s[i+1:]), trimSpace(s[:i])
	}
	return s, ""
}

// nameSuffixes are the generational and professional suffixes written after
// a name, keyed by wordKey. Left out are single letters ("Roe, Bob V" is a
// middle initial) and suffixes that are also given names ("Rahman, Md",
// "Vance, JD").
var nameSuffixes = wordSet("jr", "sr", "ii", "iii", "iv", "phd", "esq", "dds", "cpa", "mba", "dvm")

func isNameSuffix(s string) bool {
	s = trimSpace(s)
	return s != "" && len(s) <= 5 && nameSuffixes[wordKey(s)]
}

// CleanValue holds a value typed by a person (the command line, the web
// console) to the rules a file's cell follows: trimmed of spaces and
// invisible characters, no control characters, no longer than MaxValueLen.
func CleanValue(s string) (string, error) {
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) })
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return "", fmt.Errorf("the value holds a control character (%U)", []rune(s[i:])[0])
	}
	if len(s) > MaxValueLen {
		return "", fmt.Errorf("the value is %d bytes long, over the limit of %d", len(s), MaxValueLen)
	}
	return s, nil
}
