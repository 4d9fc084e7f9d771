package main

import (
	"fmt"
	"io"
	"time"
)

// openDirectories starts the WorkOS directory sources (scheduler, events
// poll, reconciliation) and the webhook endpoint, when configured. They
// stop before the drop queues and the store (Close runs in reverse order),
// the endpoint first so no event arrives for a stopped scheduler.
func (m *Main) openDirectories() error {
	c := m.Config
	hasDirs := false
	for _, s := range c.Sources {
		hasDirs = hasDirs || s.Kind == "workos"
	}
	if !hasDirs && c.WorkOS.Webhook.Listen == "" {
		return nil
	}
	log := m.Logger.With("component", "workos")
	d, err := newDirectories(c, m.env, m.Ingester, log, m.OnWorkOSRequest)
	if err != nil {
		return err
	}
	m.Directories, m.WorkOS = d, d.Client
	d.Prune = m.Files.Prune
	d.OnRun, d.OnDrift = m.notifyRun, m.notifyDrift
	if err := d.Open(); err != nil {
		d.Close()
		return err
	}
	m.start("workos", d.Close)
	if c.WorkOS.Webhook.Listen == "" {
		return nil
	}
	w, err := openWebhook(c.WorkOS.Webhook.Listen, c.WorkOS.Webhook.Path, m.prep.webhookSecret, time.Duration(c.WorkOS.Webhook.Tolerance),
		d, log.With("part", "webhook"))
	if err != nil {
		return err
	}
	m.Webhook = w
	m.start("webhook", w.Close)
	log.Info("webhook endpoint listening", "addr", w.Addr().String(), "path", c.WorkOS.Webhook.Path)
	return nil
}

// printDirectories tells the operator which directories are pulled and
// where the webhook endpoint listens.
func (m *Main) printDirectories(w io.Writer) {
	c := m.Config
	for _, s := range c.Sources {
		if s.Kind != "workos" {
			continue
		}
		spec := s.Schedule
		if spec == "" {
			spec = c.WorkOS.Schedule
		}
		fmt.Fprintf(w, "  directory    %s -> source %s, pulled %s\n", s.DirectoryID, s.Name, spec)
	}
	if m.Webhook != nil {
		fmt.Fprintf(w, "  webhook      http://%s%s\n", m.Webhook.Addr(), c.WorkOS.Webhook.Path)
	}
}
