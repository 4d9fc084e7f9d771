package api

import (
	"net/http"
	"strconv"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// MaxPage is the largest page a list answers.
const MaxPage = 1000

// dropView is a drop in a list: the stored record with its report's
// reason and counts (the whole report is in GET /v1/drops/{id}).
type dropView struct {
	store.Drop
	Reason string         `json:"reason,omitempty"`
	Counts *ingest.Counts `json:"counts,omitempty"`
}

func (s *Server) listDrops(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	var f store.DropFilter
	var err error
	if f.Status, err = ParseDropStatus(q.Get("status")); err != nil {
		return err
	}
	if f.Limit, err = pageSize(q.Get("limit")); err != nil {
		return err
	}
	if b := q.Get("before"); b != "" {
		if f.Before, err = strconv.ParseInt(b, 10, 64); err != nil || f.Before <= 0 {
			return schema.Errorf(schema.EInvalid, "before %q is not a drop id (use the next cursor of the previous page)", b)
		}
	}
	out := []dropView{}
	if name := q.Get("source"); name != "" {
		src, err := s.lookupSource(r, name)
		if err != nil {
			return err
		}
		if src.ID == 0 { // configured, no drop yet
			writeJSON(w, http.StatusOK, map[string]any{"drops": out})
			return nil
		}
		f.SourceID = src.ID
	}
	var next int64
	if r.org.ID != 0 {
		drops, n, err := s.cfg.Store.Drops(r.Context(), r.org.ID, f)
		if err != nil {
			return err
		}
		next = n
		for _, d := range drops {
			v := dropView{Drop: d}
			if rep, err := ingest.ParseReport(d.Report); err == nil && d.Report != nil {
				v.Reason, v.Counts = rep.Reason, &rep.Counts
			}
			v.Report = nil
			out = append(out, v)
		}
	}
	body := map[string]any{"drops": out}
	if next != 0 {
		body["next"] = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// pageSize reads a limit parameter: default 100, at most MaxPage.
// ParseDropStatus reads a drops filter's status: one of the drop statuses,
// or "" for all. The command line filters with it too.
func ParseDropStatus(s string) (store.DropStatus, error) {
	switch st := store.DropStatus(s); st {
	case "", store.DropReceived, store.DropApplied, store.DropHeld, store.DropRejected, store.DropDuplicate, store.DropSuperseded:
		return st, nil
	}
	return "", schema.Errorf(schema.EInvalid, "status %q is not received, applied, held, rejected, duplicate or superseded", s)
}

func pageSize(s string) (int, error) {
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPage {
		return 0, schema.Errorf(schema.EInvalid, "limit %q must be a number from 1 to %d", s, MaxPage)
	}
	return n, nil
}

// drop returns the drop the path names, in the request's organisation.
func (s *Server) drop(r *request) (store.Drop, error) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return store.Drop{}, schema.Errorf(schema.EInvalid, "drop id %q is not a number", raw)
	}
	if r.org.ID == 0 {
		return store.Drop{}, schema.Errorf(schema.ENotFound, "no drop %d", id)
	}
	return s.cfg.Store.Drop(r.Context(), r.org.ID, id)
}

func (s *Server) showDrop(w http.ResponseWriter, r *request) error {
	d, err := s.drop(r)
	if err != nil {
		return err
	}
	rep, err := ingest.ParseReport(d.Report)
	if err != nil {
		return err
	}
	d.Report = nil
	writeJSON(w, http.StatusOK, map[string]any{"drop": d, "report": rep})
	return nil
}

// dropChanges pages through a drop's changes in key order: what an applied
// drop changed, or what a held drop would change if approved.
func (s *Server) dropChanges(w http.ResponseWriter, r *request) error {
	d, err := s.drop(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := pageSize(q.Get("limit"))
	if err != nil {
		return err
	}
	after := q.Get("after")
	var list []store.Change
	var next string
	switch d.Status {
	case store.DropApplied:
		if list, next, err = s.cfg.Store.DropChanges(r.Context(), d, after, limit); err != nil {
			return err
		}
	case store.DropHeld:
		if list, next, err = s.cfg.Store.HeldChangesPage(r.Context(), d.ID, after, limit); err != nil {
			return err
		}
	}
	out := make([]ingest.ChangeLine, 0, len(list))
	for _, c := range list {
		out = append(out, ingest.ChangeLine{Op: c.Op.String(), Key: c.Key, Line: c.Line})
	}
	body := map[string]any{"drop_id": d.ID, "status": d.Status, "changes": out}
	if next != "" {
		body["next"] = next
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// decisionBody is POST .../drops/{id}/approve and .../reject.
type decisionBody struct {
	// Reason is kept with a rejection.
	Reason string `json:"reason"`
	DryRun bool   `json:"dry_run"`
}

func (s *Server) approve(w http.ResponseWriter, r *request) error {
	return s.decide(w, r, true)
}

func (s *Server) reject(w http.ResponseWriter, r *request) error {
	return s.decide(w, r, false)
}

func (s *Server) decide(w http.ResponseWriter, r *request, approve bool) error {
	var body decisionBody
	if err := s.decodeBody(w, r.Request, &body); err != nil {
		return err
	}
	d, err := s.drop(r)
	if err != nil {
		return err
	}
	opt := ingest.Options{DryRun: body.DryRun, By: r.token.By()}
	var rep *ingest.Report
	verb := "approve"
	if approve {
		if body.Reason != "" {
			return schema.Errorf(schema.EInvalid, "an approval takes no reason (only dry_run)")
		}
		rep, err = s.cfg.Ingester.Approve(r.Context(), r.org.Name, d.ID, opt)
	} else {
		verb = "reject"
		rep, err = s.cfg.Ingester.Reject(r.Context(), r.org.Name, d.ID, body.Reason, opt)
	}
	if err != nil {
		return err
	}
	s.log.Info(verb, "org", r.org.Name, "drop", d.ID, "source", d.SourceName, "token", r.token.Name, "dry_run", body.DryRun)
	writeJSON(w, http.StatusOK, rep)
	return nil
}
