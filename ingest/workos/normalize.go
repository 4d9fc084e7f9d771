package workos

import (
	"strings"
	"unicode"

	"muster/schema"
)

// normalizeEmail returns the address to send to and the recipient key
// (DESIGN.md merge rule 1).
//
// TEMPORARY: a minimal stand-in until schema.NormalizeEmail(s) (email, key
// string, err error) lands on main. After `git merge main`, make this call it
// (or delete it and call schema.NormalizeEmail directly). Known gap: a
// non-ASCII domain is lower-cased but not converted to ASCII (IDNA).
func normalizeEmail(s string) (email, key string, err error) {
	s = strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u00a0' || r == '\ufeff' || r == '\u200b' ||
			r == '\u200c' || r == '\u200d' || r == '\u2060'
	})
	if s == "" {
		return "", "", schema.Errorf(schema.EInvalid, "email is empty")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n,;<>()[]\\\"") {
		return "", "", schema.Errorf(schema.EInvalid, "%q is not an email address", s)
	}
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", "", schema.Errorf(schema.EInvalid, "%q has an invalid domain", s)
	}
	return local + "@" + domain, strings.ToLower(local) + "@" + domain, nil
}
