package main

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"muster/ingest/workos"
	"muster/schema"
	"muster/store"
)

// WorkOSConf is the connection to WorkOS Directory Sync, shared by every
// source of kind workos: the API key (a secret, from the environment or a
// file), the API's address, how often events are read between pulls, when
// the nightly reconciliation runs, and the webhook endpoint.
type WorkOSConf struct {
	APIKeyEnv  string `toml:"api_key_env"`
	APIKeyFile string `toml:"api_key_file"`
	// BaseURL defaults to https://api.workos.com.
	BaseURL string `toml:"base_url"`
	// Schedule is the default pull schedule of directory sources (a cron
	// spec); default "@every 30m".
	Schedule string `toml:"schedule"`
	// EventsPoll is how often the Events API is read between pulls; "0"
	// turns polling off. Default 1m.
	EventsPoll *Duration `toml:"events_poll"`
	// Reconcile is the cron spec of the reconciliation (a full pull of every
	// directory, a rebuild of the recipients, retention pruning); "off"
	// turns it off. Default "0 3 * * *" (03:00 local time).
	Reconcile string `toml:"reconcile"`
	// UsersInterval spaces GET /directory_users requests for one directory
	// (WorkOS allows 4 a second); default 300ms, "0" no pacing.
	UsersInterval *Duration   `toml:"users_interval"`
	Webhook       WebhookConf `toml:"webhook"`
}

// WebhookConf is the endpoint WorkOS posts events to; off unless Listen is
// set.
type WebhookConf struct {
	// Listen is host:port (port 0 picks a free one, written to serve.json).
	Listen string `toml:"listen"`
	// Path defaults to /webhooks/workos.
	Path string `toml:"path"`
	// SecretEnv or SecretFile give the endpoint's secret (never inline).
	SecretEnv  string `toml:"secret_env"`
	SecretFile string `toml:"secret_file"`
	// Tolerance is how far a signature's time may be from now; default 3m.
	Tolerance Duration `toml:"tolerance"`
}

// Defaults of the WorkOS section.
const (
	defaultPullSchedule = "@every 30m"
	defaultEventsPoll   = time.Minute
	defaultReconcile    = "0 3 * * *"
	defaultWebhookPath  = "/webhooks/workos"
)

func (w *WorkOSConf) setDefaults(c *Config) {
	if w.BaseURL == "" {
		w.BaseURL = workos.DefaultBaseURL
	}
	if w.Schedule == "" {
		w.Schedule = defaultPullSchedule
	}
	if w.EventsPoll == nil {
		d := Duration(defaultEventsPoll)
		w.EventsPoll = &d
	}
	if w.Reconcile == "" {
		w.Reconcile = defaultReconcile
	}
	if w.Webhook.Path == "" {
		w.Webhook.Path = defaultWebhookPath
	}
	if w.Webhook.Tolerance == 0 {
		w.Webhook.Tolerance = Duration(workos.DefaultTolerance)
	}
	if w.APIKeyFile != "" {
		w.APIKeyFile = c.resolve(w.APIKeyFile)
	}
	if w.Webhook.SecretFile != "" {
		w.Webhook.SecretFile = c.resolve(w.Webhook.SecretFile)
	}
}

// eventsPoll is the events poll interval (0: off).
func (w *WorkOSConf) eventsPoll() time.Duration {
	if w.EventsPoll == nil {
		return defaultEventsPoll
	}
	return time.Duration(*w.EventsPoll)
}

// mapWorkOSOrgs gives a workos source without an org the organisation its
// WorkOS organization_id is configured for ([[orgs]] workos_organization_id).
func (c *Config) mapWorkOSOrgs() {
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Org != "" || s.OrganizationID == "" {
			continue
		}
		for _, o := range c.Orgs {
			if o.WorkOSOrganizationID == s.OrganizationID {
				s.Org = o.Name
			}
		}
	}
}

