package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"muster/cmd/muster/api"
	"muster/schema"
)

// HTTPConf is the admin HTTP server: health, metrics and the JSON API. It
// runs when the config has an [http] table (even an empty one) or serve is
// given -http.
type HTTPConf struct {
	// Listen is host:port; default 127.0.0.1:8080 (loopback only). Port 0
	// picks a free port (written to <data_dir>/serve.json).
	Listen string `toml:"listen"`
	// Metrics is "open" (default: /metrics needs no token, as usual on a
	// loopback or operations port) or "operator" (it needs a token with
	// org = "*": the metrics name every organisation and source).
	Metrics string      `toml:"metrics"`
	Tokens  []TokenConf `toml:"tokens"`
	// PublicURL is how people reach this server (behind a proxy, say):
	// notifications of held drops link to the drop's page under it.
	PublicURL string `toml:"public_url"`

	enabled bool // the table is in the file, or -http was given
}

// TokenConf is one API token. Only its hash is in the config: `muster
// token new` makes a token, prints it once and prints this table.
type TokenConf struct {
	// Name says who holds it; writes through the API are recorded in the
	// history as "api:<name>".
	Name string `toml:"name"`
	// Org is the organisation it sees (default: the default one), or "*"
	// for an operator token that may name any (/v1/orgs/{org}/...).
	Org string `toml:"org"`
	// Role is viewer (reads) or admin (also approves, rejects, rolls back,
	// triggers syncs).
	Role string `toml:"role"`
	// Hash is "sha256:<hex>" of the token.
	Hash string `toml:"hash"`
}

// Metrics settings.
const (
	metricsOpen     = "open"
	metricsOperator = "operator"
)

func (h *HTTPConf) setDefaults() {
	if h.Listen == "" {
		h.Listen = api.DefaultAddr
	}
	if h.Metrics == "" {
		h.Metrics = metricsOpen
	}
	for i := range h.Tokens {
		if h.Tokens[i].Org == "" {
			h.Tokens[i].Org = schema.DefaultOrg
		}
	}
}

func (h *HTTPConf) validate(knownOrg func(string) bool, bad func(string, string, ...any)) {
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		bad("http.listen", "%q is not host:port", h.Listen)
	}
	if h.Metrics != metricsOpen && h.Metrics != metricsOperator {
		bad("http.metrics", "%q is not open or operator", h.Metrics)
	}
	if h.PublicURL != "" {
		if err := checkURL(h.PublicURL); err != nil {
			bad("http.public_url", "%v", err)
		}
	}
	names, hashes := map[string]bool{}, map[string]bool{}
	for i, t := range h.Tokens {
		f := fmt.Sprintf("http.tokens[%d]", i)
		checkName(f+".name", t.Name, names, bad)
		if t.Org != api.AllOrgs && !knownOrg(t.Org) {
			bad(f+".org", "%q is not one of the [[orgs]] (or \"*\" for an operator token)", t.Org)
		}
		if t.Role != string(api.RoleViewer) && t.Role != string(api.RoleAdmin) {
			bad(f+".role", "%q is not viewer or admin", t.Role)
		}
		if _, err := api.ParseTokenHash(t.Hash); err != nil {
			bad(f+".hash", "%s", schema.ErrorMessageOf(err))
		} else if strings.EqualFold(strings.TrimSpace(t.Hash), demoTokenHash) && !loopbackListen(h.Listen) {
			bad(f+".hash", "this is the README's demo token, whose secret is published: it only works with http.listen on a loopback address; make your own with `muster token new`")
		} else if hashes[strings.ToLower(strings.TrimSpace(t.Hash))] {
			bad(f+".hash", "the same token is given twice")
		}
		hashes[strings.ToLower(strings.TrimSpace(t.Hash))] = true
	}
}

// demoTokenHash is the hash of the README's demo token
// (mst_readme-demo-token-loopback-only, in samples/api.toml).
const demoTokenHash = "sha256:26f210b29955fbd9f6ffde5d1f0f7b24260ff6e4057f4130c972fbb0ef5a2ed3"

// loopbackListen reports whether a listen address is this machine only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

// tokens returns the API's tokens (the config is validated).
func (h *HTTPConf) tokens() []api.Token {
	out := make([]api.Token, 0, len(h.Tokens))
	for _, t := range h.Tokens {
		hash, _ := api.ParseTokenHash(t.Hash)
		out = append(out, api.Token{Name: t.Name, Org: t.Org, Role: api.Role(t.Role), Hash: hash})
	}
	return out
}

// summary prints the [http] part of `muster config check`.
func (h *HTTPConf) summary(w io.Writer) {
	if !h.enabled {
		fmt.Fprintf(w, "http:      off (no [http] table)\n")
		return
	}
	fmt.Fprintf(w, "http:      listen %s, metrics %s, %d token(s)\n", h.Listen, h.Metrics, len(h.Tokens))
	for _, t := range h.Tokens {
		org := "org " + t.Org
		if t.Org == api.AllOrgs {
			org = "every org"
		}
		fmt.Fprintf(w, "  token %s: %s, %s\n", t.Name, t.Role, org)
	}
}
