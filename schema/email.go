package schema

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Email length limits from RFC 5321: a local part of at most 64 octets and
// a path of at most 256, so an address of at most 254.
const (
	maxLocalLen = 64
	maxEmailLen = 254
)

// NormalizeEmail turns an email cell into the address muster sends to and
// the key that identifies the recipient (merge rule 1, README: Design).
//
// The cell is trimmed of spaces and invisible characters (NBSP, zero-width
// characters, BOM), a display form such as `Jane Doe <jane@x.org>` or a
// `mailto:` prefix is reduced to the address, and the address is checked
// (one @, a dot-atom local part of at most 64 octets, a domain of valid
// labels, 254 octets in all). email keeps the spelling as written. key
// lower-cases the local part, and lower-cases and converts the domain to
// ASCII (IDNA); "+tags" and dots are never stripped. The error, an *Error
// with code EInvalid, says what is wrong in words an admin understands.
func NormalizeEmail(s string) (email, key string, err error) {
	if key, _, ok := fastEmail(s, ""); ok {
		return s, key, nil
	}
	orig := s
	s = trimInvisible(s)
	if s == "" {
		return "", "", Errorf(EInvalid, "the email address is empty")
	}
	if needsParse(s) {
		if s, err = parseDisplayForm(s); err != nil {
			return "", "", Errorf(EInvalid, "%q is not an email address: %s", orig, err.Error())
		}
		// The address inside is trimmed as a bare one would be, so that
		// the email kept normalises to the same key.
		s = trimInvisible(s)
	}
	key, reason := emailKey(s)
	if reason != "" {
		return "", "", Errorf(EInvalid, "%q is not an email address: %s", orig, reason)
	}
	return s, key, nil
}

// Character classes for fastEmail, as flags that are ORed over a string:
// one pass says whether any byte is out of place and whether any is upper
// case.
const (
	clNotLocal  = 1 << iota // not allowed in a dot-atom local part
	clNotDomain             // not allowed in a domain (letters, digits, hyphen, dot)
	clUpper                 // an upper-case ASCII letter
	clDot                   // a dot
)

var emailClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if c >= utf8.RuneSelf || !atext[c] && c != '.' {
			t[c] |= clNotLocal
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			t[c] |= clNotDomain
		}
		if c >= 'A' && c <= 'Z' {
			t[c] |= clUpper
		}
		if c == '.' {
			t[c] |= clDot
		}
	}
	return t
}()

// classes ORs the classes of the bytes of s.
func classes(s string) uint8 {
	var acc uint8
	i := 0
	for ; i+4 <= len(s); i += 4 {
		acc |= emailClass[s[i]] | emailClass[s[i+1]] | emailClass[s[i+2]] | emailClass[s[i+3]]
	}
	for ; i < len(s); i++ {
		acc |= emailClass[s[i]]
	}
	return acc
}

// hasDoubleDot reports whether s holds "..", 8 bytes at a time: words 7
// bytes apart overlap by one, so every pair of neighbours is in one word.
func hasDoubleDot(s string) bool {
	n := len(s)
	if n < 8 {
		return strings.Contains(s, "..")
	}
	for i := 0; ; i += 7 {
		i = min(i, n-8)
		d := zeroBytes(load64(s[i:i+8]) ^ lsb*'.')
		if d&(d>>8) != 0 {
			return true
		}
		if i == n-8 {
			return false
		}
	}
}

