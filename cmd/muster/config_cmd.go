package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"muster/schema"
	"muster/sftpserver"
	"muster/store"
)

// cmdConfig groups the config helpers: `muster config check`.
func cmdConfig(_ context.Context, e *env, args []string) error {
	const usage = "config check [-config FILE] [-data DIR]"
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, usage)
	}
	if args[0] != "check" {
		return usagef("unknown config command %q: usage: muster %s", args[0], usage)
	}
	fs := newFlagSet(e, "config check", "")
	cfgPath := fs.String("config", e.getenv("MUSTER_CONFIG"), "config file (TOML); env MUSTER_CONFIG; none: the built-in zero config")
	dataDir := fs.String("data", "", "data directory, overriding the config's data_dir")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("config check takes no arguments")
	}
	c, err := loadConfig(e, *cfgPath, *dataDir)
	if err != nil {
		return err
	}
	// Everything is checked before the summary, which starts "config ok".
	if err := c.checkKeyFiles(); err != nil {
		return err
	}
	if err := c.checkPasswordHashes(e); err != nil {
		return err
	}
	c.summary(e.stdout, e)
	return nil
}

// checkKeyFiles reads every account's authorized_keys_file and checks its
// keys as the SFTP server will at start.
func (c *Config) checkKeyFiles() error {
	for i, a := range c.SFTP.Accounts {
		if a.AuthorizedKeysFile != "" {
			if _, err := readKeyFile(fmt.Sprintf("sftp.accounts[%d].authorized_keys_file", i), a.AuthorizedKeysFile); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPasswordHashes checks, as the SFTP server will at start, every
// account's password hash that is available here (an environment variable
// set, or a file). The summary already says which are not set; the hash
// itself is never printed.
func (c *Config) checkPasswordHashes(e *env) error {
	for i, a := range c.SFTP.Accounts {
		field := fmt.Sprintf("sftp.accounts[%d].password_hash", i)
		if a.PasswordHashEnv != "" && strings.TrimSpace(e.getenv(a.PasswordHashEnv)) == "" {
			continue
		}
		hash, err := secret(e, field, a.PasswordHashEnv, a.PasswordHashFile)
		if err != nil {
			return err
		}
		if hash == "" {
			continue
		}
		if err := checkAccountPart(sftpserver.Account{PasswordHash: hash}, "password_hash"); err != nil {
			where := "_file " + a.PasswordHashFile
			if a.PasswordHashEnv != "" {
				where = "_env $" + a.PasswordHashEnv
			}
			return schema.Errorf(schema.EInvalid, "%s%s: %v", field, where, err)
		}
	}
	return nil
}

// summary prints what the config sets up, without any secret: where a
// secret comes from and whether it is there, never its value.
func (c *Config) summary(w io.Writer, e *env) {
	from := "built-in zero config"
	if c.path != "" {
		from = c.path
	}
	fmt.Fprintf(w, "config ok: %s\n", from)
	fmt.Fprintf(w, "data_dir:  %s\n", c.DataDir)
	fmt.Fprintf(w, "log:       %s, %s\n", c.LogFormat, c.LogLevel)
	fmt.Fprintf(w, "sources:\n")
	for _, s := range c.Sources {
		sc := c.sourceConfig(&s)
		where := ""
		if s.Folder != "" {
			where = " folder " + s.Folder
		}
		if s.DirectoryID != "" {
			where = " directory " + s.DirectoryID
		}
		if s.Kind == string(store.KindSCIM) {
			where = " tenant URL /scim/v2/" + s.Org + "/" + s.Name
		}
		fmt.Fprintf(w, "  %s/%s: %s, %s, priority %d, authoritative %t%s\n", s.Org, s.Name, s.Kind, s.Mode,
			sc.Priority, sc.Authoritative, where)
	}
	if len(c.SFTP.Accounts) == 0 {
		fmt.Fprintf(w, "sftp:      off (no accounts)\n")
	} else {
		free := "256 MiB (default)"
		if c.SFTP.MinFreeSpace > 0 {
			free = fmt.Sprintf("%d bytes", c.SFTP.MinFreeSpace)
		}
		fmt.Fprintf(w, "sftp:      listen %s; uploads refused under %s free on disk\n", c.SFTP.Listen, free)
	}
	if c.hasSCIM() {
		tls := "plain HTTP (loopback only)"
		if c.SCIM.TLSCertFile != "" {
			tls = "TLS 1.2+, certificate " + c.SCIM.TLSCertFile
		}
		fmt.Fprintf(w, "scim:      listen %s; %s\n", c.SCIM.Listen, tls)
	}
	for _, a := range c.SFTP.Accounts {
		var login []string
		if n := len(a.Keys); n > 0 {
			login = append(login, fmt.Sprintf("%d key(s)", n))
		}
		if a.AuthorizedKeysFile != "" {
			login = append(login, "keys from "+a.AuthorizedKeysFile)
		}
		login = append(login, secretSource(e, "password hash", a.PasswordHashEnv, a.PasswordHashFile)...)
		fmt.Fprintf(w, "  account %s (org %s) -> source %s: %s\n", a.Name, a.Org, a.Source, strings.Join(login, ", "))
	}
	orgs := []string{"default"}
	if len(c.Orgs) > 0 {
		orgs = orgs[:0]
		for _, o := range c.Orgs {
			orgs = append(orgs, o.Name)
		}
	}
	for _, o := range orgs {
		attrs := "first/last name and groups only"
		if set := c.attrs(o); set != 0 {
			attrs = "first/last name, groups and " + attrNames(set)
		}
		fmt.Fprintf(w, "org %s: keeps %s\n", o, attrs)
	}
	c.WorkOS.summary(w, e, c)
	fmt.Fprintf(w, "watch:     debounce %s, retry up to every %s, stop grace %s\n", c.Watch.Debounce, c.Watch.RetryMax, c.Watch.Grace)
	keep := func(d Duration) string {
		if d == 0 {
			return "for ever"
		}
		return d.String()
	}
	fmt.Fprintf(w, "retention: archive %s, reports %s\n", keep(c.Retention.Archive), keep(c.Retention.Reports))
	c.HTTP.summary(w)
}

// secretSource says where a secret comes from and whether it is there.
func secretSource(e *env, what, envName, file string) []string {
	switch {
	case envName != "":
		state := "set"
		if strings.TrimSpace(e.getenv(envName)) == "" {
			state = "NOT SET"
		}
		return []string{fmt.Sprintf("%s from $%s (%s)", what, envName, state)}
	case file != "":
		return []string{fmt.Sprintf("%s from file %s", what, file)}
	}
	return nil
}

// attrNames lists the attributes of a set by name.
func attrNames(set schema.AttrSet) string {
	var names []string
	for _, a := range schema.AllAttrs() {
		if set.Has(a) {
			names = append(names, a.String())
		}
	}
	return strings.Join(names, ", ")
}
