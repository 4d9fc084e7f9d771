package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"muster/schema"
	"muster/sftpserver"
	"muster/store"
)

// The built-in config's names.
const (
	zeroDropSource   = "drop"
	zeroUploadSource = "upload"
	zeroAccount      = "upload"
	zeroKeyName      = "upload_key" // in the data dir, with .pub beside it
)

// zeroConfig is the config of `muster serve` without -config: a drop folder
// in the data dir, and an SFTP account on 127.0.0.1:2022 that accepts the
// user's own SSH public keys or, when there are none, a key pair generated
// into the data dir on first start.
func zeroConfig(e *env, dataDir string) *Config {
	acc := AccountConf{Name: zeroAccount, Source: zeroUploadSource, Keys: userKeys(e)}
	if len(acc.Keys) == 0 {
		acc.AuthorizedKeysFile = filepath.Join(dataDir, zeroKeyName+".pub")
	}
	return &Config{
		DataDir: dataDir,
		Sources: []SourceConf{
			{Name: zeroDropSource, Kind: string(store.KindFolder), Folder: filepath.Join(dataDir, "drop")},
			{Name: zeroUploadSource, Kind: string(store.KindSFTP)},
		},
		SFTP: SFTPConfig{Listen: defaultSFTPListen, Accounts: []AccountConf{acc}},
	}
}

// userKeys returns the public keys in the user's ~/.ssh (*.pub and
// authorized_keys) that the SFTP server accepts, one per entry.
func userKeys(e *env) []string {
	home := e.getenv("HOME")
	if home == "" {
		return nil
	}
	dir := filepath.Join(home, ".ssh")
	files, _ := filepath.Glob(filepath.Join(dir, "*.pub"))
	sort.Strings(files)
	files = append(files, filepath.Join(dir, "authorized_keys"))
	var keys []string
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			fields := strings.Fields(line)
			if line == "" || strings.HasPrefix(line, "#") || len(fields) < 2 || seen[fields[1]] || !acceptedKey(line) {
				continue
			}
			seen[fields[1]] = true
			keys = append(keys, line)
		}
	}
	return keys
}

// acceptedKey reports whether the SFTP server would take the key.
func acceptedKey(line string) bool { return checkKey(line) == nil }

// checkKey asks the SFTP server's own account check whether it takes the
// public key (type, size, no options), and why not.
func checkKey(line string) error {
	err := checkAccountPart(sftpserver.Account{AuthorizedKeys: []string{line}}, "authorized_keys")
	if err == nil {
		return nil
	}
	// The server numbers the lines of its one-line input and speaks of the
	// account's allowed networks; the config's key for them is allow_networks.
	msg := strings.TrimPrefix(err.Error(), "line 1: ")
	return errors.New(strings.ReplaceAll(msg, "limit client addresses with the account's allowed networks instead", "use allow_networks"))
}

// readKeyFile reads an authorized_keys_file and checks each of its keys as
// the SFTP server will, so that a refused key is named by the config's field
// and the file's line.
func readKeyFile(field, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", schema.WrapError(schema.EInvalid, err, "%s", field)
	}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := checkKey(line); err != nil {
			return "", schema.Errorf(schema.EInvalid, "%s: %s line %d: %v", field, path, n+1, err)
		}
	}
	return string(b), nil
}

// checkNetwork checks one allow_networks entry as the SFTP server will
// (the account needs some way to log in to be checked at all: any valid
// public key does).
func checkNetwork(n string) error {
	return checkAccountPart(sftpserver.Account{AuthorizedKeys: []string{anyPublicKey}, AllowedNetworks: []string{n}}, "allowed_networks")
}

// anyPublicKey is a well-formed public key (of no one), for checkNetwork.
const anyPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAPpEG8iJ/WNWNovv6Nq2lpLNz1UPdKo7EQ2ey0c48v6"

// checkAccountPart validates one part of an account as the SFTP server
// does at start, returning its message without the server's field name.
func checkAccountPart(a sftpserver.Account, field string) error {
	a.Name, a.Source = "k", "s"
	c := sftpserver.Config{Dir: ".", Accounts: []sftpserver.Account{a}}
	err := c.Validate()
	if err == nil {
		return nil
	}
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, field+"[0]: "); ok {
		msg = after
	} else if _, after, ok := strings.Cut(msg, field+": "); ok {
		msg = after
	}
	return errors.New(msg)
}

// ensureUploadKey generates the built-in account's key pair into the data
// dir when the config relies on it and it does not exist yet.
func ensureUploadKey(c *Config) (private string, err error) {
	if !c.zero() {
		return "", nil
	}
	acc := c.SFTP.Accounts[0]
	if acc.AuthorizedKeysFile == "" {
		return "", nil
	}
	private = strings.TrimSuffix(acc.AuthorizedKeysFile, ".pub")
	if _, err := os.Stat(acc.AuthorizedKeysFile); err == nil {
		return private, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(private), 0o750); err != nil {
		return "", err
	}
	return private, writeKeyPair(private, "muster-"+zeroAccount)
}

// writeKeyPair writes an ECDSA P-256 key pair as OpenSSH reads it: the
// private key in PEM (mode 0600) at path, the public key in authorized_keys
// form at path.pub.
func writeKeyPair(path, comment string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(path, priv, 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	point, err := k.PublicKey.Bytes()
	if err != nil {
		return err
	}
	// The SSH wire form: string type, string curve, string point.
	var wire []byte
	for _, s := range [][]byte{[]byte("ecdsa-sha2-nistp256"), []byte("nistp256"), point} {
		wire = binary.BigEndian.AppendUint32(wire, uint32(len(s)))
		wire = append(wire, s...)
	}
	pub := "ecdsa-sha2-nistp256 " + base64.StdEncoding.EncodeToString(wire) + " " + comment + "\n"
	return os.WriteFile(path+".pub", []byte(pub), 0o644)
}

// zero reports whether c is the built-in config.
func (c *Config) zero() bool { return c.path == "" && c.builtin }