// cronParser reads schedules: five fields (minute hour day month weekday),
// or a descriptor such as @hourly or "@every 30m"; CRON_TZ= may lead.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (c *Config) validateWorkOS(bad func(string, string, ...any)) {
	w := &c.WorkOS
	var dirs []int
	for i, s := range c.Sources {
		if s.Kind == string(store.KindWorkOS) {
			dirs = append(dirs, i)
		}
	}
	switch {
	case w.APIKeyEnv != "" && w.APIKeyFile != "":
		bad("workos.api_key_env", "set api_key_env or api_key_file, not both")
	case w.APIKeyEnv == "" && w.APIKeyFile == "" && (len(dirs) > 0 || w.Webhook.Listen != ""):
		bad("workos.api_key_env", "required for workos sources: the environment variable (or api_key_file: the file) holding the API key")
	}
	if u, err := url.Parse(w.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("workos.base_url", "%q is not an absolute http(s) URL", w.BaseURL)
	} else if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		// Every request carries the API key as a bearer token.
		bad("workos.base_url", "%q: use https (plain http would send the API key in clear; it is only for a fake on this machine)", w.BaseURL)
	}
	if _, err := cronParser.Parse(w.Schedule); err != nil {
		bad("workos.schedule", "%q: %v", w.Schedule, err)
	}
	if w.EventsPoll != nil && (*w.EventsPoll < 0 || (*w.EventsPoll > 0 && time.Duration(*w.EventsPoll) < time.Second)) {
		bad("workos.events_poll", "%s: at least 1s, or 0 to turn polling off", time.Duration(*w.EventsPoll))
	}
	if w.Reconcile != "off" {
		if _, err := cronParser.Parse(w.Reconcile); err != nil {
			bad("workos.reconcile", "%q: %v (or \"off\")", w.Reconcile, err)
		}
	}
	if w.UsersInterval != nil && *w.UsersInterval < 0 {
		bad("workos.users_interval", "must not be negative")
	}
	wh := &w.Webhook
	if wh.Listen != "" {
		if _, _, err := net.SplitHostPort(wh.Listen); err != nil {
			bad("workos.webhook.listen", "%q is not host:port", wh.Listen)
		}
		if (wh.SecretEnv == "") == (wh.SecretFile == "") {
			bad("workos.webhook.secret_env", "set secret_env or secret_file (one of them): the endpoint's signing secret")
		}
	}
	if !strings.HasPrefix(wh.Path, "/") {
		bad("workos.webhook.path", "%q must start with /", wh.Path)
	}
	if wh.Tolerance < 0 {
		bad("workos.webhook.tolerance", "must not be negative")
	}
	orgOf := map[string]string{}
	for i, o := range c.Orgs {
		if id := o.WorkOSOrganizationID; id != "" {
			if other, dup := orgOf[id]; dup {
				bad(fmt.Sprintf("orgs[%d].workos_organization_id", i), "%q is also the WorkOS organization of %s", id, other)
			}
			orgOf[id] = o.Name
		}
	}
	for _, i := range dirs {
		s := &c.Sources[i]
		f := fmt.Sprintf("sources[%d]", i)
		if s.Schedule != "" {
			if _, err := cronParser.Parse(s.Schedule); err != nil {
				bad(f+".schedule", "%q: %v", s.Schedule, err)
			}
		}
		for j, g := range s.Groups {
			if strings.TrimSpace(g) == "" {
				bad(fmt.Sprintf("%s.groups[%d]", f, j), "empty group name")
			}
		}
		if o, ok := orgOf[s.OrganizationID]; ok && o != s.Org {
			bad(f+".org", "%q, but WorkOS organization %s is configured for organisation %s", s.Org, s.OrganizationID, o)
		}
	}
	for i, s := range c.Sources {
		if s.Kind != string(store.KindWorkOS) && s.OrganizationID != "" {
			bad(fmt.Sprintf("sources[%d].organization_id", i), "only a workos source has one")
		}
	}
}

// loopbackHost reports whether host (a name or an address) is this machine.
func loopbackHost(host string) bool {
	return host == "localhost" || isLoopback(host)
}

// expectedOrganization is the WorkOS organization a source's directory must
// belong to: the source's organization_id, else its organisation's; ""
// when neither is configured (any).
func (c *Config) expectedOrganization(s *SourceConf) string {
	if s.OrganizationID != "" {
		return s.OrganizationID
	}
	for _, o := range c.Orgs {
		if o.Name == s.Org {
			return o.WorkOSOrganizationID
		}
	}
	return ""
}

// workosClient builds the WorkOS client, reading the API key from the
// environment or its file.
func (c *Config) workosClient(e *env, onRequest func(workos.RequestInfo)) (*workos.Client, error) {
	key, err := secret(e, "workos.api_key", c.WorkOS.APIKeyEnv, c.WorkOS.APIKeyFile)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, schema.Errorf(schema.EInvalid, "workos.api_key_env: no API key configured")
	}
	cfg := workos.Config{BaseURL: c.WorkOS.BaseURL, APIKey: workos.Secret(key), OnRequest: onRequest}
	if iv := c.WorkOS.UsersInterval; iv != nil {
		cfg.DirectoryUsersInterval = time.Duration(*iv)
		if *iv == 0 {
			cfg.DirectoryUsersInterval = -1
		}
	}
	return workos.New(cfg)
}

// webhookSecret reads the webhook endpoint's secret.
func (c *Config) webhookSecret(e *env) (workos.Secret, error) {
	v, err := secret(e, "workos.webhook.secret", c.WorkOS.Webhook.SecretEnv, c.WorkOS.Webhook.SecretFile)
	return workos.Secret(v), err
}

// summary prints the WorkOS section for `config check`, without secrets.
func (w *WorkOSConf) summary(out io.Writer, e *env, c *Config) {
	n := 0
	for _, s := range c.Sources {
		if s.Kind == string(store.KindWorkOS) {
			n++
		}
	}
	if n == 0 && w.Webhook.Listen == "" {
		fmt.Fprintf(out, "workos:    off (no workos source)\n")
		return
	}
	key := strings.Join(secretSource(e, "key", w.APIKeyEnv, w.APIKeyFile), "")
	poll := "off"
	if p := w.eventsPoll(); p > 0 {
		poll = "every " + Duration(p).String()
	}
	fmt.Fprintf(out, "workos:    %d directory source(s), %s, %s; pulls %s, events %s, reconcile %s\n", n, w.BaseURL, key,
		w.Schedule, poll, w.Reconcile)
	if w.Webhook.Listen == "" {
		fmt.Fprintf(out, "webhook:   off\n")
	} else {
		fmt.Fprintf(out, "webhook:   listen %s path %s, %s\n", w.Webhook.Listen, w.Webhook.Path,
			strings.Join(secretSource(e, "secret", w.Webhook.SecretEnv, w.Webhook.SecretFile), ""))
	}
}
