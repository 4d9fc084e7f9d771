package sftpserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters for new hashes: the OWASP recommendation of 19 MiB,
// two passes, one lane, cheap enough for a 2-core server under a burst of
// logins and still far beyond what a stolen config is worth to brute-force.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// Bounds on the parameters of a configured argon2id hash, so a hostile or
// mistyped config cannot make each login allocate gigabytes.
const (
	maxArgonMemoryKiB = 1 << 20
	maxArgonTime      = 16
	maxArgonThreads   = 16
)

// HashPassword returns an argon2id hash of password in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash) for Account.PasswordHash.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// passwordHash is a parsed Account.PasswordHash.
type passwordHash struct {
	bcrypt []byte // set for bcrypt hashes

	// argon2id
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parsePasswordHash accepts an argon2id PHC string or a bcrypt hash
// ($2a$, $2b$, $2y$).
func parsePasswordHash(s string) (*passwordHash, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return nil, fmt.Errorf("bad bcrypt hash: %w", err)
		}
		return &passwordHash{bcrypt: []byte(s)}, nil
	case strings.HasPrefix(s, "$argon2id$"):
		return parseArgon2id(s)
	}
	return nil, errors.New("unsupported password hash: want argon2id ($argon2id$...) or bcrypt ($2b$...); make one with 'muster sftp passwd'")
}

func parseArgon2id(s string) (*passwordHash, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 {
		return nil, errors.New("bad argon2id hash: want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, fmt.Errorf("bad argon2id hash: version %q, want v=%d", parts[2], argon2.Version)
	}
	h := &passwordHash{}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return nil, fmt.Errorf("bad argon2id hash parameters %q", parts[3])
	}
	if h.memory == 0 || h.memory > maxArgonMemoryKiB || h.time == 0 || h.time > maxArgonTime ||
		h.threads == 0 || h.threads > maxArgonThreads {
		return nil, fmt.Errorf("argon2id parameters %q out of range", parts[3])
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, errors.New("bad argon2id salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 {
		return nil, errors.New("bad argon2id hash value")
	}
	return h, nil
}

// check reports whether password matches, in time independent of where
// the first difference is.
func (h *passwordHash) check(password []byte) bool {
	if h.bcrypt != nil {
		return bcrypt.CompareHashAndPassword(h.bcrypt, password) == nil
	}
	key := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// decoyHash is checked against passwords for unknown accounts and accounts
// without a password, so the answer takes as long as for a real one and
// timing does not tell which account names exist.
var decoyHash = func() *passwordHash {
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt)
	return &passwordHash{memory: argonMemoryKiB, time: argonTime, threads: argonThreads,
		salt: salt, key: make([]byte, argonKeyLen)}
}()
