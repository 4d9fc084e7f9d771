package main

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"muster/cmd/muster/notify"
	"muster/ingest/workos"
	"muster/schema"
	"muster/sftpserver"
)

// prepared is what `muster serve` reads beyond the file before it binds
// anything: secrets (from the environment or files), key files, and the
// checks the running parts make of their settings. `muster config check`
// and a live reload run the same prepare, so whatever serve would refuse
// they refuse too, naming the same field.
type prepared struct {
	// accounts are the SFTP server's, keys and password hashes read.
	accounts []sftpserver.Account
	// webhookSecret is the WorkOS webhook endpoint's ("" without one).
	webhookSecret workos.Secret
	// notify are the notification targets, their secrets read.
	notify []notify.Target
	// workosKey is a digest of the WorkOS API key, so a reload sees it
	// changed (the key itself is read by the scheduler's client).
	workosKey [sha256.Size]byte
	// scimCert is a digest of the SCIM certificate and key files, so a
	// reload sees a renewed certificate.
	scimCert [sha256.Size]byte
}

// prepare reads every secret and file the config names and checks them as
// the parts of the daemon will; every problem is reported, each with its
// field. Nothing is created or bound. With the built-in config, the upload
// key that serve generates on first start may be missing.
func (c *Config) prepare(e *env) (*prepared, error) {
	var errs ConfigError
	p := &prepared{}
	checkDirUsable(&errs, "data_dir", c.DataDir)
	for i, s := range c.Sources {
		if s.Kind == "folder" && s.Folder != "" {
			checkDirUsable(&errs, fmt.Sprintf("sources[%d].folder", i), s.Folder)
		}
	}
	if len(c.SFTP.Accounts) > 0 {
		checkListen(&errs, "sftp.listen", c.SFTP.Listen)
	}
	if c.HTTP.enabled {
		checkListen(&errs, "http.listen", c.HTTP.Listen)
	}
	p.accounts = c.prepareAccounts(e, &errs)
	if c.needsWorkOS() {
		// The client is made exactly as the scheduler makes it (reading the
		// key), without a request: nothing is sent to WorkOS.
		if _, err := c.workosClient(e, nil); err != nil {
			errs.addErr("workos.api_key_env", err)
		}
		key, _ := secret(e, "workos.api_key", c.WorkOS.APIKeyEnv, c.WorkOS.APIKeyFile)
		p.workosKey = sha256.Sum256([]byte(key))
	}
	if wh := c.WorkOS.Webhook; wh.Listen != "" {
		checkListen(&errs, "workos.webhook.listen", wh.Listen)
		s, err := c.webhookSecret(e)
		switch {
		case err != nil:
			errs.addErr("workos.webhook.secret_env", err)
		case s == "":
			errs.add("workos.webhook.secret_env", "no secret configured")
		}
		p.webhookSecret = s
	}
	if c.hasSCIM() {
		checkListen(&errs, "scim.listen", c.SCIM.Listen)
		if c.SCIM.TLSCertFile != "" && c.SCIM.TLSKeyFile != "" {
			if _, err := tls.LoadX509KeyPair(c.SCIM.TLSCertFile, c.SCIM.TLSKeyFile); err != nil {
				errs.add("scim.tls_cert_file", "%v", err)
			}
			cert, _ := os.ReadFile(c.SCIM.TLSCertFile)
			key, _ := os.ReadFile(c.SCIM.TLSKeyFile)
			p.scimCert = sha256.Sum256(append(cert, key...))
		}
	}
	p.notify = c.prepareNotify(e, &errs)
	return p, errs.err()
}

// needsWorkOS reports whether serve makes a WorkOS client: with a workos
// source, or a webhook endpoint.
func (c *Config) needsWorkOS() bool {
	if c.WorkOS.Webhook.Listen != "" {
		return true
	}
	for _, s := range c.Sources {
		if s.Kind == "workos" {
			return true
		}
	}
	return false
}

