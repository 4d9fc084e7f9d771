// Package workossync is the WorkOS producer of the directory engine
// (ingest/directory): it turns WorkOS Directory Sync into records and edits
// of directory sources. A full pull of a directory is a source's Puller;
// the events read from the Events API between pulls, and those WorkOS
// posts to the webhook endpoint, become batches of edits. Locking, guards
// and reconciliation are the engine's; the WorkOS client (ingest/workos)
// alone speaks HTTP.
package workossync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/schema"
	"muster/store"
)

// SourceSpec is one source of kind workos.
type SourceSpec struct {
	// Org names the source's organisation; "" is schema.DefaultOrg.
	Org    string
	Config ingest.SourceConfig
	// DirectoryID is the WorkOS directory the source follows.
	DirectoryID string
	// Groups, when not empty, limits the source to the members of these
	// groups (names or ids).
	Groups []string
	// OrganizationID is the WorkOS organization the directory must belong
	// to ("": any): the source's own, else its organisation's. A directory
	// of another is refused, its pulls and its events alike; an event that
	// names no organization has the source pulled instead, which checks.
	OrganizationID string
}

// Sync follows WorkOS directories into the engine's sources.
type Sync struct {
	Client *workos.Client
	Engine *directory.Engine
	Logger *slog.Logger
	// Claimed maps a WorkOS organization id to the muster organisation
	// configured for it: a directory of that WorkOS organization belongs to
	// that organisation and no other.
	Claimed map[string]string

	sources []*source
	byDir   map[string][]*source
	started time.Time

	eventsMu sync.Mutex // one batch of events at a time (poll or webhook)
}

// source is one WorkOS directory source.
type source struct {
	spec  SourceSpec
	ds    *directory.Source
	pull  workos.PullOptions
	delta workos.DeltaOptions
	w     *Sync
	// last is the stream of the latest pull, for its figures.
	last atomic.Pointer[pullRun]
}

type pullRun struct {
	stream   atomic.Pointer[workos.DirectoryStream]
	requests func() (requests, retries int64)
}

// Trigger names of runs, kept with drops (Options.By) and logs.
const (
	byPull    = "workos"
	byEvents  = "workos events"
	byWebhook = "workos webhook"
)

// New registers the sources with the engine and returns the producer.
// Nothing runs until a source is pulled or events are read. It may
// replace the producer of a running engine (a config reload): a source
// registered already is updated (directory.Engine.Update: its new Puller
// is this producer's, its settings change between its batches), and the
// engine's WorkOS sources not in specs are removed from it (their pulls
// stop). ctx bounds the wait for a source to be free.
func New(ctx context.Context, client *workos.Client, e *directory.Engine, log *slog.Logger, claimed map[string]string, specs []SourceSpec) (*Sync, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Sync{Client: client, Engine: e, Logger: log, Claimed: claimed, byDir: map[string][]*source{}, started: time.Now()}
	listed := map[string]bool{}
	for _, spec := range specs {
		if spec.Org == "" {
			spec.Org = schema.DefaultOrg
		}
		cfg := spec.Config
		cfg.Kind = store.KindWorkOS
		s := &source{spec: spec, w: w, pull: workos.PullOptions{Groups: spec.Groups, Attrs: cfg.Attrs},
			delta: workos.DeltaOptions{Groups: spec.Groups, Attrs: cfg.Attrs}}
		ds, err := e.Put(ctx, directory.Spec{Org: spec.Org, Config: cfg, Puller: directory.PullerFunc(s.read)})
		if err != nil {
			return nil, err
		}
		s.ds = ds
		listed[ds.Key()] = true
		w.sources = append(w.sources, s)
		w.byDir[spec.DirectoryID] = append(w.byDir[spec.DirectoryID], s)
	}
	for _, d := range e.Sources() {
		if d.Kind() == store.KindWorkOS && !listed[d.Key()] {
			e.Remove(d.Org(), d.Name())
		}
	}
	return w, nil
}

