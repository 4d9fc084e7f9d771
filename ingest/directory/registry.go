package directory

import (
	"context"
	"slices"

	"muster/ingest"
	"muster/schema"
)

// Add registers a directory source. Nothing runs until it is pulled or a
// batch is applied.
func (e *Engine) Add(spec Spec) (*Source, error) {
	spec, err := spec.normal()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.find(spec.Org, spec.Config.Name) != nil {
		return nil, schema.Errorf(schema.EConflict, "directory source %s/%s is registered twice", spec.Org, spec.Config.Name)
	}
	s := &Source{e: e, org: spec.Org, name: spec.Config.Name, kind: spec.Config.Kind, pulled: spec.Puller != nil,
		lock: make(chan struct{}, 1), status: RunStatus{Org: spec.Org, Source: spec.Config.Name}}
	s.ctx, s.cancel = context.WithCancel(e.ctx)
	s.cfg.Store(&spec.Config)
	if spec.Puller != nil {
		s.puller.Store(&pullerRef{spec.Puller})
	}
	e.sources = append(e.sources, s)
	return s, nil
}

// normal returns the spec with its defaults, or why it is invalid.
func (spec Spec) normal() (Spec, error) {
	if spec.Org == "" {
		spec.Org = schema.DefaultOrg
	}
	spec.Config = spec.Config.WithDefaults()
	return spec, spec.Config.Validate()
}

// find returns the source registered as org/name, nil if none; e.mu held.
func (e *Engine) find(org, name string) *Source {
	for _, s := range e.sources {
		if s.org == org && s.name == name {
			return s
		}
	}
	return nil
}

// Update changes a registered source's settings (priority, authoritative,
// attributes, guard thresholds...) and its Puller, for a config reload.
// The source's kind, and whether it is pulled, cannot change (remove it
// and add it again). What runs is never torn between two settings:
//
//   - a new Puller is used from the next pull on;
//   - changed settings wait for the source to be free (a batch of edits
//     in progress commits with the old ones; a pull in progress is
//     stopped, nothing of it applied, and started again once they are in
//     force, as ctx allows), are recorded in the store while the source is
//     held (the recipients derived again when their merge depends on
//     them), and every later pull and batch reads them.
//
// Unchanged settings take no lease. ENotFound if the source is not
// registered; EUnavailable when ctx ends first (nothing changed then).
func (e *Engine) Update(ctx context.Context, spec Spec) (*Source, error) {
	spec, err := spec.normal()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	s := e.find(spec.Org, spec.Config.Name)
	e.mu.Unlock()
	if s == nil {
		return nil, schema.Errorf(schema.ENotFound, "no directory source %s/%s", spec.Org, spec.Config.Name)
	}
	if spec.Config.Kind != s.kind || (spec.Puller != nil) != s.pulled {
		return nil, schema.Errorf(schema.EInvalid, "directory source %s changes its kind (%s, pulled %t -> %s, pulled %t): remove it and add it again",
			s.Key(), s.kind, s.pulled, spec.Config.Kind, spec.Puller != nil)
	}
	if spec.Puller != nil {
		s.puller.Store(&pullerRef{spec.Puller})
	}
	if spec.Config == s.Config() {
		return s, nil
	}
	s.mu.Lock()
	stop := s.stopPull
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	l, err := s.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	old := s.Config()
	s.cfg.Store(&spec.Config)
	_, serr := e.Ingester.EnsureSource(ctx, s.org, spec.Config)
	l.Release()
	e.Logger.Info(string(s.kind)+" source settings changed", "source", s.Key(), "priority", spec.Config.Priority,
		"authoritative", spec.Config.Authoritative, "was_priority", old.Priority, "was_authoritative", old.Authoritative)
	if stop != nil {
		e.PullAsync(s, "settings changed", ingest.Options{})
	}
	if serr != nil {
		// In force all the same: the source's next drop records them.
		return s, schema.WrapError(schema.EUnavailable, serr, "source %s: the new settings are in force but not yet recorded", s.Key())
	}
	return s, nil
}

// Put registers the source, or updates it if it is registered (Update).
func (e *Engine) Put(ctx context.Context, spec Spec) (*Source, error) {
	s, err := e.Update(ctx, spec)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return e.Add(spec)
	}
	return s, err
}

// Remove unregisters the source (removed from the config): a pull of it
// in progress stops (nothing of it applied), no pull or batch of it starts
// any more (Acquire refuses it), and Reconcile and Settle leave it. A
// batch already holding it commits. What the store holds of it is kept
// (removing a source's people is `muster sources remove`, held over its
// guard). It reports whether the source was registered.
func (e *Engine) Remove(org, name string) bool {
	if org == "" {
		org = schema.DefaultOrg
	}
	e.mu.Lock()
	s := e.find(org, name)
	if s != nil {
		e.sources = slices.DeleteFunc(e.sources, func(x *Source) bool { return x == s })
	}
	e.mu.Unlock()
	if s == nil {
		return false
	}
	s.cancel()
	e.Logger.Info(string(s.kind)+" source removed from the directory engine", "source", s.Key())
	return true
}

// Source returns the registered source named, in org ("": any
// organisation, if the name is unique): ENotFound if there is none.
func (e *Engine) Source(org, name string) (*Source, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var found []*Source
	for _, s := range e.sources {
		if s.name == name && (org == "" || s.org == org) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, schema.Errorf(schema.ENotFound, "no directory source %q", name)
	}
	return nil, schema.Errorf(schema.EInvalid, "directory source %q is in several organisations: name one", name)
}

// Sources returns the registered sources, in the order they were added.
func (e *Engine) Sources() []*Source {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sources)
}
