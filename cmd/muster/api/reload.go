package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"muster/schema"
	"muster/store"
)

// ReloadFunc re-reads the config file and applies what changed; by says
// who asked. A config with problems is refused (its error lists them) and
// the running one kept.
type ReloadFunc func(ctx context.Context, by string) (ReloadResult, error)

// ReloadResult says what a reload changed.
type ReloadResult struct {
	// Changed lists each change applied, one line each ("sftp account
	// acme: keys changed").
	Changed []string `json:"changed"`
	// Restart lists changes read but applied only by a restart (a listen
	// address, the data directory).
	Restart []string `json:"restart_needed"`
}

// reload is POST /v1/reload: an operator's admin token re-reads the
// config, as SIGHUP does.
func (s *Server) reload(w http.ResponseWriter, r *request) error {
	if r.token.Org != AllOrgs {
		return schema.Errorf(schema.EForbidden, "token %s belongs to organisation %s: a reload changes every organisation's settings, so it needs an operator token (org = %q)",
			r.token.Name, r.token.Org, AllOrgs)
	}
	if err := s.decodeBody(w, r.Request, &struct{}{}); err != nil {
		return err
	}
	fn := s.conf().Reload
	if fn == nil {
		return schema.Errorf(schema.EUnavailable, "this muster runs on its built-in config: there is no file to reload")
	}
	res, err := fn(r.Context(), r.token.By())
	if err != nil {
		return err
	}
	if res.Changed == nil {
		res.Changed = []string{}
	}
	if res.Restart == nil {
		res.Restart = []string{}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// listNotifications is GET /v1/notifications: what was told to whom about
// the organisation, newest first (for an operator token, with the events
// of the whole server, such as SFTP bans).
func (s *Server) listNotifications(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	f := store.NotificationFilter{Orgs: []string{r.org.Name}, Target: q.Get("target"), Status: store.NotificationStatus(q.Get("status"))}
	if r.token.Org == AllOrgs {
		f.Orgs = append(f.Orgs, "")
	}
	switch f.Status {
	case "", store.NotifyPending, store.NotifyDelivered, store.NotifyFailed, store.NotifyDropped:
	default:
		return schema.Errorf(schema.EInvalid, "status %q is not pending, delivered, failed or dropped", f.Status)
	}
	var err error
	if f.Limit, err = pageSize(q.Get("limit")); err != nil {
		return err
	}
	if b := q.Get("before"); b != "" {
		if f.Before, err = strconv.ParseInt(b, 10, 64); err != nil || f.Before <= 0 {
			return schema.Errorf(schema.EInvalid, "before %q is not a notification id (use the next cursor of the previous page)", b)
		}
	}
	list, next, err := s.cfg.Store.Notifications(r.Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []store.Notification{}
	}
	body := map[string]any{"notifications": list}
	if next != 0 {
		body["next"] = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// ProblemLister is an error made of several problems (a config's): the
// API lists them in the error body.
type ProblemLister interface {
	ProblemLines() []string
}

func problemsOf(err error) []string {
	var pl ProblemLister
	if errors.As(err, &pl) {
		return pl.ProblemLines()
	}
	return nil
}
