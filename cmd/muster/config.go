package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"muster/schema"
	"muster/store"
)

// Config is everything `muster serve` is told: one TOML file (see
// samples/muster.toml and the README), defaults for what it leaves out, and
// secrets from the environment or files, never from the file itself. Each
// part of the daemon has its own table, so a new part adds one field here
// and one sub-struct with its own validate.
type Config struct {
	// DataDir holds the store, the SFTP server's state and the drops'
	// archive. Relative paths in the file are relative to the file's folder.
	DataDir   string `toml:"data_dir"`
	LogFormat string `toml:"log_format"` // text (default) or json
	LogLevel  string `toml:"log_level"`  // debug, info (default), warn, error

	SFTP       SFTPConfig     `toml:"sftp"`
	Sources    []SourceConf   `toml:"sources"`
	Attributes AttributesConf `toml:"attributes"`
	Orgs       []OrgConf      `toml:"orgs"`
	Watch      WatchConf      `toml:"watch"`
	Retention  RetentionConf  `toml:"retention"`
	HTTP       HTTPConf       `toml:"http"`
	WorkOS     WorkOSConf     `toml:"workos"`
	Notify     []NotifyConf   `toml:"notify"`
	Store      StoreConf      `toml:"store"`
	SCIM       SCIMConf       `toml:"scim"`

	// path is the file the config came from ("" for the built-in one).
	path    string
	builtin bool
}

// SourceConf is one source. Guard thresholds left out take the store's
// defaults; -1 turns a check off.
type SourceConf struct {
	Name string `toml:"name"`
	Org  string `toml:"org"`
	// Kind is folder, sftp, workos or manual.
	Kind string `toml:"kind"`
	// Mode is full (default) or delta.
	Mode              string   `toml:"mode"`
	Priority          int      `toml:"priority"`
	Authoritative     *bool    `toml:"authoritative"`
	MaxRemovePercent  *float64 `toml:"max_remove_percent"`
	MaxRemoveCount    *int     `toml:"max_remove_count"`
	MaxInvalidPercent *float64 `toml:"max_invalid_percent"`
	// Delimiter is one character, or "tab"; empty detects it.
	Delimiter string `toml:"delimiter"`
	DayFirst  bool   `toml:"day_first"`
	// Columns maps a header as written to a field ("ignore" skips it).
	Columns map[string]string `toml:"columns"`
	// Folder is the watched folder of a folder source.
	Folder string `toml:"folder"`
	// Schedule is a cron spec for pulled sources (workos).
	Schedule string `toml:"schedule"`
	// DirectoryID and Groups select a WorkOS directory and, optionally,
	// some of its groups. OrganizationID is the WorkOS organization the
	// directory must belong to (and, without org, picks the organisation).
	DirectoryID    string   `toml:"directory_id"`
	Groups         []string `toml:"groups"`
	OrganizationID string   `toml:"organization_id"`
	// TokenHash is "sha256:<hex>" of a scim source's bearer token (from
	// `muster token new -scim`).
	TokenHash string `toml:"token_hash"`
}

// AttributesConf is the attribute allowlist (merge rule 6, README: Design).
type AttributesConf struct {
	Enabled []string `toml:"enabled"`
}

// OrgConf names an organisation, optionally with its own allowlist. A
// config without orgs uses schema.DefaultOrg.
type OrgConf struct {
	Name       string          `toml:"name"`
	Attributes *AttributesConf `toml:"attributes"`
	// WorkOSOrganizationID is the WorkOS organization whose directories
	// belong to this organisation.
	WorkOSOrganizationID string `toml:"workos_organization_id"`
}

// WatchConf tunes how drops are picked up and retried.
type WatchConf struct {
	// Debounce is how long a file in a watched folder must stay unchanged
	// before it is taken (SFTP uploads are taken at once). Default 1s.
	Debounce Duration `toml:"debounce"`
	// RetryMax caps the backoff between attempts of a failing drop. Default 1m.
	RetryMax Duration `toml:"retry_max"`
	// Grace is how long a stop lets the drop in progress finish before
	// abandoning it to be redone on the next start. Default 5s.
	Grace Duration `toml:"grace"`
}

