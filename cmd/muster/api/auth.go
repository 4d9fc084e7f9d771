package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"muster/schema"
)

// Role is what a token may do.
type Role string

// Roles. A viewer reads; an admin also approves and rejects held drops,
// rolls sources back and triggers syncs.
const (
	RoleViewer Role = "viewer"
	RoleAdmin  Role = "admin"
)

// AllOrgs as a token's organisation makes it an operator token: it may name
// any organisation (/v1/orgs/{org}/...). Every other token belongs to
// exactly one organisation and sees nothing of any other.
const AllOrgs = "*"

// Token is an API token as configured: only the SHA-256 of the secret is
// kept (the secret is 256 random bits, so its hash cannot be reversed and a
// slow hash would add nothing but CPU per request).
type Token struct {
	// Name identifies the token in logs and in the history of what it
	// changed ("api:<name>").
	Name string
	Org  string
	Role Role
	// Hash is the SHA-256 of the secret, from ParseTokenHash.
	Hash [sha256.Size]byte
}

// TokenPrefix starts every token NewToken makes, so secret scanners and
// people can tell one.
const TokenPrefix = "mst_"

// hashPrefix starts a token hash in the config.
const hashPrefix = "sha256:"

// NewToken returns a new random token and the hash line for the config.
func NewToken() (secret, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret), nil
}

// HashToken returns the config form of a token's hash: "sha256:<hex>".
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// ParseTokenHash reads "sha256:<64 hex digits>".
func ParseTokenHash(s string) ([sha256.Size]byte, error) {
	var out [sha256.Size]byte
	h, ok := strings.CutPrefix(strings.TrimSpace(s), hashPrefix)
	if !ok {
		return out, schema.Errorf(schema.EInvalid, "not a token hash: it must start with %q (from `muster token new`)", hashPrefix)
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return out, schema.Errorf(schema.EInvalid, "not a token hash: %q must be followed by 64 hex digits", hashPrefix)
	}
	copy(out[:], b)
	return out, nil
}

// authenticate returns the token presented as "Authorization: Bearer ...".
// Every configured hash is compared in constant time, so how long it takes
// says nothing about which token, if any, was close.
func (s *Server) authenticate(r *http.Request) (*Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, schema.Errorf(schema.EUnauthorized, "missing token: send Authorization: Bearer TOKEN")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, schema.Errorf(schema.EUnauthorized, "the Authorization header must be Bearer TOKEN")
	}
	return s.Authenticate(secret)
}

// Authenticate returns the configured token whose secret this is: the
// check of /v1's bearer tokens, which the web console's sign-in uses too.
// Every configured hash is compared in constant time.
func (s *Server) Authenticate(secret string) (*Token, error) {
	sum := sha256.Sum256([]byte(secret))
	var found *Token
	tokens := s.conf().Tokens
	for i := range tokens {
		if subtle.ConstantTimeCompare(sum[:], tokens[i].Hash[:]) == 1 && found == nil {
			found = &tokens[i]
		}
	}
	if found == nil {
		return nil, schema.Errorf(schema.EUnauthorized, "invalid token")
	}
	return found, nil
}

// TokenNamed returns the configured token of that name: a console session
// names its token, and ends when the token is removed or replaced.
func (s *Server) TokenNamed(name string) (*Token, bool) {
	tokens := s.conf().Tokens
	for i := range tokens {
		if tokens[i].Name == name {
			return &tokens[i], true
		}
	}
	return nil, false
}

// Refused counts and logs a refused credential (a bad token at the
// console's sign-in) as /v1 does: logged once per address and window
// (throttle.go).
func (s *Server) Refused(r *http.Request, err error) {
	s.cfg.Metrics.authFailed()
	s.noteRefusal(r, err)
}

// Throttled reports whether the request's address presented too many
// refused tokens this window, and when it may try again: the console's
// sign-in answers 429 then, as /v1 does.
func (s *Server) Throttled(r *http.Request) (bool, time.Duration) {
	return s.throttle.blocked(clientAddr(r))
}

// Can reports whether the token's role allows what needs role.
func (t *Token) Can(role Role) bool {
	return role == RoleViewer || t.Role == RoleAdmin
}

// Sees reports whether the token may see the organisation.
func (t *Token) Sees(org string) bool {
	return t.Org == AllOrgs || t.Org == org
}

// By is how the token's writes are recorded in the history.
func (t *Token) By() string { return "api:" + t.Name }