// Source returns the engine's source named, in org ("": any organisation,
// if the name is unique), if it is a WorkOS source of this producer.
func (w *Sync) Source(org, name string) (*directory.Source, error) {
	s, err := w.source(org, name)
	if err != nil {
		return nil, err
	}
	return s.ds, nil
}

func (w *Sync) source(org, name string) (*source, error) {
	var found []*source
	for _, s := range w.sources {
		if s.spec.Config.Name == name && (org == "" || s.spec.Org == org) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, schema.Errorf(schema.ENotFound, "no workos source %q in the config", name)
	}
	return nil, schema.Errorf(schema.EInvalid, "workos source %q is in several organisations: name one with -org", name)
}

// Pull runs a full pull of the named source now (directory.Source.Pull)
// and returns its report with the pull's figures.
func (w *Sync) Pull(ctx context.Context, org, name, trigger string, opt ingest.Options) (*ingest.Report, workos.PullStats, error) {
	s, err := w.source(org, name)
	if err != nil {
		return nil, workos.PullStats{}, err
	}
	rep, err := s.ds.Pull(ctx, trigger, opt)
	if errors.Is(err, directory.ErrPullRunning) {
		return nil, workos.PullStats{}, err
	}
	return rep, s.stats(), err
}

// stats returns the figures of the source's latest pull.
func (s *source) stats() workos.PullStats {
	run := s.last.Load()
	if run == nil {
		return workos.PullStats{}
	}
	var st workos.PullStats
	if stream := run.stream.Load(); stream != nil {
		st = stream.Stats()
	}
	st.Requests, st.Retries = run.requests()
	return st
}

// read is the source's Puller: it reads the directory, its groups and
// memberships, checks the directory's organization, and returns the stream
// of its users.
func (s *source) read(ctx context.Context) (*directory.Snapshot, error) {
	ctx, requests := workos.CountRequests(ctx)
	run := &pullRun{requests: requests}
	s.last.Store(run)
	describe := func() []any {
		st := s.stats()
		return []any{"requests", st.Requests, "retries", st.Retries, "users", st.Users, "groups", st.Groups, "directory", s.spec.DirectoryID}
	}
	stream, err := s.w.Client.Pull(ctx, s.spec.DirectoryID, s.pull)
	if err != nil {
		return &directory.Snapshot{Describe: describe}, err
	}
	run.stream.Store(stream)
	if err := s.w.checkDirectoryOrg(s, stream.Directory); err != nil {
		return &directory.Snapshot{Describe: describe}, err
	}
	name := "workos pull of " + stream.Directory.ID
	if n := stream.Directory.Name; n != "" {
		name = fmt.Sprintf("workos pull of %s (%s)", n, stream.Directory.ID)
	}
	return &directory.Snapshot{Name: name, Records: stream, Describe: describe}, nil
}

// CheckDirectory says whether the named source may follow directory d:
// nil, or why it is refused (checkDirectoryOrg).
func (w *Sync) CheckDirectory(org, name string, d workos.Directory) error {
	s, err := w.source(org, name)
	if err != nil {
		return err
	}
	return w.checkDirectoryOrg(s, d)
}

// checkDirectoryOrg refuses a directory that belongs to another WorkOS
// organization than the source's, or to one configured for another
// organisation: nothing crosses organisations.
func (w *Sync) checkDirectoryOrg(s *source, d workos.Directory) error {
	sp := &s.spec
	if want := sp.OrganizationID; want != "" && d.OrganizationID != want {
		return schema.Errorf(schema.EInvalid, "source %s/%s: directory %s belongs to WorkOS organization %s, not %s",
			sp.Org, sp.Config.Name, d.ID, d.OrganizationID, want)
	}
	if o, ok := w.Claimed[d.OrganizationID]; ok && d.OrganizationID != "" && o != sp.Org {
		return schema.Errorf(schema.EInvalid, "source %s/%s: directory %s belongs to WorkOS organization %s, which is configured for organisation %s",
			sp.Org, sp.Config.Name, d.ID, d.OrganizationID, o)
	}
	return nil
}