// RetentionConf says how long filed drops and reports are kept; "0" keeps
// them for ever.
type RetentionConf struct {
	Archive Duration `toml:"archive"` // archive/, rejected/ (held/ waits for decisions); default 90d
	Reports Duration `toml:"reports"` // SFTP accounts' reports/; default: as archive

	// archiveSet and reportsSet: the key is in the file, so "0" is for
	// ever rather than the default.
	archiveSet, reportsSet bool
}

// Defaults of the built-in config.
const (
	defaultDataDir    = "muster-data"
	defaultSFTPListen = "127.0.0.1:2022"
	defaultRetention  = 90 * 24 * time.Hour
)

// loadConfig reads the file at path (or, when path is "", the built-in
// zero config) and validates it. dataDir, when set, overrides data_dir.
func loadConfig(e *env, path, dataDir string) (*Config, error) {
	c := &Config{}
	if path == "" {
		if dataDir == "" {
			dataDir = e.getenv("MUSTER_DATA")
		}
		if dataDir == "" {
			dataDir = defaultDataDir
		}
		c = zeroConfig(e, dataDir)
		c.builtin = true
	} else {
		b, err := os.ReadFile(path)
		if err != nil {
			code := schema.EInvalid
			if errors.Is(err, fs.ErrNotExist) {
				code = schema.ENotFound
			}
			return nil, schema.WrapError(code, err, "config")
		}
		if err := c.parse(b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.path = path
	}
	c.setDefaults(e)
	if dataDir != "" {
		// Given on the command line: relative to the working directory,
		// not to the file.
		c.DataDir = dataDir
	}
	if err := c.Validate(); err != nil {
		if path != "" {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, err
	}
	return c, nil
}

// parse decodes TOML and refuses keys it does not know (a typo must not be
// silently ignored).
func (c *Config) parse(b []byte) error {
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return schema.Errorf(schema.EInvalid, "line %d: %s", pe.Position.Line, pe.Message)
		}
		return schema.Errorf(schema.EInvalid, "%v", err)
	}
	c.HTTP.enabled = md.IsDefined("http")
	c.Retention.archiveSet = md.IsDefined("retention", "archive")
	c.Retention.reportsSet = md.IsDefined("retention", "reports")
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return schema.Errorf(schema.EInvalid, "unknown key %s", strings.Join(keys, ", "))
	}
	return nil
}

// setDefaults fills what the file left out. Relative paths are taken from
// the config file's folder, so a config works from any working directory.
func (c *Config) setDefaults(e *env) {
	switch {
	case c.DataDir != "":
		c.DataDir = c.resolve(c.DataDir)
	case e.getenv("MUSTER_DATA") != "":
		// Like -data: relative to the working directory.
		c.DataDir = e.getenv("MUSTER_DATA")
	default:
		c.DataDir = c.resolve(defaultDataDir)
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.SFTP.Listen == "" {
		c.SFTP.Listen = defaultSFTPListen
	}
	c.mapWorkOSOrgs()
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Org == "" {
			s.Org = schema.DefaultOrg
		}
		if s.Mode == "" {
			// What `recipients add|remove` record is a delta by nature.
			s.Mode = string(store.ModeFull)
			if s.Kind == string(store.KindManual) || s.Kind == string(store.KindSCIM) {
				s.Mode = string(store.ModeDelta)
			}
		}
		if s.Folder != "" {
			s.Folder = c.resolve(s.Folder)
		}
	}
	for i := range c.SFTP.Accounts {
		a := &c.SFTP.Accounts[i]
		if a.Org == "" {
			a.Org = schema.DefaultOrg
		}
		if a.AuthorizedKeysFile != "" {
			a.AuthorizedKeysFile = c.resolve(a.AuthorizedKeysFile)
		}
		if a.PasswordHashFile != "" {
			a.PasswordHashFile = c.resolve(a.PasswordHashFile)
		}
	}
	if c.Watch.Debounce == 0 {
		c.Watch.Debounce = Duration(time.Second)
	}
	if c.Watch.RetryMax == 0 {
		c.Watch.RetryMax = Duration(time.Minute)
	}
	if c.Watch.Grace == 0 {
		c.Watch.Grace = Duration(5 * time.Second)
	}
	if !c.Retention.archiveSet {
		c.Retention.Archive = Duration(defaultRetention)
	}
	if !c.Retention.reportsSet {
		c.Retention.Reports = c.Retention.Archive
	}
	c.HTTP.setDefaults()
	c.WorkOS.setDefaults(c)
	c.setNotifyDefaults()
	c.Store.setDefaults(c)
	c.SCIM.setDefaults(c)
}

