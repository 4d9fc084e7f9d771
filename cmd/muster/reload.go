package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"muster/cmd/muster/api"
	"muster/cmd/muster/notify"
	"muster/ingest"
	"muster/schema"
	"muster/sftpserver"
)

// Reload re-reads the config file (SIGHUP, POST /v1/reload) and applies
// what changed while everything runs: SFTP accounts (keys, passwords,
// networks, limits; sessions of removed accounts end), API tokens,
// sources' settings and folders, the directories' schedules, notification
// targets, the log level. A config with problems is refused whole, with
// every problem, and the running one kept. What only a restart can change
// (listen addresses, the data directory, the log format) is read, logged
// as needing a restart, and not applied. The log lists every change.
func (m *Main) Reload(ctx context.Context, by string) (api.ReloadResult, error) {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	log := m.Logger.With("component", "reload", "by", by)
	old := m.conf()
	var res api.ReloadResult
	if old.zero() {
		err := schema.Errorf(schema.EInvalid, "muster runs on its built-in config: there is no file to reload (start it with -config FILE)")
		log.Warn("reload refused", "err", err)
		return res, err
	}
	c, prep, err := m.readConfig(old.path)
	if err != nil {
		log.Error("reload refused: the config has problems; the running one is kept", "config", old.path, "err", err)
		return res, err
	}
	plan := planReload(old, c, m.prep, prep)
	res.Changed, res.Restart = plan.lines(false), plan.lines(true)
	if len(res.Changed)+len(res.Restart) == 0 {
		log.Info("reload: nothing changed", "config", old.path)
		return res, nil
	}
	if err := m.apply(plan, c, prep); err != nil {
		log.Error("reload applied in part", "config", old.path, "err", err, "changed", strings.Join(res.Changed, "; "))
		return res, fmt.Errorf("reload: %w", err)
	}
	for _, l := range res.Changed {
		log.Info("reload: "+l, "config", old.path)
	}
	for _, l := range res.Restart {
		log.Warn("reload: "+l+": needs a restart, not applied", "config", old.path)
	}
	return res, nil
}

// readConfig loads and prepares the file as serve's start does.
func (m *Main) readConfig(path string) (*Config, *prepared, error) {
	c, err := loadConfig(m.env, path, m.dataFlag)
	if err != nil {
		return nil, nil, err
	}
	m.flags(c)
	prep, err := c.prepare(m.env)
	if err != nil {
		return nil, nil, configFileError(path, err)
	}
	return c, prep, nil
}

// change is one difference between the running config and the new one.
type change struct {
	what    string
	restart bool // applied only by a restart
}

// reloadPlan is what a reload changes, and which parts it touches.
type reloadPlan struct {
	changes                      []change
	accounts, files, directories bool
	api, notify, level, scim     bool
}

func (p *reloadPlan) add(restart bool, format string, args ...any) {
	p.changes = append(p.changes, change{fmt.Sprintf(format, args...), restart})
}

func (p *reloadPlan) lines(restart bool) []string {
	var out []string
	for _, c := range p.changes {
		if c.restart == restart {
			out = append(out, c.what)
		}
	}
	return out
}

