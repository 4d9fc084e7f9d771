package main

import (
	"fmt"
	"io"
	"net"

	"muster/ingest/scim"
	"muster/ingest/scimsource"
)

// openSCIM starts the SCIM endpoint when a scim source is configured: the
// backend that applies writes through the pipeline, the protocol server,
// and its listener. It stops before the pipeline and the store (Close runs
// in reverse order): the listener first, then the backend, which commits
// the batches in progress.
func (m *Main) openSCIM() error {
	c := m.Config
	if !c.hasSCIM() {
		return nil
	}
	refs, srcs := c.scimSources()
	log := m.Logger.With("component", "scim")
	// The daemon's directory engine (openDirectories), which a reload
	// keeps: SCIM writes always reach the engine in force.
	b := scimsource.New(m.dirs(), log)
	m.start("scim writes", b.Close)
	if err := b.SetSources(srcs); err != nil {
		return err
	}
	srv := scim.NewServer(b, refs, log)
	srv.Observe = func(i scim.RequestInfo) {
		m.Metrics.ObserveSCIM(i.Org, i.Source, i.Method, i.Resource, i.Status, i.Duration)
	}
	b.KeepStats(srv.Stats)
	l, err := scim.Listen(scim.ListenConfig{Addr: c.SCIM.Listen, CertFile: c.SCIM.TLSCertFile, KeyFile: c.SCIM.TLSKeyFile}, srv, log)
	if err != nil {
		return err
	}
	m.SCIM, m.SCIMListener, m.SCIMBackend = srv, l, b
	m.start("scim", l.Close)
	log.Info("SCIM endpoint listening", "addr", l.Addr().String(), "tls", l.TLS(), "sources", len(refs))
	return nil
}

// printSCIM tells the operator each scim source's tenant URL.
func (m *Main) printSCIM(w io.Writer) {
	if m.SCIMListener == nil {
		return
	}
	host, port, _ := net.SplitHostPort(m.SCIMListener.Addr().String())
	scheme := "http"
	if m.SCIMListener.TLS() {
		scheme = "https"
	}
	refs, _ := m.Config.scimSources()
	for _, r := range refs {
		fmt.Fprintf(w, "  scim         %s://%s/scim/v2/%s/%s -> source %s\n", scheme, net.JoinHostPort(hostForClients(host), port), r.Org, r.Name, r.Name)
	}
}

// reloadSCIM applies a new config's SCIM settings to the running endpoint:
// the sources' tokens at once (requests in progress finish with the old
// ones), the sources in the directory engine (new ones registered,
// changed settings such as priority or allowlist in force from the next
// batch, removed ones no longer served), the certificate read again. A
// changed listen address needs a restart: the error says so.
func (m *Main) reloadSCIM(c *Config) error {
	if m.SCIM == nil {
		if c.hasSCIM() {
			return fmt.Errorf("scim: a scim source was added: restart muster serve to open the SCIM listener")
		}
		return nil
	}
	if c.SCIM.Listen != m.Config.SCIM.Listen {
		return fmt.Errorf("scim.listen changed: restart muster serve to listen on %s", c.SCIM.Listen)
	}
	refs, srcs := c.scimSources()
	if err := m.SCIMBackend.SetSources(srcs); err != nil {
		return err
	}
	m.SCIM.SetSources(refs)
	if c.SCIM.TLSCertFile != "" {
		return m.SCIMListener.ReloadCertificate(c.SCIM.TLSCertFile, c.SCIM.TLSKeyFile)
	}
	return nil
}
