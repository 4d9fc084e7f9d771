package main

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"

	"muster/cmd/muster/api"
	"muster/cmd/muster/notify"
	"muster/schema"
)

// NotifyConf is one [[notify]] target: where events go (a signed JSON
// webhook, a Slack incoming webhook, or mail over SMTP) and which ones.
// Secrets (a Slack URL, a signing secret, an SMTP password) come from the
// environment or a file, never from the config.
type NotifyConf struct {
	Name string `toml:"name"`
	// Kind is webhook, slack or email.
	Kind string `toml:"kind"`
	// Org is the organisation whose events it gets (default: the default
	// one), or "*" for every organisation's and the server's own.
	Org string `toml:"org"`
	// Events are the kinds it wants (default: all of notify.Kinds).
	Events []string `toml:"events"`
	// FailingAfter: a source is failing after this many failed runs in a
	// row (default 3).
	FailingAfter int `toml:"failing_after"`

	// URL is a webhook's address; a Slack URL is a secret and comes from
	// URLEnv or URLFile.
	URL     string `toml:"url"`
	URLEnv  string `toml:"url_env"`
	URLFile string `toml:"url_file"`
	// SecretEnv or SecretFile give a webhook's signing secret (optional).
	SecretEnv  string `toml:"secret_env"`
	SecretFile string `toml:"secret_file"`

	// SMTP is the mail server's host:port; TLS is starttls (default), tls
	// (implicit, port 465) or none (only for a relay on this machine).
	SMTP   string   `toml:"smtp"`
	TLS    string   `toml:"tls"`
	CAFile string   `toml:"ca_file"`
	From   string   `toml:"from"`
	To     []string `toml:"to"`
	// Username logs in (with PasswordEnv or PasswordFile).
	Username     string `toml:"username"`
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"`
}

var notifyKinds = []string{notify.KindWebhook, notify.KindSlack, notify.KindEmail}

func (c *Config) setNotifyDefaults() {
	for i := range c.Notify {
		n := &c.Notify[i]
		if n.Org == "" {
			n.Org = schema.DefaultOrg
		}
		if n.FailingAfter == 0 {
			n.FailingAfter = 3
		}
		if n.Kind == notify.KindEmail && n.TLS == "" {
			n.TLS = notify.TLSStartTLS
		}
		for _, p := range []*string{&n.URLFile, &n.SecretFile, &n.CAFile, &n.PasswordFile} {
			if *p != "" {
				*p = c.resolve(*p)
			}
		}
	}
}

func (c *Config) validateNotify(knownOrg func(string) bool, bad func(string, string, ...any)) {
	names := map[string]bool{}
	for i, n := range c.Notify {
		f := fmt.Sprintf("notify[%d]", i)
		checkName(f+".name", n.Name, names, bad)
		if !slices.Contains(notifyKinds, n.Kind) {
			bad(f+".kind", "%q is not one of %s", n.Kind, strings.Join(notifyKinds, ", "))
		}
		if n.Org != api.AllOrgs && !knownOrg(n.Org) {
			bad(f+".org", "%q is not one of the [[orgs]] (or \"*\" for every organisation)", n.Org)
		}
		for j, k := range n.Events {
			if !slices.Contains(notify.Kinds, k) {
				bad(fmt.Sprintf("%s.events[%d]", f, j), "%q is not one of %s", k, strings.Join(notify.Kinds, ", "))
			}
		}
		if n.FailingAfter < 1 {
			bad(f+".failing_after", "%d: must be at least 1", n.FailingAfter)
		}
		switch n.Kind {
		case notify.KindWebhook, notify.KindSlack:
			n.validateURL(f, bad)
		case notify.KindEmail:
			n.validateEmail(f, bad)
		}
	}
}

func (n *NotifyConf) validateURL(f string, bad func(string, string, ...any)) {
	set := 0
	for _, v := range []string{n.URL, n.URLEnv, n.URLFile} {
		if v != "" {
			set++
		}
	}
	switch {
	case n.Kind == notify.KindSlack && n.URL != "":
		bad(f+".url", "a Slack webhook URL is a secret: name it with url_env or url_file")
	case set != 1:
		bad(f+".url", "set one of url, url_env or url_file: where to post")
	case n.URL != "":
		if err := checkURL(n.URL); err != nil {
			bad(f+".url", "%v", err)
		}
	}
	if n.SecretEnv != "" && n.SecretFile != "" {
		bad(f+".secret_env", "set secret_env or secret_file, not both")
	}
	if n.Kind == notify.KindSlack && (n.SecretEnv != "" || n.SecretFile != "") {
		bad(f+".secret_env", "Slack does not check signatures: only a webhook target has a secret")
	}
	if n.SMTP != "" || len(n.To) > 0 || n.From != "" {
		bad(f, "smtp, from and to are for an email target")
	}
}