// load64 reads the first 8 bytes of s as a little-endian word (the
// compiler makes it one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// fastEmail checks the common case, a bare and valid ASCII address, with
// branch-free loops. ok is false for anything else, which the full path
// then reads (or explains). knownDomain is a lower-case domain already
// found valid, which is not checked again; domain is the key's domain.
func fastEmail(s, knownDomain string) (key, domain string, ok bool) {
	// Most addresses end with the known domain: then the @ is found
	// without a search (another @ before it fails the local part's check).
	at := len(s) - len(knownDomain) - 1
	known := knownDomain != "" && at > 0 && s[at] == '@' && s[at+1:] == knownDomain
	if !known {
		at = strings.IndexByte(s, '@')
	}
	if at < 1 || at > maxLocalLen || len(s) > maxEmailLen || len(s)-at < 5 {
		return "", "", false
	}
	local := s[:at]
	domain = s[at+1:]
	cl := classes(local)
	if cl&clNotLocal != 0 || local[0] == '.' || local[len(local)-1] == '.' || cl&clDot != 0 && hasDoubleDot(local) {
		return "", "", false
	}
	if !known {
		dcl := classes(domain)
		if dcl&clNotDomain != 0 || !fastDomain(domain) {
			return "", "", false
		}
		cl |= dcl
	}
	if cl&clUpper == 0 {
		return s, domain, true
	}
	key = lowerASCII(s)
	return key, key[at+1:], true
}

// fastDomain checks the labels of a domain made of letters, digits,
// hyphens and dots.
func fastDomain(domain string) bool {
	for rest, labels := domain, 0; ; labels++ {
		dot := strings.IndexByte(rest, '.')
		label := rest
		if dot >= 0 {
			label = rest[:dot]
		}
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if dot < 0 {
			return labels > 0 && !allDigits(label)
		}
		rest = rest[dot+1:]
	}
}

// trimInvisible trims spaces and format characters (zero-width spaces and
// joiners, BOM, soft hyphen...) at both ends and drops format characters
// inside, where they are invisible copy-paste debris and never part of an
// address.
func trimInvisible(s string) string {
	if s == "" {
		return s
	}
	if isPlainASCII(s) {
		return s
	}
	s = strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
	})
	if strings.IndexFunc(s, isFormat) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isFormat(r) {
				return -1
			}
			return r
		}, s)
	}
	return s
}

func isFormat(r rune) bool { return r >= 0x80 && unicode.Is(unicode.Cf, r) }