func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// Validate checks the whole config; each error names the field, as
// `sources[2].priority: must be >= 0`, and all of them are reported.
func (c *Config) Validate() error {
	var errs ConfigError
	bad := errs.add
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "%q is not text or json", c.LogFormat)
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		bad("log_level", "%q is not debug, info, warn or error", c.LogLevel)
	}
	orgs := map[string]bool{}
	for i, o := range c.Orgs {
		f := fmt.Sprintf("orgs[%d]", i)
		checkName(f+".name", o.Name, orgs, bad)
		if o.Attributes != nil {
			c.validateAttrs(f+".attributes.enabled", o.Attributes.Enabled, bad)
		}
	}
	c.validateAttrs("attributes.enabled", c.Attributes.Enabled, bad)
	knownOrg := func(name string) bool { return len(c.Orgs) == 0 && name == schema.DefaultOrg || orgs[name] }
	sources := map[string]*SourceConf{}
	for i := range c.Sources {
		s := &c.Sources[i]
		f := fmt.Sprintf("sources[%d]", i)
		s.validate(f, bad)
		if !knownOrg(s.Org) {
			bad(f+".org", "%q is not one of the [[orgs]]", s.Org)
		}
		key := s.Org + "/" + s.Name
		if sources[key] != nil {
			bad(f+".name", "%q is given twice in organisation %s", s.Name, s.Org)
		}
		sources[key] = s
	}
	folders := map[string]string{}
	for i, s := range c.Sources {
		if s.Kind != string(store.KindFolder) || s.Folder == "" {
			continue
		}
		f := fmt.Sprintf("sources[%d].folder", i)
		if other, dup := folders[filepath.Clean(s.Folder)]; dup {
			bad(f, "%s is also the folder of source %s", s.Folder, other)
		}
		folders[filepath.Clean(s.Folder)] = s.Name
		c.checkFolderOutsideState(f, s.Folder, bad)
	}
	if len(c.SFTP.Accounts) > 0 {
		c.SFTP.validate(bad)
	}
	names := map[string]bool{}
	for i := range c.SFTP.Accounts {
		a := &c.SFTP.Accounts[i]
		f := fmt.Sprintf("sftp.accounts[%d]", i)
		a.validate(f, bad)
		if names[a.Name] {
			bad(f+".name", "%q is given twice (account names are unique across organisations)", a.Name)
		}
		names[a.Name] = true
		if !knownOrg(a.Org) {
			bad(f+".org", "%q is not one of the [[orgs]]", a.Org)
		}
		switch s := sources[a.Org+"/"+a.Source]; {
		case a.Source == "":
			bad(f+".source", "required: the source this account's uploads feed")
		case s == nil:
			bad(f+".source", "no source %q in organisation %s", a.Source, a.Org)
		case s.Kind != string(store.KindSFTP):
			bad(f+".source", "source %q is of kind %s, not sftp", a.Source, s.Kind)
		}
	}
	c.HTTP.validate(knownOrg, bad)
	c.validateWorkOS(bad)
	c.validateNotify(knownOrg, bad)
	c.validateStore(bad)
	c.validateSCIM(bad)
	for _, d := range []struct {
		field string
		v     Duration
	}{{"watch.debounce", c.Watch.Debounce}, {"watch.retry_max", c.Watch.RetryMax}, {"watch.grace", c.Watch.Grace},
		{"retention.archive", c.Retention.Archive}, {"retention.reports", c.Retention.Reports}} {
		if d.v < 0 {
			bad(d.field, "must not be negative")
		}
	}
	return errs.err()
}

// FieldProblem is one thing wrong with a config: the field, as
// `sources[2].priority`, and what is wrong with it.
type FieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ConfigError is every problem found in a config, one line each
// ("field: message"). It is an invalid error of the vocabulary.
type ConfigError struct {
	Problems []FieldProblem
}

