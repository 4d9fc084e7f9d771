package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"muster/ingest/workos"
	"muster/schema"
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
	d, err := m.newDirectories(c)
	if err != nil {
		return err
	}
	m.Directories, m.WorkOS = d, d.Client
	m.start("workos", func() error {
		if d := m.dirs(); d != nil {
			return d.Close()
		}
		return nil
	})
	if c.WorkOS.Webhook.Listen == "" {
		return nil
	}
	w, err := openWebhook(c.WorkOS.Webhook.Listen, c.WorkOS.Webhook.Path, m.prep.webhookSecret, time.Duration(c.WorkOS.Webhook.Tolerance),
		m.webhookEvent, log.With("part", "webhook"))
	if err != nil {
		return err
	}
	m.Webhook = w
	m.start("webhook", w.Close)
	log.Info("webhook endpoint listening", "addr", w.Addr().String(), "path", c.WorkOS.Webhook.Path)
	return nil
}

// newDirectories makes and opens the scheduler of c's directory sources,
// wired to the drops' pruning and the notifications.
func (m *Main) newDirectories(c *Config) (*Directories, error) {
	d, err := newDirectories(c, m.env, m.Ingester, m.Logger.With("component", "workos"), m.OnWorkOSRequest)
	if err != nil {
		return nil, err
	}
	d.Prune = func(now time.Time) int { return m.drops().Prune(now) }
	d.OnRun, d.OnDrift = m.notifyRun, m.notifyDrift
	if err := d.Open(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// webhookEvent hands a webhook's event to the scheduler in force.
func (m *Main) webhookEvent(ctx context.Context, ev workos.Event) error {
	d := m.dirs()
	if d == nil {
		return schema.Errorf(schema.EUnavailable, "no directory source is configured now")
	}
	return d.WebhookEvent(ctx, ev)
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