// isPlainASCII reports whether s is printable ASCII without leading or
// trailing spaces: the common case, which needs no Unicode work.
func isPlainASCII(s string) bool {
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 && c != ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// needsParse reports whether s is more than a bare address: a display name,
// angle brackets, a comment, a quoted part or a mailto: prefix.
func needsParse(s string) bool {
	return strings.ContainsAny(s, "<>\"() ") || hasPrefixFold(s, "mailto:")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseDisplayForm reduces `Name <addr>`, `<addr>`, `addr (comment)` and
// `mailto:addr` to the address.
func parseDisplayForm(s string) (string, error) {
	if hasPrefixFold(s, "mailto:") {
		s = strings.TrimSpace(s[len("mailto:"):])
		if q := strings.IndexByte(s, '?'); q >= 0 {
			s = s[:q]
		}
		if !needsParse(s) {
			return s, nil
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil && strings.HasSuffix(s, ">") {
		// An unquoted display name with a comma (Doe, Jane <jane@x.org>)
		// is not RFC 5322 but is what spreadsheets hold.
		if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.Count(s, "<") == 1 {
			return strings.TrimSpace(s[i+1 : len(s)-1]), nil
		}
	}
	if err != nil {
		if strings.Count(s, "@") > 1 {
			return "", errText("it holds more than one address")
		}
		if strings.ContainsAny(s, " \t") && !strings.ContainsAny(s, "<>") {
			return "", errText("it contains a space")
		}
		return "", errText("it is neither an address nor a `Name <address>` form")
	}
	return a.Address, nil
}

type errText string

func (e errText) Error() string { return string(e) }

// emailKey checks a bare address and returns its key, or a reason it is
// not an address.
func emailKey(s string) (key, reason string) {
	at := strings.LastIndexByte(s, '@')
	switch {
	case at < 0:
		return "", "there is no @"
	case strings.IndexByte(s, '@') != at:
		return "", "it holds more than one @ (one address per cell)"
	case at == 0:
		return "", "nothing comes before the @"
	case at == len(s)-1:
		return "", "nothing comes after the @"
	}
	local, domain := s[:at], s[at+1:]
	if r := checkLocal(local); r != "" {
		return "", r
	}
	adomain, r := asciiDomain(domain)
	if r != "" {
		return "", r
	}
	lkey := lowerLocal(local)
	if len(lkey)+1+len(adomain) > maxEmailLen {
		return "", "it is longer than 254 characters"
	}
	if lkey == local && adomain == domain {
		return s, "" // already a key: no allocation
	}
	return lkey + "@" + adomain, ""
}

// checkLocal accepts an RFC 5322 dot-atom, with non-ASCII letters allowed
// (RFC 6531 internationalised addresses).
func checkLocal(local string) string {
	if len(local) > maxLocalLen {
		return "the part before the @ is longer than 64 characters"
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "the part before the @ has a misplaced dot" + whereDot(local)
	}
	for _, r := range local {
		if r < utf8.RuneSelf {
			if !atext[r] && r != '.' {
				if r == ' ' || r == '\t' {
					return "it contains a space"
				}
				return "the part before the @ contains " + quoteRune(r)
			}
			continue
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
			return "the part before the @ contains " + quoteRune(r)
		}
	}
	return ""
}

func quoteRune(r rune) string {
	if unicode.IsPrint(r) {
		return "“" + string(r) + "”"
	}
	return fmt.Sprintf("an invisible character (%U)", r)
}

// atext marks the ASCII characters allowed in a dot-atom (RFC 5322 3.2.3).
var atext = func() (t [utf8.RuneSelf]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-/=?^_`{|}~" {
		t[c] = true
	}
	return t
}()

// asciiDomain lower-cases the domain, converts it to A-labels and checks
// every label.
func asciiDomain(d string) (string, string) {
	if d[0] == '[' {
		return "", "an IP address instead of a domain is not accepted"
	}
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		d = lowerASCII(d)
	} else {
		a, err := idna.Lookup.ToASCII(norm.NFC.String(d))
		if err != nil {
			return "", "the domain " + quoteString(d) + " is not a valid international domain name"
		}
		d = a
	}
	if r := checkDomain(d); r != "" {
		return "", r
	}
	return d, ""
}

// whereDot says where the misplaced dot of s is, so that a pasted
// "jane@example.org." is easy to spot in a long list.
func whereDot(s string) string {
	switch {
	case strings.HasPrefix(s, "."):
		return " (at its start)"
	case strings.HasSuffix(s, "."):
		return " (at its end)"
	}
	return " (two in a row)"
}

func quoteString(s string) string { return "“" + s + "”" }

func checkDomain(d string) string {
	if len(d) > 253 {
		return "the domain is longer than 253 characters"
	}
	labels := 0
	last := ""
	for rest := d; ; {
		label := rest
		dot := strings.IndexByte(rest, '.')
		if dot >= 0 {
			label, rest = rest[:dot], rest[dot+1:]
		}
		if label == "" {
			return "the domain has a misplaced dot" + whereDot(d)
		}
		if len(label) > 63 {
			return "a part of the domain is longer than 63 characters"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "a part of the domain starts or ends with a hyphen"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				if c == '_' {
					return "the domain contains an underscore"
				}
				return "the domain contains " + quoteRune(rune(c))
			}
		}
		labels++
		last = label
		if dot < 0 {
			break
		}
	}
	if labels < 2 {
		return "the domain " + quoteString(d) + " has no dot"
	}
	if strings.Trim(last, "0123456789") == "" {
		return "the domain ends in a number"
	}
	return ""
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// IsASCII reports whether s holds only ASCII.
func IsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// AppendFold appends Fold(s) to b.
func AppendFold(b []byte, s string) []byte {
	if !IsASCII(s) {
		return append(b, Fold(s)...)
	}
	start := len(b)
	b = append(b, s...)
	for i := start; i < len(b); i++ {
		if c := b[i]; c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}

// lowerLocal lower-cases the local part for the key only, as Fold does.
func lowerLocal(s string) string { return Fold(s) }

// Fold is how text a person types is matched against stored names and
// addresses: Unicode lower case of the NFC form, so that "özil", "ÖZIL"
// and an "Özil" typed with a combining diaeresis all find "Özil".
func Fold(s string) string {
	if !IsASCII(s) {
		return strings.ToLower(norm.NFC.String(s))
	}
	return lowerASCII(s)
}
