package api

import (
	"net/http"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// sourceView is a source as the API shows it: its sync health
// (ingest.SourceHealth: state, last attempt and success, last error, next
// run, people, held drops...), its stored settings, and whether it can be
// pulled now.
type sourceView struct {
	ingest.SourceHealth
	CanSync bool `json:"can_sync"`
	// SCIM is a scim source's requests: last request, counts, last error.
	SCIM *store.SCIMStats `json:"scim,omitempty"`
}

// sources returns the organisation's sources with their health: those in
// the store, and configured ones not there yet (never synced).
func (s *Server) sources(r *request) ([]sourceView, error) {
	ctx := r.Context()
	var configured []ingest.ConfiguredSource
	for _, c := range s.conf().Sources {
		cfg := c.Settings
		if cfg.Name == "" {
			cfg = store.SourceConfig{Name: c.Name, Kind: c.Kind}
		}
		configured = append(configured, ingest.ConfiguredSource{Org: c.Org, Config: cfg})
	}
	hs, err := s.cfg.Ingester.SourcesHealth(ctx, r.org.Name, configured)
	if err != nil {
		return nil, err
	}
	scimStats := map[string]store.SCIMStats{}
	if r.org.ID != 0 {
		if scimStats, err = s.cfg.Store.SCIMStatsByOrg(ctx, r.org.ID); err != nil {
			return nil, err
		}
	}
	out := make([]sourceView, 0, len(hs))
	for _, h := range hs {
		v := sourceView{SourceHealth: h}
		v.CanSync = h.Configured && s.conf().Sync != nil && h.Kind == store.KindWorkOS && h.RemovedAt == ""
		if st, ok := scimStats[h.Name]; ok && h.Kind == store.KindSCIM {
			v.SCIM = &st
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) configured(org, name string) *ConfiguredSource {
	sources := s.conf().Sources
	for i, c := range sources {
		if c.Org == org && c.Name == name {
			return &sources[i]
		}
	}
	return nil
}

// lookupSource returns the organisation's source with that name; a
// configured source with no drop yet is a Source with id 0.
func (s *Server) lookupSource(r *request, name string) (store.Source, error) {
	if r.org.ID != 0 {
		src, err := s.cfg.Store.LookupSource(r.Context(), r.org.ID, name)
		if schema.ErrorCodeOf(err) != schema.ENotFound {
			return src, err
		}
	}
	if c := s.configured(r.org.Name, name); c != nil {
		return store.Source{SourceConfig: store.SourceConfig{Name: c.Name, Kind: c.Kind}}, nil
	}
	return store.Source{}, schema.Errorf(schema.ENotFound, "no source %q", name)
}

func (s *Server) listSources(w http.ResponseWriter, r *request) error {
	out, err := s.sources(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": out})
	return nil
}

func (s *Server) showSource(w http.ResponseWriter, r *request) error {
	out, err := s.sources(r)
	if err != nil {
		return err
	}
	name := r.PathValue("source")
	for _, v := range out {
		if v.Name == name {
			writeJSON(w, http.StatusOK, map[string]any{"source": v})
			return nil
		}
	}
	return schema.Errorf(schema.ENotFound, "no source %q", name)
}

// rollbackBody is POST .../sources/{source}/rollback.
type rollbackBody struct {
	// To is the earlier applied drop whose snapshot to restore.
	To     int64 `json:"to"`
	DryRun bool  `json:"dry_run"`
}

func (s *Server) rollback(w http.ResponseWriter, r *request) error {
	var body rollbackBody
	if err := s.decodeBody(w, r.Request, &body); err != nil {
		return err
	}
	if body.To <= 0 {
		return schema.Errorf(schema.EInvalid, `the body must name the drop to roll back to: {"to": DROP_ID}`)
	}
	rep, err := s.cfg.Ingester.Rollback(r.Context(), r.org.Name, r.PathValue("source"), body.To,
		ingest.Options{DryRun: body.DryRun, By: r.token.By()})
	if err != nil {
		return err
	}
	s.log.Info("rollback", "org", r.org.Name, "source", rep.Source, "to", body.To, "token", r.token.Name,
		"drop", rep.DropID, "dry_run", body.DryRun)
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// sync asks the scheduler to pull a configured WorkOS source now.
func (s *Server) sync(w http.ResponseWriter, r *request) error {
	if err := s.decodeBody(w, r.Request, &struct{}{}); err != nil {
		return err
	}
	name := r.PathValue("source")
	src, err := s.lookupSource(r, name)
	if err != nil {
		return err
	}
	kind := src.Kind
	switch {
	case kind != store.KindWorkOS:
		return schema.Errorf(schema.EInvalid, "source %s is of kind %s: only workos sources are pulled; %s", name, kind, howFed(kind))
	case s.configured(r.org.Name, name) == nil:
		return schema.Errorf(schema.EInvalid, "source %s is not in the config: only configured sources are pulled", name)
	case s.conf().Sync == nil:
		return schema.Errorf(schema.EUnavailable, "sync is not available for source %s: no WorkOS scheduler runs in this muster", name)
	}
	if err := s.conf().Sync(r.Context(), r.org.Name, name, r.token.By()); err != nil {
		return err
	}
	s.log.Info("sync requested", "org", r.org.Name, "source", name, "token", r.token.Name)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "started", "source": name,
		"message": "the pull runs in the background; its drop appears in /v1/drops"})
	return nil
}

// howFed says where a source's drops come from, for a refused sync.
func howFed(k store.SourceKind) string {
	switch k {
	case store.KindSFTP:
		return "its drops arrive by SFTP upload"
	case store.KindFolder:
		return "its drops arrive in its watched folder"
	case store.KindManual:
		return "its people are edited by hand"
	}
	return "its drops are files given to `muster ingest`"
}
