package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/ingest/workossync"
	"muster/schema"
	"muster/store"
)

// directories builds the directory engine over in with the WorkOS sources
// of the config registered (its producer reads the API key). Nothing runs
// until it is scheduled (openDirectories) or a source is pulled.
func (c *Config) directories(e *env, in *ingest.Ingester, log *slog.Logger, onRequest func(workos.RequestInfo)) (*directory.Engine, *workossync.Sync, error) {
	eng := directory.New(in, log)
	eng.Orgs = c.orgNames()
	client, err := c.workosClient(e, onRequest)
	if err != nil {
		return nil, nil, err
	}
	claimed := map[string]string{}
	for _, o := range c.Orgs {
		if o.WorkOSOrganizationID != "" {
			claimed[o.WorkOSOrganizationID] = o.Name
		}
	}
	var specs []workossync.SourceSpec
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Kind != string(store.KindWorkOS) {
			continue
		}
		specs = append(specs, workossync.SourceSpec{Org: s.Org, Config: c.sourceConfig(s), DirectoryID: s.DirectoryID,
			Groups: s.Groups, OrganizationID: c.expectedOrganization(s)})
	}
	sync, err := workossync.New(client, eng, log, claimed, specs)
	if err != nil {
		return nil, nil, err
	}
	return eng, sync, nil
}

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
	eng, sync, err := c.directories(m.env, m.Ingester, log, m.OnWorkOSRequest)
	if err != nil {
		return err
	}
	eng.Prune = m.Files.Prune
	m.Directories, m.WorkOSSync, m.WorkOS = eng, sync, sync.Client
	sched := &scheduler{engine: eng, sync: sync, conf: c, log: log, leader: m.isLeader}
	if err := sched.Open(); err != nil {
		sched.Close()
		return err
	}
	m.start("workos", sched.Close)
	if c.WorkOS.Webhook.Listen == "" {
		return nil
	}
	secret, err := c.webhookSecret(m.env)
	if err != nil {
		return err
	}
	w, err := openWebhook(c.WorkOS.Webhook.Listen, c.WorkOS.Webhook.Path, secret, time.Duration(c.WorkOS.Webhook.Tolerance),
		sync.WebhookEvent, log.With("part", "webhook"))
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

// orgNames lists the organisations of the config.
func (c *Config) orgNames() []string {
	var out []string
	for _, o := range c.Orgs {
		out = append(out, o.Name)
	}
	for _, s := range c.Sources {
		if !slices.Contains(out, s.Org) {
			out = append(out, s.Org)
		}
	}
	if len(out) == 0 {
		out = append(out, schema.DefaultOrg)
	}
	return out
}