func (e *ConfigError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldProblem{field, fmt.Sprintf(format, args...)})
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Field + ": " + p.Message
	}
	return strings.Join(lines, "\n")
}

// ProblemLines lists the problems one per line, for the API's error body.
func (e *ConfigError) ProblemLines() []string { return strings.Split(e.Error(), "\n") }

// Unwrap makes it an invalid error for schema.ErrorCodeOf and the API.
func (e *ConfigError) Unwrap() error { return schema.Errorf(schema.EInvalid, "%s", e.Error()) }

// err returns e, or nil when it holds no problem.
func (e *ConfigError) err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

func (c *Config) validateAttrs(field string, names []string, bad func(string, string, ...any)) {
	for j, n := range names {
		if _, ok := schema.ParseAttr(n); !ok {
			all := make([]string, 0, schema.NumAttrs)
			for _, a := range schema.AllAttrs() {
				all = append(all, a.String())
			}
			bad(fmt.Sprintf("%s[%d]", field, j), "%q is not an optional attribute (%s)", n, strings.Join(all, ", "))
		}
	}
}

var sourceKinds = []string{string(store.KindFolder), string(store.KindSFTP), string(store.KindWorkOS), string(store.KindManual),
	string(store.KindSCIM)}

func (s *SourceConf) validate(f string, bad func(string, string, ...any)) {
	if !schema.ValidName(s.Name) {
		bad(f+".name", "%q: use letters, digits, '.', '_', '-', '@' (at most 64)", s.Name)
	}
	if !slices.Contains(sourceKinds, s.Kind) {
		bad(f+".kind", "%q is not one of %s", s.Kind, strings.Join(sourceKinds, ", "))
	}
	if s.Mode != string(store.ModeFull) && s.Mode != string(store.ModeDelta) {
		bad(f+".mode", "%q is not full or delta", s.Mode)
	}
	if s.Priority < 0 {
		bad(f+".priority", "must be >= 0")
	}
	for _, p := range []struct {
		field string
		v     *float64
	}{{"max_remove_percent", s.MaxRemovePercent}, {"max_invalid_percent", s.MaxInvalidPercent}} {
		if p.v != nil && *p.v != -1 && (*p.v <= 0 || *p.v > 100) {
			bad(f+"."+p.field, "%g: must be over 0 and at most 100, or -1 to turn the check off", *p.v)
		}
	}
	if n := s.MaxRemoveCount; n != nil && *n != -1 && *n <= 0 {
		bad(f+".max_remove_count", "%d: must be a positive number, or -1 to turn the check off", *n)
	}
	if _, err := s.delimiter(); err != nil {
		bad(f+".delimiter", "%v", err)
	}
	fields := schema.FieldNames()
	for col, field := range s.Columns {
		if !slices.Contains(fields, field) && field != schema.FieldIgnore {
			bad(f+".columns", "%q = %q: not a field (%s, or ignore)", col, field, strings.Join(fields, ", "))
		}
	}
	switch s.Kind {
	case string(store.KindFolder):
		if s.Folder == "" {
			bad(f+".folder", "required for a folder source: the folder to watch")
		}
	case string(store.KindWorkOS):
		if s.DirectoryID == "" {
			bad(f+".directory_id", "required for a workos source")
		}
	}
	if s.Kind != string(store.KindFolder) && s.Folder != "" {
		bad(f+".folder", "only a folder source has a folder")
	}
	if s.Kind != string(store.KindWorkOS) && (s.Schedule != "" || s.DirectoryID != "" || len(s.Groups) > 0) {
		bad(f, "schedule, directory_id and groups are for workos sources")
	}
	if s.Kind == string(store.KindWorkOS) && s.Mode != string(store.ModeFull) {
		bad(f+".mode", "a workos source is pulled as full snapshots (events arrive as deltas on their own)")
	}
}

