package sftpserver

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"muster/schema"
)

// DefaultMaxFileSize is the per-file upload limit of an account that sets
// none: far above any HR export, far below a full disk.
const DefaultMaxFileSize int64 = 512 << 20

// Account is one login of the drop box. Its uploads feed one source of one
// organisation.
type Account struct {
	// Name is the SSH user name. It must be unique across the whole server
	// (SSH has no notion of organisations) and is also a directory name:
	// letters, digits, '.', '_', '-', '@', at most 64, not starting with '.'.
	Name string
	// Org is the organisation the account belongs to; schema.DefaultOrg if empty.
	Org string
	// Source is the source the account's uploads feed. It is passed back in
	// every Upload and not interpreted here.
	Source string
	// AuthorizedKeys holds public keys in authorized_keys format
	// (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of at least 2048
	// bits). Each entry may hold several lines; blank lines and # comments
	// are skipped. Key options (from=, command=...) are refused rather than
	// silently ignored: use AllowedNetworks.
	AuthorizedKeys []string
	// PasswordHash, if set, also allows password (and keyboard-interactive)
	// logins: an argon2id PHC string or a bcrypt hash, as printed by
	// 'muster sftp passwd'. The password itself is never stored.
	PasswordHash string
	// AllowedNetworks lists the client networks (CIDR, or a bare address)
	// the account may log in from. Empty allows any address.
	AllowedNetworks []string
	// MaxFileSize is the largest file the account may upload, in bytes;
	// DefaultMaxFileSize if zero.
	MaxFileSize int64
	// ReadBack lets the account download what it uploaded. Off by default:
	// a drop box only needs to receive. The reports folder is always
	// readable.
	ReadBack bool
}

// account is an Account checked and parsed for use at login.
type account struct {
	Account
	keys     [][]byte // wire form of each authorized key, for comparison
	keyFPs   []string // their SHA256 fingerprints
	password *passwordHash
	networks []netip.Prefix
}

// compileAccounts validates accounts and returns them by name. Errors name
// the account and field.
func compileAccounts(list []Account) (map[string]*account, error) {
	out := make(map[string]*account, len(list))
	for i, a := range list {
		acc, err := compileAccount(a)
		if err != nil {
			return nil, schema.WrapError(schema.EInvalid, err, "accounts[%d] (%q)", i, a.Name)
		}
		if _, dup := out[acc.Name]; dup {
			return nil, schema.Errorf(schema.EInvalid, "accounts[%d]: name %q is used twice; account names must be unique across organisations", i, a.Name)
		}
		out[acc.Name] = acc
	}
	return out, nil
}

func compileAccount(a Account) (*account, error) {
	if !schema.ValidName(a.Name) {
		return nil, fmt.Errorf("name: %q is not a valid account name (letters, digits, . _ - @; at most 64; not starting with . or -)", a.Name)
	}
	if a.Org == "" {
		a.Org = schema.DefaultOrg
	}
	if !schema.ValidName(a.Org) {
		return nil, fmt.Errorf("org: %q is not a valid organisation name", a.Org)
	}
	if strings.TrimSpace(a.Source) == "" {
		return nil, fmt.Errorf("source: required (the source this account's uploads feed)")
	}
	if a.MaxFileSize < 0 {
		return nil, fmt.Errorf("max_file_size: %d is negative", a.MaxFileSize)
	}
	if a.MaxFileSize == 0 {
		a.MaxFileSize = DefaultMaxFileSize
	}
	acc := &account{Account: a}
	for i, entry := range a.AuthorizedKeys {
		keys, err := parseAuthorizedKeys(entry)
		if err != nil {
			return nil, fmt.Errorf("authorized_keys[%d]: %w", i, err)
		}
		acc.keys = append(acc.keys, keys...)
	}
	for _, k := range acc.keys {
		pk, err := ssh.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("authorized_keys: %w", err)
		}
		acc.keyFPs = append(acc.keyFPs, ssh.FingerprintSHA256(pk))
	}
	if a.PasswordHash != "" {
		h, err := parsePasswordHash(a.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("password_hash: %w", err)
		}
		acc.password = h
	}
	if len(acc.keys) == 0 && acc.password == nil {
		return nil, fmt.Errorf("authorized_keys: at least one key or a password_hash is required")
	}
	for i, n := range a.AllowedNetworks {
		p, err := parseNetwork(n)
		if err != nil {
			return nil, fmt.Errorf("allowed_networks[%d]: %w", i, err)
		}
		acc.networks = append(acc.networks, p)
	}
	return acc, nil
}

// parseAuthorizedKeys parses every key line of text.
func parseAuthorizedKeys(text string) ([][]byte, error) {
	var keys [][]byte
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: not a public key in authorized_keys format", n+1)
		}
		if len(options) > 0 {
			return nil, fmt.Errorf("line %d: key options (%s) are not supported; limit client addresses with the account's allowed networks instead", n+1, strings.Join(options, ","))
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, fmt.Errorf("line %d: one key per line", n+1)
		}
		if err := checkKeyType(key); err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		keys = append(keys, key.Marshal())
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key found")
	}
	return keys, nil
}

// checkKeyType allows the key types OpenSSH 9 accepts by default, and RSA
// keys only from 2048 bits.
func checkKeyType(key ssh.PublicKey) error {
	switch key.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return nil
	case ssh.KeyAlgoRSA:
		ck, ok := key.(ssh.CryptoPublicKey)
		if !ok {
			return fmt.Errorf("unreadable RSA key")
		}
		type sizer interface{ Size() int }
		if s, ok := ck.CryptoPublicKey().(sizer); ok && s.Size()*8 < 2048 {
			return fmt.Errorf("RSA key of %d bits is too short (at least 2048)", s.Size()*8)
		}
		return nil
	}
	return fmt.Errorf("key type %s is not supported (ed25519, ECDSA or RSA)", key.Type())
}

func parseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR network", s)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR network", s)
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// allows reports whether the account may log in from ip.
func (a *account) allows(ip netip.Addr) bool {
	if len(a.networks) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range a.networks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// hasKeyFP reports whether the key of fingerprint fp is one of the
// account's authorized keys.
func (a *account) hasKeyFP(fp string) bool {
	return slices.Contains(a.keyFPs, fp)
}

// hasKey reports whether key is one of the account's authorized keys.
func (a *account) hasKey(key ssh.PublicKey) bool {
	wire := key.Marshal()
	for _, k := range a.keys {
		if bytes.Equal(k, wire) {
			return true
		}
	}
	return false
}
