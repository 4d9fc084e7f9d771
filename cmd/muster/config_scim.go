package main

import (
	"fmt"
	"net"
	"strings"

	"muster/cmd/muster/api"
	"muster/ingest/scim"
	"muster/ingest/scimsource"
	"muster/schema"
	"muster/store"
)

// SCIMConf is the SCIM 2.0 endpoint IdPs push users and groups to. It
// runs when a source of kind scim is configured, on its own listener so it
// can face the internet while the admin API stays on loopback.
type SCIMConf struct {
	// Listen is host:port; default 127.0.0.1:9443. Port 0 picks a free one
	// (written to <data_dir>/serve.json).
	Listen string `toml:"listen"`
	// TLSCertFile and TLSKeyFile are PEM files (TLS 1.2 and later); without
	// them plain HTTP is served, on a loopback address only.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
}

const defaultSCIMListen = "127.0.0.1:9443"

func (s *SCIMConf) setDefaults(c *Config) {
	if s.Listen == "" {
		s.Listen = defaultSCIMListen
	}
	s.TLSCertFile, s.TLSKeyFile = c.resolve(s.TLSCertFile), c.resolve(s.TLSKeyFile)
}

// hasSCIM reports whether a scim source is configured.
func (c *Config) hasSCIM() bool {
	for _, s := range c.Sources {
		if s.Kind == string(store.KindSCIM) {
			return true
		}
	}
	return false
}

func (c *Config) validateSCIM(bad func(string, string, ...any)) {
	hashes := map[string]string{}
	for i, s := range c.Sources {
		f := fmt.Sprintf("sources[%d]", i)
		if s.Kind != string(store.KindSCIM) {
			if s.TokenHash != "" {
				bad(f+".token_hash", "only a scim source has a token")
			}
			continue
		}
		if s.Mode != string(store.ModeDelta) {
			bad(f+".mode", "a scim source is written request by request (delta); leave mode out")
		}
		if _, err := api.ParseTokenHash(s.TokenHash); err != nil {
			bad(f+".token_hash", "%s", schema.ErrorMessageOf(err))
			continue
		}
		h := strings.ToLower(strings.TrimSpace(s.TokenHash))
		if other, dup := hashes[h]; dup {
			bad(f+".token_hash", "the same token as source %s: each source needs its own (muster token new -scim)", other)
		}
		hashes[h] = s.Org + "/" + s.Name
		for _, t := range c.HTTP.Tokens {
			if strings.EqualFold(strings.TrimSpace(t.Hash), strings.TrimSpace(s.TokenHash)) {
				bad(f+".token_hash", "the same token as the admin API token %s: make one for the source", t.Name)
			}
		}
	}
	if !c.hasSCIM() {
		return
	}
	host, _, err := net.SplitHostPort(c.SCIM.Listen)
	if err != nil {
		bad("scim.listen", "%q is not host:port", c.SCIM.Listen)
		return
	}
	switch tls := c.SCIM.TLSCertFile != "" || c.SCIM.TLSKeyFile != ""; {
	case tls && (c.SCIM.TLSCertFile == "" || c.SCIM.TLSKeyFile == ""):
		bad("scim.tls_cert_file", "give both tls_cert_file and tls_key_file")
	case !tls && !scim.IsLoopback(host):
		bad("scim.listen", "%s is not a loopback address: plain HTTP is allowed on loopback only; set tls_cert_file and tls_key_file", c.SCIM.Listen)
	}
}

// scimSources returns the SCIM endpoint's sources (their token hashes) and
// the backend's (their pipeline settings).
func (c *Config) scimSources() ([]scim.Source, []scimsource.Source) {
	var refs []scim.Source
	var srcs []scimsource.Source
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Kind != string(store.KindSCIM) {
			continue
		}
		hash, _ := api.ParseTokenHash(s.TokenHash)
		refs = append(refs, scim.Source{Org: s.Org, Name: s.Name, TokenHash: hash})
		srcs = append(srcs, scimsource.Source{Org: s.Org, Config: c.sourceConfig(s)})
	}
	return refs, srcs
}
