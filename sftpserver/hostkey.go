package sftpserver

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// hostKeyFiles are the host keys the server keeps in <Dir>/hostkeys, named
// as OpenSSH names them. ed25519 is what current clients pick; RSA 3072 is
// for older Java and libssh2 stacks.
var hostKeyFiles = []struct {
	file string
	gen  func() (crypto.Signer, error)
}{
	{"ssh_host_ed25519_key", func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
	{"ssh_host_rsa_key", func() (crypto.Signer, error) {
		return rsa.GenerateKey(rand.Reader, 3072)
	}},
}

// HostKey describes one of the server's host keys, for operators to pin.
type HostKey struct {
	Type        string // ssh-ed25519, ssh-rsa
	Fingerprint string // SHA256:... as ssh-keygen -lf prints it
	// AuthorizedKey is the public key in authorized_keys/known_hosts form,
	// without a trailing newline.
	AuthorizedKey string
}

// HostKeys returns the host keys kept in <dir>/hostkeys (dir being
// Config.Dir), generating any that are missing, as Open does on first
// start: for `muster sftp hostkeys`, to show operators the fingerprints.
func HostKeys(dir string) ([]HostKey, error) {
	_, keys, err := loadHostKeys(dir)
	return keys, err
}

// loadHostKeys loads the host keys kept in <dir>/hostkeys, generating any
// that are missing (first start). A key file that exists but cannot be read
// or parsed is an error, never silently replaced: clients have pinned it.
func loadHostKeys(dir string) ([]ssh.Signer, []HostKey, error) {
	dir = filepath.Join(dir, "hostkeys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("host keys: %w", err)
	}
	var signers []ssh.Signer
	var infos []HostKey
	for _, hk := range hostKeyFiles {
		p := filepath.Join(dir, hk.file)
		s, err := loadHostKey(p)
		if errors.Is(err, fs.ErrNotExist) {
			s, err = generateHostKey(p, hk.gen)
			if errors.Is(err, fs.ErrExist) {
				// Another instance sharing the folder made it first:
				// every instance must show clients the same key.
				s, err = loadHostKey(p)
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("host key %s: %w", p, err)
		}
		pub := s.PublicKey()
		infos = append(infos, HostKey{
			Type:          pub.Type(),
			Fingerprint:   ssh.FingerprintSHA256(pub),
			AuthorizedKey: string(trimNewline(ssh.MarshalAuthorizedKey(pub))),
		})
		signers = append(signers, s)
	}
	return signers, infos, nil
}

func loadHostKey(p string) (ssh.Signer, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return restrictRSA(s)
}

func generateHostKey(p string, gen func() (crypto.Signer, error)) (ssh.Signer, error) {
	key, err := gen()
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if err := writeFileAtomic(p, pem.EncodeToMemory(block), 0o600, false); err != nil {
		return nil, err
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, err
	}
	return restrictRSA(s)
}

// restrictRSA makes an RSA host key sign only with SHA-2, never SHA-1
// ssh-rsa, which x/crypto would otherwise still offer.
func restrictRSA(s ssh.Signer) (ssh.Signer, error) {
	if s.PublicKey().Type() != ssh.KeyAlgoRSA {
		return s, nil
	}
	as, ok := s.(ssh.AlgorithmSigner)
	if !ok {
		return nil, errors.New("RSA key cannot choose its signature algorithm")
	}
	return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512})
}

// writeFileAtomic writes data to p through a temporary file in the same
// directory, synced and renamed, so a crash leaves the old file or the new
// one, never half of one. Unless replace, an existing p is left alone and
// the error is fs.ErrExist (the file is linked into place, not renamed).
func writeFileAtomic(p string, data []byte, perm os.FileMode, replace bool) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err == nil && replace:
		err = os.Rename(tmp, p)
	case err == nil:
		err = os.Link(tmp, p)
		os.Remove(tmp)
		return err
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