// delimiter reads the delimiter setting: "" (detect), one character, or
// "tab".
func (s *SourceConf) delimiter() (rune, error) {
	switch d := []rune(s.Delimiter); {
	case len(d) == 0:
		return 0, nil
	case s.Delimiter == "tab" || s.Delimiter == `\t`:
		return '\t', nil
	case len(d) == 1 && d[0] < utf8.RuneSelf && d[0] != '"' && d[0] != '\n' && d[0] != '\r':
		// The decoder splits rows on one byte.
		return d[0], nil
	}
	return 0, fmt.Errorf("%q: one ASCII character (such as \",\" or \";\"), not a quote or line end, or \"tab\"", s.Delimiter)
}

// checkFolderOutsideState refuses a watched folder that is the data
// directory or inside the folders muster files drops and uploads into: the
// watcher takes every file of its folder, so it would move muster's own
// database, or ingest filed drops and SFTP uploads a second time. A folder
// inside the data directory otherwise (the zero config's drop/) is fine.
func (c *Config) checkFolderOutsideState(field, folder string, bad func(string, string, ...any)) {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return filepath.Clean(p)
	}
	dir, data := abs(folder), abs(c.DataDir)
	if dir == data {
		bad(field, "%s is the data directory: muster would take its own files as drops", folder)
		return
	}
	for _, sub := range []string{"drops", "sftp"} {
		if rel, err := filepath.Rel(filepath.Join(data, sub), dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			bad(field, "%s is inside the data directory's %s/, which muster writes itself", folder, sub)
		}
	}
}

// checkName reports a name that breaks validName or is given twice.
func checkName(field, name string, seen map[string]bool, bad func(string, string, ...any)) {
	if !schema.ValidName(name) {
		bad(field, "%q: use letters, digits, '.', '_', '-', '@' (at most 64)", name)
	} else if seen[name] {
		bad(field, "%q is given twice", name)
	}
	seen[name] = true
}

// attrs returns the allowlist of an organisation.
func (c *Config) attrs(org string) schema.AttrSet {
	names := c.Attributes.Enabled
	for _, o := range c.Orgs {
		if o.Name == org && o.Attributes != nil {
			names = o.Attributes.Enabled
		}
	}
	var set schema.AttrSet
	for _, n := range names {
		if a, ok := schema.ParseAttr(n); ok {
			set = set.With(a)
		}
	}
	return set
}

// sourceConfig is what the pipeline is told about a source.
func (c *Config) sourceConfig(s *SourceConf) store.SourceConfig {
	sc := store.SourceConfig{Name: s.Name, Kind: store.SourceKind(s.Kind), Mode: store.Mode(s.Mode),
		Priority: s.Priority, Attrs: c.attrs(s.Org)}
	if s.Authoritative != nil {
		sc.Authoritative = *s.Authoritative
	} else {
		// Directories (WorkOS, SCIM) are authoritative by default (merge rule 5).
		sc.Authoritative = s.Kind == string(store.KindWorkOS) || s.Kind == string(store.KindSCIM)
	}
	if s.MaxRemovePercent != nil {
		sc.MaxRemovePercent = *s.MaxRemovePercent
	}
	if s.MaxRemoveCount != nil {
		sc.MaxRemoveCount = *s.MaxRemoveCount
	}
	if s.MaxInvalidPercent != nil {
		sc.MaxInvalidPercent = *s.MaxInvalidPercent
	} else if s.Kind == string(store.KindSCIM) {
		// A batch of SCIM requests is not a file: one user without an
		// address must not keep the others of the batch out.
		sc.MaxInvalidPercent = -1
	}
	return sc.WithDefaults()
}

// decodeOptions is how a source's files are read.
func (s *SourceConf) decodeOptions() schema.DecodeOptions {
	d, _ := s.delimiter()
	return schema.DecodeOptions{Delimiter: d, DayFirst: s.DayFirst, Columns: s.Columns}
}

// secret reads a secret from the environment variable env or the file
// file (whichever is set), trimmed of surrounding space. It is never logged
// or printed.
func secret(e *env, field, envName, file string) (string, error) {
	switch {
	case envName != "":
		v := strings.TrimSpace(e.getenv(envName))
		if v == "" {
			return "", fieldErrorf(field+"_env", "environment variable %s is empty or not set", envName)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fieldErrorf(field+"_file", "%v", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fieldErrorf(field+"_file", "%s is empty", file)
		}
		return v, nil
	}
	return "", nil
}