func (n *NotifyConf) validateEmail(f string, bad func(string, string, ...any)) {
	host, _, err := net.SplitHostPort(n.SMTP)
	if err != nil {
		bad(f+".smtp", "%q is not host:port of the mail server", n.SMTP)
	}
	switch n.TLS {
	case notify.TLSStartTLS, notify.TLSImplicit:
	case notify.TLSNone:
		if err == nil && !loopbackHost(host) {
			bad(f+".tls", "\"none\" sends mail (and a password) in clear: only for a relay on this machine")
		}
	default:
		bad(f+".tls", "%q is not starttls, tls or none", n.TLS)
	}
	if _, err := mail.ParseAddress(n.From); err != nil {
		bad(f+".from", "%q is not an email address", n.From)
	}
	if len(n.To) == 0 {
		bad(f+".to", "required: who gets the mail")
	}
	for j, to := range n.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad(fmt.Sprintf("%s.to[%d]", f, j), "%q is not an email address", to)
		}
	}
	if n.Username != "" && n.PasswordEnv == "" && n.PasswordFile == "" {
		bad(f+".password_env", "a username needs password_env or password_file")
	}
	if n.PasswordEnv != "" && n.PasswordFile != "" {
		bad(f+".password_env", "set password_env or password_file, not both")
	}
	if n.URL != "" || n.URLEnv != "" || n.URLFile != "" || n.SecretEnv != "" || n.SecretFile != "" {
		bad(f, "url and secret are for webhook and slack targets")
	}
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// prepareNotify reads the targets' secrets and CA files.
func (c *Config) prepareNotify(e *env, errs *ConfigError) []notify.Target {
	var out []notify.Target
	for i, n := range c.Notify {
		f := fmt.Sprintf("notify[%d]", i)
		t := notify.Target{Name: n.Name, Kind: n.Kind, Org: n.Org, Events: n.Events, FailingAfter: n.FailingAfter, URL: n.URL}
		if n.URLEnv != "" || n.URLFile != "" {
			u, err := secret(e, f+".url", n.URLEnv, n.URLFile)
			if err != nil {
				errs.addErr(f+".url_env", err)
			} else if err := checkURL(u); err != nil {
				// Not the value: it is a secret.
				errs.add(secretField(f+".url", n.URLEnv), "is not an absolute http(s) URL")
			}
			t.URL = u
		}
		s, err := secret(e, f+".secret", n.SecretEnv, n.SecretFile)
		if err != nil {
			errs.addErr(f+".secret_env", err)
		}
		t.Secret = s
		if n.Kind == notify.KindEmail {
			m := &notify.Email{Addr: n.SMTP, From: n.From, To: n.To, Username: n.Username, TLS: n.TLS}
			if m.Password, err = secret(e, f+".password", n.PasswordEnv, n.PasswordFile); err != nil {
				errs.addErr(f+".password_env", err)
			}
			if n.CAFile != "" {
				b, err := os.ReadFile(n.CAFile)
				m.RootCAs = x509.NewCertPool()
				switch {
				case err != nil:
					errs.add(f+".ca_file", "%v", err)
				case !m.RootCAs.AppendCertsFromPEM(b):
					errs.add(f+".ca_file", "%s holds no PEM certificate", n.CAFile)
				}
			}
			t.Email = m
		}
		out = append(out, t)
	}
	return out
}

// secretField names the _env or _file key of a secret.
func secretField(base, envName string) string {
	if envName != "" {
		return base + "_env"
	}
	return base + "_file"
}

// summaryNotify prints the [[notify]] part of `muster config check`.
func (c *Config) summaryNotify(w io.Writer, e *env) {
	if len(c.Notify) == 0 {
		fmt.Fprintf(w, "notify:    off (no [[notify]] target)\n")
		return
	}
	for _, n := range c.Notify {
		events := "every event"
		if len(n.Events) > 0 {
			events = strings.Join(n.Events, ", ")
		}
		org := "org " + n.Org
		if n.Org == api.AllOrgs {
			org = "every org"
		}
		where := n.URL
		switch {
		case n.Kind == notify.KindEmail:
			where = fmt.Sprintf("%s (%s) to %s", n.SMTP, n.TLS, strings.Join(n.To, ", "))
		case where == "":
			where = strings.Join(secretSource(e, "URL", n.URLEnv, n.URLFile), "")
		}
		fmt.Fprintf(w, "notify %s: %s %s, %s: %s; failing after %d\n", n.Name, n.Kind, where, org, events, n.FailingAfter)
	}
}
