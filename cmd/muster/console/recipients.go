package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"muster/cmd/muster/api"
	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// recipientRow is a recipient in the list.
type recipientRow struct {
	store.Recipient
	Groups []ingest.GroupName
}

// hidden is a count the status filter leaves out.
type hidden struct {
	Status string
	N      int64
}

// recipients is /recipients: search (Unicode-folded, as the CLI and the
// API: the same store query), filters by status, group and source (alone:
// the people that source lists now; with a group: that source's groups of
// that name, as /v1/recipients), paged by key (after=), with the counts
// the status filter hides.
func (c *Console) recipients(w http.ResponseWriter, r *req) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := store.RecipientFilter{Search: strings.TrimSpace(q.Get("q")), After: q.Get("after"), Limit: pageSize}
	status := q.Get("status")
	var err error
	if f.Status, err = api.ParseRecipientStatus(status); err != nil {
		return err
	}
	group, source := q.Get("group"), q.Get("source")
	groups, err := c.cache.groups(ctx, r.org.ID)
	if err != nil {
		return err
	}
	sources, err := c.health().Sources(ctx, r.org)
	if err != nil {
		return err
	}
	empty := r.org.ID == 0 // nothing of the organisation in the store yet
	if source != "" && !empty {
		known := false
		for _, s := range sources {
			known = known || s.Name == source
		}
		if !known {
			return schema.Errorf(schema.ENotFound, "no source %q", source)
		}
		src, err := c.cfg.Store.LookupSource(ctx, r.org.ID, source)
		switch {
		case schema.ErrorCodeOf(err) == schema.ENotFound:
			empty = true // configured, nothing of it yet
		case err != nil:
			return err
		}
		f.SourceID = src.ID
	}
	if group != "" && !empty {
		if f.GroupIDs, err = c.cfg.Store.FindGroups(ctx, r.org.ID, group, source); err != nil {
			return err
		}
		if len(f.GroupIDs) == 0 {
			return schema.Errorf(schema.ENotFound, "no group %q", group)
		}
	}
	var recs []store.Recipient
	var next string
	if !empty {
		if recs, next, err = c.findRecipients(ctx, r.org.ID, f); err != nil {
			return err
		}
	}
	var ids []int64
	for _, rec := range recs {
		ids = append(ids, rec.GroupIDs...)
	}
	byID, err := c.cfg.Store.GroupsByID(ctx, r.org.ID, ids)
	if err != nil {
		return err
	}
	rows := make([]recipientRow, 0, len(recs))
	for _, rec := range recs {
		row := recipientRow{Recipient: rec}
		for _, id := range rec.GroupIDs {
			row.Groups = append(row.Groups, ingest.GroupName{Source: byID[id].SourceName, Name: byID[id].Name})
		}
		rows = append(rows, row)
	}
	counts, err := c.cache.counts(ctx, r.org.ID)
	if err != nil {
		return err
	}
	var hide []hidden
	for _, st := range []store.RecipientStatus{store.StatusActive, store.StatusOffboarded, store.StatusInactive, store.StatusGone} {
		if f.Status != "" && st != f.Status && counts[st] > 0 {
			hide = append(hide, hidden{Status: string(st), N: counts[st]})
		}
	}
	var names []string
	for _, s := range sources {
		names = append(names, s.Name)
	}
	c.render(w, r.Request, r, http.StatusOK, "recipients", "Recipients", map[string]any{
		"Rows": rows, "Next": next, "Q": f.Search, "Status": status, "Group": group, "Source": source,
		"Groups": groupNames(groups), "Sources": names, "Hidden": hide, "Counts": counts, "First": f.After == "",
		"Filtered": f.Search != "" || group != "" || source != "",
		// Partial: the page stopped looking before it was full (SearchBudget).
		"Partial": next != "" && len(rows) < pageSize,
	})
	return nil
}

// findRecipients reads a page of f. A list that may match few people
// (a search, a group, a status other than active) is read a window of
// SearchWindow recipients at a time while the page is not full, for at
// most SearchBudget: on a million recipients a search that matches few
// people answers within the budget with what it found so far and a
// "Search further" link that goes on where it stopped, instead of holding
// the page until the whole audience was scanned. The rest read their
// page at once (a source's people are read from its own snapshot).
func (c *Console) findRecipients(ctx context.Context, orgID int64, f store.RecipientFilter) ([]store.Recipient, string, error) {
	if f.Search == "" && len(f.GroupIDs) == 0 && f.Status == store.StatusActive {
		return c.cfg.Store.Recipients(ctx, orgID, f)
	}
	start := c.cfg.Now()
	var out []store.Recipient
	f.Scan = c.cfg.SearchWindow
	for {
		page, next, err := c.cfg.Store.Recipients(ctx, orgID, f)
		if err != nil {
			return nil, "", err
		}
		out = append(out, page...)
		if len(out) >= pageSize || next == "" || c.cfg.Now().Sub(start) >= c.cfg.SearchBudget {
			return out, next, nil
		}
		f.After, f.Limit = next, pageSize-len(out)
	}
}

func groupNames(gs []store.Group) []string {
	var out []string
	for _, g := range gs {
		if !slices.Contains(out, g.Name) {
			out = append(out, g.Name)
		}
	}
	return out
}