// planReload compares the running config (and what it read: secrets, key
// files) with the new one.
func planReload(old, c *Config, oldPrep, prep *prepared) *reloadPlan {
	p := &reloadPlan{}
	if old.DataDir != c.DataDir {
		p.add(true, "data_dir %s -> %s", old.DataDir, c.DataDir)
	}
	if old.LogFormat != c.LogFormat {
		p.add(true, "log_format %s -> %s", old.LogFormat, c.LogFormat)
	}
	if old.LogLevel != c.LogLevel {
		p.add(false, "log_level %s -> %s", old.LogLevel, c.LogLevel)
		p.level = true
	}
	// SFTP: the server's address is bound at start; its accounts change live.
	if old.SFTP.Listen != c.SFTP.Listen && len(old.SFTP.Accounts) > 0 {
		p.add(true, "sftp.listen %s -> %s", old.SFTP.Listen, c.SFTP.Listen)
	}
	if old.SFTP.MinFreeSpace != c.SFTP.MinFreeSpace {
		p.add(true, "sftp.min_free_space changed")
	}
	if old.SFTP.Settle != c.SFTP.Settle {
		p.add(true, "sftp.settle changed")
	}
	if !reflect.DeepEqual(old.SFTP.limits(), c.SFTP.limits()) && len(old.SFTP.Accounts) > 0 {
		// Limits and bans' settings: live (a lowered limit turns away new
		// connections; it closes none).
		p.add(false, "[sftp] limits: %s changed", strings.Join(changedKeys(old.SFTP.limitsConf(), c.SFTP.limitsConf()), ", "))
		p.accounts = true
	}
	switch {
	case len(old.SFTP.Accounts) == 0 && len(c.SFTP.Accounts) > 0:
		p.add(true, "sftp: accounts added where no SFTP server runs (it starts with the first account)")
	case len(old.SFTP.Accounts) > 0:
		if d := diffNamed("sftp account", accountsByName(oldPrep.accounts), accountsByName(prep.accounts), accountFields); len(d) > 0 {
			p.accounts, p.files = true, true // an account's inbox is a folder of its source
			for _, l := range d {
				p.add(false, "%s", l)
			}
		}
	}
	// Sources, organisations and what decides how drops are read and kept.
	srcs := diffNamed("source", sourcesByKey(old.Sources), sourcesByKey(c.Sources), nil)
	for _, l := range srcs {
		p.add(false, "%s", l)
	}
	if len(srcs) > 0 {
		p.files, p.api = true, true
		if kindChanged("workos", old.Sources, c.Sources) {
			p.directories = true
		}
		if kindChanged("scim", old.Sources, c.Sources) {
			// The engine's SCIM sources change in place; the scheduler
			// restarts (the reconciliation runs while any directory exists).
			p.scim, p.directories = true, true
			if !old.hasSCIM() {
				p.add(true, "scim: a source added where no SCIM endpoint runs (it starts with the first scim source)")
			}
		}
	}
	if old.SCIM.Listen != c.SCIM.Listen && old.hasSCIM() {
		p.add(true, "scim.listen %s -> %s", old.SCIM.Listen, c.SCIM.Listen)
	} else if old.SCIM.TLSCertFile != c.SCIM.TLSCertFile || old.SCIM.TLSKeyFile != c.SCIM.TLSKeyFile || oldPrep.scimCert != prep.scimCert {
		p.add(false, "scim certificate changed")
		p.scim = true
	}
	for _, sec := range []struct {
		name     string
		old, new any
	}{{"attributes", old.Attributes, c.Attributes}, {"orgs", old.Orgs, c.Orgs}, {"watch", old.Watch, c.Watch},
		{"retention", old.Retention, c.Retention}} {
		if !reflect.DeepEqual(sec.old, sec.new) {
			p.add(false, "[%s] changed", sec.name)
			p.files, p.api = true, true
			if sec.name == "attributes" || sec.name == "orgs" {
				// Directory sources' settings (attributes, organisations).
				p.directories, p.scim = true, p.scim || old.hasSCIM()
			}
		}
	}
	// WorkOS: the scheduler restarts with its new settings; the webhook
	// endpoint is bound at start.
	if workosChanged(old, c, oldPrep, prep) {
		p.add(false, "[workos] changed (its scheduler restarts, pulling each directory once)")
		p.directories = true
	}
	if !reflect.DeepEqual(old.WorkOS.Webhook, c.WorkOS.Webhook) || oldPrep.webhookSecret != prep.webhookSecret {
		p.add(true, "[workos.webhook] changed")
	}
	// HTTP: the listener and /metrics' guard are set at start; tokens live.
	if old.HTTP.enabled != c.HTTP.enabled || old.HTTP.Listen != c.HTTP.Listen {
		p.add(true, "http.listen changed (or [http] added or removed)")
	}
	if old.HTTP.Metrics != c.HTTP.Metrics {
		p.add(true, "http.metrics %s -> %s", old.HTTP.Metrics, c.HTTP.Metrics)
	}
	if old.HTTP.PublicURL != c.HTTP.PublicURL {
		p.add(false, "http.public_url changed")
	}
	if d := diffNamed("http token", tokensByName(old.HTTP.Tokens), tokensByName(c.HTTP.Tokens), nil); len(d) > 0 {
		p.api = true
		for _, l := range d {
			p.add(false, "%s", l)
		}
	}
	if d := diffNamed("notify target", notifyByName(oldPrep, old), notifyByName(prep, c), nil); len(d) > 0 {
		p.notify = true
		for _, l := range d {
			p.add(false, "%s", l)
		}
	}
	return p
}

