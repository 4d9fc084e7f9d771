package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// recipientView is a recipient in a list.
type recipientView struct {
	store.Recipient
	Attrs  map[string]string  `json:"attrs,omitempty"`
	Groups []ingest.GroupName `json:"groups"`
}

// groupIDs finds the groups named (any source's of that name, or only the
// given source's); each name must match a group.
func (s *Server) groupIDs(r *request, names []string, source string) ([]int64, error) {
	var ids []int64
	for _, name := range names {
		var found []int64
		if r.org.ID != 0 {
			var err error
			if found, err = s.cfg.Store.FindGroups(r.Context(), r.org.ID, name, source); err != nil {
				return nil, err
			}
		}
		if len(found) == 0 {
			if source != "" {
				return nil, schema.Errorf(schema.ENotFound, "no group %q in source %s", name, source)
			}
			return nil, schema.Errorf(schema.ENotFound, "no group %q", name)
		}
		ids = append(ids, found...)
	}
	return ids, nil
}

// ParseRecipientStatus reads a recipients filter's status: "" for active
// (the default), "all" for every status (the store's ""), or one status.
// The command line filters with it too.
func ParseRecipientStatus(s string) (store.RecipientStatus, error) {
	switch st := store.RecipientStatus(s); st {
	case "":
		return store.StatusActive, nil
	case "all":
		return "", nil
	case store.StatusActive, store.StatusOffboarded, store.StatusInactive, store.StatusGone:
		return st, nil
	}
	return "", schema.Errorf(schema.EInvalid, "status %q is not active, offboarded, inactive, gone or all", s)
}

// listRecipients pages through recipients in key order. The cursor is the
// last key of a page: a page never repeats or skips anyone, whatever is
// added or removed between requests.
func (s *Server) listRecipients(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	f := store.RecipientFilter{Search: strings.TrimSpace(q.Get("search")), After: q.Get("after")}
	var err error
	if f.Status, err = ParseRecipientStatus(q.Get("status")); err != nil {
		return err
	}
	if f.Limit, err = pageSize(q.Get("limit")); err != nil {
		return err
	}
	// source alone: the people that source lists now; with group: the
	// members of that source's groups of that name.
	empty := false
	if name := q.Get("source"); name != "" {
		src, err := s.lookupSource(r, name)
		if err != nil {
			return err
		}
		f.SourceID, empty = src.ID, src.ID == 0 // configured, never synced
	}
	if groups := q["group"]; len(groups) > 0 && !empty {
		if f.GroupIDs, err = s.groupIDs(r, groups, q.Get("source")); err != nil {
			return err
		}
	}
	page := newPageWriter(r.Context(), s.cfg.Store, &s.groupObjs, r.org.ID)
	var next string
	if r.org.ID != 0 && !empty {
		if next, err = s.cfg.Store.EachRecipientPage(r.Context(), r.org.ID, f, page.add); err != nil {
			return err
		}
	}
	page.write(w, wantPretty(q), next)
	return nil
}

// wantPretty says the request asked for indented JSON (?pretty).
func wantPretty(q url.Values) bool {
	v, ok := q["pretty"]
	return ok && (len(v) == 0 || v[0] != "0" && v[0] != "false")
}

// explainRecipient answers everything known about one recipient and why:
// each source's assertion and which won, groups, suppressions, history.
func (s *Server) explainRecipient(w http.ResponseWriter, r *request) error {
	raw := r.PathValue("email")
	_, key, err := schema.NormalizeEmail(raw)
	if err != nil {
		return err
	}
	if r.org.ID == 0 {
		return schema.Errorf(schema.ENotFound, "no recipient %s", key)
	}
	ex, err := s.cfg.Ingester.Explain(r.Context(), r.org.Name, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ex)
	return nil
}

func (s *Server) listGroups(w http.ResponseWriter, r *request) error {
	groups := []store.Group{}
	if r.org.ID != 0 {
		g, err := s.cfg.Store.Groups(r.Context(), r.org.ID)
		if err != nil {
			return err
		}
		groups = append(groups, g...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups})
	return nil
}

// export streams an audience (the active members of the groups named) as
// CSV, with formula-like values neutralised, or as JSON lines.
func (s *Server) export(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = ingest.ExportCSV
	}
	if format != ingest.ExportCSV && format != ingest.ExportJSON {
		return schema.Errorf(schema.EInvalid, "format %q is not csv or json", format)
	}
	names := q["group"]
	if len(names) == 0 {
		return schema.Errorf(schema.EInvalid, "name the audience: one or more group=NAME")
	}
	ids, err := s.groupIDs(r, names, q.Get("source"))
	if err != nil {
		return err
	}
	ctype, ext := "text/csv; charset=utf-8", "csv"
	if format == ingest.ExportJSON {
		ctype, ext = "application/x-ndjson", "ndjson"
	}
	lw := &lazyWriter{w: w, rc: http.NewResponseController(w), idle: s.writeTimeout, header: func(h http.Header) {
		h.Set("Content-Type", ctype)
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audience.%s"`, ext))
	}}
	if r.Method == http.MethodHead {
		// The headers a GET would have, without reading the audience.
		lw.start()
		return nil
	}
	n, err := ingest.ExportAudience(r.Context(), s.cfg.Store, r.org.ID, ids, format, lw)
	if err != nil {
		if !lw.started {
			return err
		}
		// Half an audience must not look like a whole one: break the
		// response off rather than end it cleanly.
		s.log.Error("export failed part-way", "org", r.org.Name, "written", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	if !lw.started {
		lw.start()
	}
	s.log.Info("export", "org", r.org.Name, "groups", strings.Join(names, ","), "recipients", n, "token", r.token.Name)
	return nil
}

// lazyWriter sends the status and headers with the first bytes, so an
// error before any output is still answered as JSON. Each write may take
// idle: the server's write timeout is renewed as the export progresses.
type lazyWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	idle    time.Duration
	header  func(http.Header)
	started bool
}

func (l *lazyWriter) start() {
	l.started = true
	l.header(l.w.Header())
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	_ = l.rc.SetWriteDeadline(time.Now().Add(l.idle))
	return l.w.Write(p)
}
