package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"

	"muster/cmd/muster/notify"
	"muster/schema"
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
	asJSON := fs.Bool("json", false, "print the summary (or the problems) as JSON")
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
	// Everything serve checks before it binds: secrets, key files,
	// addresses, folders. The summary starts "config ok".
	if _, err := c.prepare(e); err != nil {
		return configFileError(c.path, err)
	}
	if *asJSON {
		return writeJSON(e.stdout, c.summaryJSON(e))
	}
	c.summary(e.stdout, e)
	return nil
}

// configFileError names the file before its problems, as loadConfig does.
func configFileError(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
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
	c.summaryNotify(w, e)
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

// configSummary is `muster config check -json`: what the config sets up,
// with where each secret comes from and whether it is there, never its
// value.
type configSummary struct {
	OK        bool              `json:"ok"`
	Config    string            `json:"config"`
	DataDir   string            `json:"data_dir"`
	LogFormat string            `json:"log_format"`
	LogLevel  string            `json:"log_level"`
	Sources   []sourceSummary   `json:"sources"`
	SFTP      *sftpSummary      `json:"sftp,omitempty"`
	Orgs      []orgSummary      `json:"orgs"`
	WorkOS    bool              `json:"workos"`
	HTTP      *httpSummary      `json:"http,omitempty"`
	Notify    []notifySummary   `json:"notify"`
	Watch     map[string]string `json:"watch"`
	Retention map[string]string `json:"retention"`
}

type sourceSummary struct {
	Org           string `json:"org"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Mode          string `json:"mode"`
	Priority      int    `json:"priority"`
	Authoritative bool   `json:"authoritative"`
	Folder        string `json:"folder,omitempty"`
	DirectoryID   string `json:"directory_id,omitempty"`
	Schedule      string `json:"schedule,omitempty"`
}

type sftpSummary struct {
	Listen   string           `json:"listen"`
	Accounts []accountSummary `json:"accounts"`
}

type accountSummary struct {
	Name     string   `json:"name"`
	Org      string   `json:"org"`
	Source   string   `json:"source"`
	Login    []string `json:"login"`
	Networks []string `json:"allow_networks,omitempty"`
}

type orgSummary struct {
	Name       string   `json:"name"`
	Attributes []string `json:"attributes"`
}

type httpSummary struct {
	Listen  string         `json:"listen"`
	Metrics string         `json:"metrics"`
	Tokens  []tokenSummary `json:"tokens"`
}

type tokenSummary struct {
	Name string `json:"name"`
	Org  string `json:"org"`
	Role string `json:"role"`
}

type notifySummary struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Org          string   `json:"org"`
	Events       []string `json:"events"`
	FailingAfter int      `json:"failing_after"`
}

func (c *Config) summaryJSON(e *env) configSummary {
	out := configSummary{OK: true, Config: cmp.Or(c.path, "built-in zero config"), DataDir: c.DataDir, LogFormat: c.LogFormat,
		LogLevel: c.LogLevel, Sources: []sourceSummary{}, Orgs: []orgSummary{}, WorkOS: c.needsWorkOS(), Notify: []notifySummary{},
		Watch: map[string]string{"debounce": c.Watch.Debounce.String(), "retry_max": c.Watch.RetryMax.String(),
			"grace": c.Watch.Grace.String()}, Retention: map[string]string{"archive": c.Retention.Archive.String(), "reports": c.Retention.Reports.String()}}
	for _, s := range c.Sources {
		sc := c.sourceConfig(&s)
		out.Sources = append(out.Sources, sourceSummary{Org: s.Org, Name: s.Name, Kind: s.Kind, Mode: s.Mode, Priority: sc.Priority,
			Authoritative: sc.Authoritative, Folder: s.Folder, DirectoryID: s.DirectoryID, Schedule: s.Schedule})
	}
	if len(c.SFTP.Accounts) > 0 {
		out.SFTP = &sftpSummary{Listen: c.SFTP.Listen, Accounts: []accountSummary{}}
		for _, a := range c.SFTP.Accounts {
			login := []string{}
			if n := len(a.Keys); n > 0 {
				login = append(login, fmt.Sprintf("%d key(s)", n))
			}
			if a.AuthorizedKeysFile != "" {
				login = append(login, "keys from "+a.AuthorizedKeysFile)
			}
			login = append(login, secretSource(e, "password hash", a.PasswordHashEnv, a.PasswordHashFile)...)
			out.SFTP.Accounts = append(out.SFTP.Accounts, accountSummary{Name: a.Name, Org: a.Org, Source: a.Source, Login: login,
				Networks: a.AllowNetworks})
		}
	}
	for _, o := range c.orgNames() {
		attrs := []string{}
		for _, a := range schema.AllAttrs() {
			if c.attrs(o).Has(a) {
				attrs = append(attrs, a.String())
			}
		}
		out.Orgs = append(out.Orgs, orgSummary{Name: o, Attributes: attrs})
	}
	if c.HTTP.enabled {
		out.HTTP = &httpSummary{Listen: c.HTTP.Listen, Metrics: c.HTTP.Metrics, Tokens: []tokenSummary{}}
		for _, t := range c.HTTP.Tokens {
			out.HTTP.Tokens = append(out.HTTP.Tokens, tokenSummary{Name: t.Name, Org: t.Org, Role: t.Role})
		}
	}
	for _, n := range c.Notify {
		events := n.Events
		if len(events) == 0 {
			events = notify.Kinds
		}
		out.Notify = append(out.Notify, notifySummary{Name: n.Name, Kind: n.Kind, Org: n.Org, Events: events, FailingAfter: n.FailingAfter})
	}
	return out
}