// workosChanged reports whether [workos] (its webhook aside) or the API
// key changed: every directory is pulled once with the new settings.
func workosChanged(old, c *Config, oldPrep, prep *prepared) bool {
	ow, nw := old.WorkOS, c.WorkOS
	ow.Webhook, nw.Webhook = WebhookConf{}, WebhookConf{}
	return !reflect.DeepEqual(ow, nw) || oldPrep.workosKey != prep.workosKey
}

// apply makes the planned changes, parts in dependency order: SFTP
// accounts (whose homes the drop queues watch), the drop queues, the
// directories, then the API and the notifications.
func (m *Main) apply(p *reloadPlan, c *Config, prep *prepared) error {
	var errs []error
	if p.level {
		m.level.Set(logLevels[c.LogLevel])
	}
	if p.accounts && m.SFTP != nil {
		// Accounts, keys, passwords and limits at once: sessions of a removed
		// account, key or password, or from an address no longer allowed, end.
		if err := m.SFTP.Reload(prep.accounts, c.SFTP.limits()); err != nil {
			errs = append(errs, fmt.Errorf("sftp accounts: %w", err))
		}
	}
	if p.files {
		if err := m.restartFiles(c); err != nil {
			errs = append(errs, fmt.Errorf("drop queues: %w", err))
		}
	}
	if p.directories {
		if err := m.restartDirectories(m.conf(), c, workosChanged(m.conf(), c, m.prep, prep)); err != nil {
			errs = append(errs, fmt.Errorf("directories: %w", err))
		}
	}
	if p.scim {
		// Sources and their tokens at once (a removed token is refused from
		// the next request on), the certificate read again. It compares
		// with the running config, so before the swap.
		if err := m.reloadSCIM(c); err != nil {
			errs = append(errs, err)
		}
	}
	m.mu.Lock()
	m.Config, m.prep = c, prep
	m.mu.Unlock()
	// Sources and organisations new in the config exist from now on, as
	// at start (written only when missing or changed).
	if err := m.Ingester.EnsureSources(context.Background(), c.orgNames(), c.configuredSources()); err != nil {
		m.Logger.Warn("could not record the configured sources; each is recorded with its first drop", "error", err)
	}
	if m.HTTP != nil {
		if err := m.HTTP.Reload(m.apiLive(c)); err != nil {
			errs = append(errs, fmt.Errorf("api: %w", err))
		}
	}
	if m.Console != nil && (p.files || p.directories) {
		m.Console.SetSources(consoleSources(c), m.syncFunc())
	}
	if p.notify && m.Notifier != nil {
		m.Notifier.SetTargets(prep.notify)
	}

	return errors.Join(errs...)
}

// restartFiles replaces the drop queues with c's: the old ones finish (or
// set aside, for the new ones to take) the drop in progress, as at a stop;
// files found meanwhile wait in their folder or spool and are taken by the
// new queues' start scan, uploads handed over meanwhile wait in m.swap.
// The new queues are published only once open (their sources are read by
// the hand-over, the console's upload and Observe). If they cannot open,
// the running config's queues are opened again, so that drops keep
// flowing, and the error says so.
func (m *Main) restartFiles(c *Config) error {
	files, err := m.newFiles(c)
	if err != nil {
		return err
	}
	m.swap.begin()
	old := m.drops()
	err = old.Close()
	old.PassOn(files)
	if openErr := files.Open(); openErr != nil {
		var againErr error
		files, againErr = m.reopenFiles(files)
		err = errors.Join(err, openErr, againErr)
	}
	m.mu.Lock()
	m.Files = files
	m.mu.Unlock()
	m.swap.end(files)
	return err
}