// recipient is /recipients/{email}: the explanation (each source's values,
// which won, groups, history), and for admins the manual removal.
func (c *Console) recipient(w http.ResponseWriter, r *req) error {
	raw := r.PathValue("email")
	_, key, err := schema.NormalizeEmail(raw)
	if err != nil {
		return schema.Errorf(schema.ENotFound, "no recipient %q", raw)
	}
	if r.org.ID == 0 {
		return schema.Errorf(schema.ENotFound, "no recipient %s", key)
	}
	ex, err := c.cfg.Ingester.Explain(r.Context(), r.org.Name, key)
	if err != nil {
		return err
	}
	var manual []string
	for _, a := range ex.Assertions {
		if c.kindOf(r, a.Source) == store.KindManual {
			manual = append(manual, a.Source)
		}
	}
	fields := []string{"email", "first_name", "last_name", "status", "groups"}
	for f := range ex.Winners {
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	slices.SortStableFunc(fields, func(a, b string) int { return fieldOrder[a] - fieldOrder[b] })
	c.render(w, r.Request, r, http.StatusOK, "recipient", ex.Recipient.Email, map[string]any{
		"Ex": ex, "Manual": manual, "Fields": fields,
	})
	return nil
}

// kindOf says a source's kind, from the config or the store.
func (c *Console) kindOf(r *req, name string) store.SourceKind {
	for _, s := range c.sources() {
		if s.Org == r.org.Name && s.Name == name {
			return s.Kind
		}
	}
	if src, err := c.cfg.Store.LookupSource(r.Context(), r.org.ID, name); err == nil {
		return src.Kind
	}
	return ""
}

// manualSources are the sources a person can be added to by hand: the
// configured manual sources, else the stored ones, else "manual".
func (c *Console) manualSources(r *req) []Source {
	var out []Source
	for _, s := range c.sources() {
		if s.Org == r.org.Name && s.Kind == store.KindManual {
			out = append(out, s)
		}
	}
	if len(out) > 0 {
		return out
	}
	if r.org.ID != 0 {
		if srcs, err := c.cfg.Store.Sources(r.Context(), r.org.ID); err == nil {
			for _, s := range srcs {
				if s.Kind == store.KindManual && s.RemovedAt == "" && c.configuredKind(r.org.Name, s.Name) == "" {
					out = append(out, Source{Org: r.org.Name, Name: s.Name, Kind: s.Kind, Ingest: s.SourceConfig})
				}
			}
		}
	}
	if len(out) == 0 {
		out = append(out, Source{Org: r.org.Name, Name: "manual", Kind: store.KindManual,
			Ingest: ingest.SourceConfig{Name: "manual", Kind: store.KindManual, Mode: store.ModeDelta, Priority: 100}})
	}
	return out
}

func (c *Console) configuredKind(org, name string) store.SourceKind {
	for _, s := range c.sources() {
		if s.Org == org && s.Name == name {
			return s.Kind
		}
	}
	return ""
}

// addPerson records a person by hand: a one-row delta drop of a manual
// source, through the pipeline as `muster recipients add` does.
func (c *Console) addPerson(w http.ResponseWriter, r *req) error {
	return c.editPerson(w, r, false)
}

// removePerson withdraws a manual source's say about a person: they stay
// in the audience when another source lists them.
func (c *Console) removePerson(w http.ResponseWriter, r *req) error {
	return c.editPerson(w, r, true)
}

func (c *Console) editPerson(w http.ResponseWriter, r *req, remove bool) error {
	if err := r.ParseForm(); err != nil {
		return schema.Errorf(schema.EInvalid, "the form could not be read")
	}
	email, key, err := schema.NormalizeEmail(r.PostFormValue("email"))
	if err != nil {
		return schema.Errorf(schema.EInvalid, "%q is not an email address: %v", r.PostFormValue("email"), schema.ErrorMessageOf(err))
	}
	var src *Source
	name := r.PostFormValue("source")
	for _, s := range c.manualSources(r) {
		if name == "" || s.Name == name {
			src = &s
			break
		}
	}
	if src == nil {
		return schema.Errorf(schema.EInvalid, "source %q is not a manual source of %s: people are added by hand only to one", name, r.org.Name)
	}
	rec := schema.Record{Email: email, Key: key}
	if remove {
		rec.Action = schema.ActionRemove
	} else {
		vals := map[string]*string{"first": &rec.FirstName, "last": &rec.LastName}
		for field, dst := range vals {
			if *dst, err = schema.CleanValue(r.PostFormValue(field)); err != nil {
				return schema.Errorf(schema.EInvalid, "%s name: %v", field, err)
			}
		}
		groups, err := schema.CleanValue(r.PostFormValue("groups"))
		if err != nil {
			return schema.Errorf(schema.EInvalid, "groups: %v", err)
		}
		for _, g := range strings.Split(groups, ";") {
			if g = strings.TrimSpace(g); g != "" {
				rec.Groups = append(rec.Groups, g)
			}
		}
	}
	verb := map[bool]string{false: "add", true: "remove"}[remove]
	cfg := src.Ingest
	cfg.Name, cfg.Kind, cfg.Mode = src.Name, store.KindManual, store.ModeDelta
	rep, err := c.cfg.Ingester.Ingest(r.Context(), ingest.Drop{Org: r.org.Name, Source: cfg, Kind: store.DropKindManual, Delta: true,
		Name: fmt.Sprintf("recipients %s %s", verb, email), Records: &schema.SliceStream{Records: []schema.Record{rec}}},
		ingest.Options{By: r.by()})
	if err != nil {
		return err
	}
	org, _ := c.cfg.Store.LookupOrg(r.Context(), r.org.Name)
	c.cache.forget(org.ID)
	c.log.Info("recipients "+verb, "org", r.org.Name, "source", src.Name, "drop", rep.DropID, "token", r.token.Name)
	done := map[bool]string{false: "added", true: "removed"}[remove]
	http.Redirect(w, r.Request, "/drops/"+strconv.FormatInt(rep.DropID, 10)+"?done="+done+"&who="+url.QueryEscape(key), http.StatusSeeOther)
	return nil
}