// prepareAccounts turns the config's SFTP accounts into the server's,
// reading key files and password hashes, and checks each as the server
// does at start.
func (c *Config) prepareAccounts(e *env, errs *ConfigError) []sftpserver.Account {
	var out []sftpserver.Account
	for i, a := range c.SFTP.Accounts {
		f := fmt.Sprintf("sftp.accounts[%d]", i)
		acc := sftpserver.Account{Name: a.Name, Org: a.Org, Source: a.Source, AuthorizedKeys: append([]string(nil), a.Keys...),
			AllowedNetworks: a.AllowNetworks, MaxFileSize: int64(a.MaxFileSize), ReadBack: a.ReadBack}
		ok := true
		if a.AuthorizedKeysFile != "" && !(c.zero() && !exists(a.AuthorizedKeysFile)) {
			keys, err := readKeyFile(f+".authorized_keys_file", a.AuthorizedKeysFile)
			if err != nil {
				errs.addErr(f+".authorized_keys_file", err)
				ok = false
			}
			acc.AuthorizedKeys = append(acc.AuthorizedKeys, keys)
		}
		hash, err := secret(e, f+".password_hash", a.PasswordHashEnv, a.PasswordHashFile)
		if err != nil {
			errs.addErr(f+".password_hash_env", err)
			ok = false
		} else if hash != "" {
			if err := checkAccountPart(sftpserver.Account{PasswordHash: hash}, "password_hash"); err != nil {
				field, where := f+".password_hash_file", a.PasswordHashFile
				if a.PasswordHashEnv != "" {
					field, where = f+".password_hash_env", "$"+a.PasswordHashEnv
				}
				errs.add(field, "%s: %v", where, err)
				ok = false
			}
		}
		acc.PasswordHash = hash
		if ok && !(c.zero() && len(acc.AuthorizedKeys) == 0) {
			// Whatever else the server checks of a whole account.
			cfg := sftpserver.Config{Dir: ".", Accounts: []sftpserver.Account{acc}}
			if err := cfg.Validate(); err != nil {
				errs.add(f, "%s", strings.TrimPrefix(schema.ErrorMessageOf(err), "accounts[0] "))
			}
		}
		out = append(out, acc)
	}
	return out
}

// addErr records err under field, or under the field its own message
// names when it is a field error (secrets name _env or _file).
func (e *ConfigError) addErr(field string, err error) {
	var fe *fieldError
	if errors.As(err, &fe) {
		e.Problems = append(e.Problems, fe.FieldProblem)
		return
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		e.Problems = append(e.Problems, ce.Problems...)
		return
	}
	msg := schema.ErrorMessageOf(err)
	if schema.ErrorCodeOf(err) == schema.EInternal {
		msg = err.Error()
	}
	// Messages that start with their own field keep it once.
	if f, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(f, field) && !strings.Contains(f, " ") {
		field, msg = f, rest
	}
	e.add(field, "%s", msg)
}

// fieldError is an error about one field of the config.
type fieldError struct{ FieldProblem }

func (e *fieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes it an invalid error of the vocabulary.
func (e *fieldError) Unwrap() error { return schema.Errorf(schema.EInvalid, "%s", e.Error()) }

func fieldErrorf(field, format string, args ...any) error {
	return &fieldError{FieldProblem{field, fmt.Sprintf(format, args...)}}
}

// checkListen checks a listen address as net.Listen will read it: host
// and port, the port a number, the host an address of this machine's
// form (a name must resolve). Whether the port is free is only known by
// binding it, which serve does at start.
func checkListen(errs *ConfigError, field, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		errs.add(field, "%q is not host:port", addr)
		return
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		errs.add(field, "%q: port %q is not a port number", addr, port)
		return
	}
	if host != "" && net.ParseIP(host) == nil {
		if _, err := net.LookupHost(host); err != nil {
			errs.add(field, "%q: host %q does not resolve", addr, host)
		}
	}
}

// checkDirUsable checks a folder serve creates if missing: it is a folder,
// or the nearest existing folder above it is one serve can write in.
func checkDirUsable(errs *ConfigError, field, dir string) {
	p := filepath.Clean(dir)
	for {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			if p == filepath.Clean(dir) {
				errs.add(field, "%s is a file, not a folder", dir)
			} else {
				errs.add(field, "%s: %s is a file, not a folder", dir, p)
			}
			return
		case err == nil:
			if p != filepath.Clean(dir) && !writable(p) {
				errs.add(field, "%s does not exist and cannot be made: %s is not writable", dir, p)
			}
			return
		case !os.IsNotExist(err):
			errs.add(field, "%s: %v", dir, err)
			return
		}
		parent := filepath.Dir(p)
		if parent == p {
			return
		}
		p = parent
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