// reopenFiles opens the running config's drop queues again when failed,
// which were to replace them, could not open; it returns them, or failed
// if they cannot open either, and says which.
func (m *Main) reopenFiles(failed *ingest.Files) (*ingest.Files, error) {
	again, err := m.newFiles(m.conf())
	if err == nil {
		failed.PassOn(again)
		err = again.Open()
	}
	if err != nil {
		return failed, fmt.Errorf("the previous drop queues: %w", err)
	}
	return again, errors.New("the previous sources' drop queues run again")
}

// diffNamed compares two sets of named things and says what was added,
// removed, and which fields changed; fields, if set, names the fields of
// a changed item (else they are compared by their TOML keys).
func diffNamed[T any](what string, old, new map[string]T, fields func(a, b T) []string) []string {
	var out []string
	for _, name := range sortedKeys(new) {
		o, ok := old[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s %s added", what, name))
		case !reflect.DeepEqual(o, new[name]):
			var changed []string
			if fields != nil {
				changed = fields(o, new[name])
			} else {
				changed = changedKeys(o, new[name])
			}
			out = append(out, fmt.Sprintf("%s %s: %s changed", what, name, strings.Join(changed, ", ")))
		}
	}
	for _, name := range sortedKeys(old) {
		if _, ok := new[name]; !ok {
			out = append(out, fmt.Sprintf("%s %s removed", what, name))
		}
	}
	return out
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// changedKeys names the fields of two structs that differ, by their TOML
// (or JSON) key.
func changedKeys(a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Kind() != reflect.Struct {
		return []string{"value"}
	}
	var out []string
	for i := 0; i < va.NumField(); i++ {
		f := va.Type().Field(i)
		if !f.IsExported() || reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		out = append(out, "settings")
	}
	return out
}

func accountsByName(list []sftpserver.Account) map[string]sftpserver.Account {
	out := map[string]sftpserver.Account{}
	for _, a := range list {
		out[a.Name] = a
	}
	return out
}

// accountFields names what changed in an account, never the value (a
// password hash is a secret).
func accountFields(a, b sftpserver.Account) []string {
	var out []string
	for _, f := range []struct {
		name string
		same bool
	}{{"org", a.Org == b.Org}, {"source", a.Source == b.Source}, {"keys", slices.Equal(a.AuthorizedKeys, b.AuthorizedKeys)},
		{"password", a.PasswordHash == b.PasswordHash}, {"allow_networks", slices.Equal(a.AllowedNetworks, b.AllowedNetworks)},
		{"max_file_size", a.MaxFileSize == b.MaxFileSize}, {"read_back", a.ReadBack == b.ReadBack}} {
		if !f.same {
			out = append(out, f.name)
		}
	}
	if len(out) == 0 {
		out = append(out, "settings")
	}
	return out
}

func sourcesByKey(list []SourceConf) map[string]SourceConf {
	out := map[string]SourceConf{}
	for _, s := range list {
		out[s.Org+"/"+s.Name] = s
	}
	return out
}

// kindChanged reports whether the sources of a kind differ.
func kindChanged(kind string, old, new []SourceConf) bool {
	pick := func(list []SourceConf) map[string]SourceConf {
		out := map[string]SourceConf{}
		for _, s := range list {
			if s.Kind == kind {
				out[s.Org+"/"+s.Name] = s
			}
		}
		return out
	}
	return !reflect.DeepEqual(pick(old), pick(new))
}

func tokensByName(list []TokenConf) map[string]TokenConf {
	out := map[string]TokenConf{}
	for _, t := range list {
		out[t.Name] = t
	}
	return out
}

// notifyByName is each target's config with a digest of its secrets, so a
// changed secret file shows as a change without the secret.
func notifyByName(p *prepared, c *Config) map[string]NotifyConf {
	out := map[string]NotifyConf{}
	for i, n := range c.Notify {
		if i < len(p.notify) {
			t := p.notify[i]
			sum := sha256.Sum256([]byte(t.URL + "\x00" + t.Secret + "\x00" + passwordOf(t.Email)))
			n.URL = fmt.Sprintf("%s#%x", n.URL, sum[:8])
		}
		out[n.Name] = n
	}
	return out
}

func passwordOf(e *notify.Email) string {
	if e == nil {
		return ""
	}
	return e.Password
}
