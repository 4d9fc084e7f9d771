package console

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"muster/cmd/muster/api"
	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// pageSize is how many rows a list page shows.
const pageSize = 100

// dropRow is a drop in a list.
type dropRow struct {
	store.Drop
	Reason string
	Counts *ingest.Counts
}

func dropRows(ds []store.Drop) []dropRow {
	out := make([]dropRow, 0, len(ds))
	for _, d := range ds {
		row := dropRow{Drop: d}
		if rep, err := ingest.ParseReport(d.Report); err == nil && d.Report != nil {
			row.Reason, row.Counts = rep.Reason, &rep.Counts
		}
		row.Report = nil
		out = append(out, row)
	}
	return out
}

// drops is /drops: newest first, filtered by source and status, paged by
// id (before=).
func (c *Console) drops(w http.ResponseWriter, r *req) error {
	q := r.URL.Query()
	f := store.DropFilter{Limit: pageSize}
	var err error
	if f.Status, err = api.ParseDropStatus(q.Get("status")); err != nil {
		return err
	}
	if b := q.Get("before"); b != "" {
		if f.Before, err = strconv.ParseInt(b, 10, 64); err != nil || f.Before <= 0 {
			return schema.Errorf(schema.EInvalid, "before %q is not a drop id", b)
		}
	}
	source := q.Get("source")
	sources, err := c.health().Sources(r.Context(), r.org)
	if err != nil {
		return err
	}
	var rows []dropRow
	var next int64
	if r.org.ID != 0 {
		skip := false
		if source != "" {
			src, err := c.cfg.Store.LookupSource(r.Context(), r.org.ID, source)
			switch {
			case schema.ErrorCodeOf(err) == schema.ENotFound:
				skip = true // a configured source with no drop yet, or none: nothing to list
			case err != nil:
				return err
			}
			f.SourceID = src.ID
		}
		if !skip {
			ds, n, err := c.cfg.Store.Drops(r.Context(), r.org.ID, f)
			if err != nil {
				return err
			}
			rows, next = dropRows(ds), n
		}
	}
	c.render(w, r.Request, r, http.StatusOK, "drops", "Drops", map[string]any{
		"Drops": rows, "Next": next, "Source": source, "Status": string(f.Status), "Sources": sources,
		"Statuses": []store.DropStatus{store.DropApplied, store.DropHeld, store.DropRejected, store.DropDuplicate, store.DropReceived},
		"First":    f.Before == 0,
	})
	return nil
}

// lookupDrop returns the drop the path names, in the session's
// organisation: another organisation's is not found, as one that does not
// exist.
func (c *Console) lookupDrop(r *req) (store.Drop, error) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return store.Drop{}, schema.Errorf(schema.ENotFound, "no drop %q", raw)
	}
	if r.org.ID == 0 {
		return store.Drop{}, schema.Errorf(schema.ENotFound, "no drop %d", id)
	}
	return c.cfg.Store.Drop(r.Context(), r.org.ID, id)
}

// diffRow is one change of a drop with its values before and after.
type diffRow struct {
	Op     string
	Key    string
	Line   int
	Fields []fieldDiff
}

type fieldDiff struct {
	Name, Old, New string
	Changed        bool
}

// fieldOrder is the order fields are shown in.
var fieldOrder = func() map[string]int {
	m := map[string]int{"email": 0, "first_name": 1, "last_name": 2, "status": 3, "groups": 4, "uid": 5}
	for i := range schema.NumAttrs {
		m[schema.Attr(i).String()] = 10 + int(i)
	}
	return m
}()

// diffOf compares two versions of a person field by field: every field
// either has, the changed ones marked.
func diffOf(old, cur *store.Assertion) []fieldDiff {
	var zero store.Assertion
	o, n := old, cur
	if o == nil {
		o = &zero
	}
	if n == nil {
		n = &zero
	}
	all := map[string][2]string{}
	for k, v := range ingest.FieldChanges(&zero, o) {
		all[k] = [2]string{v[1], ""}
	}
	for k, v := range ingest.FieldChanges(&zero, n) {
		e := all[k]
		all[k] = [2]string{e[0], v[1]}
	}
	out := make([]fieldDiff, 0, len(all))
	for k, v := range all {
		f := fieldDiff{Name: k, Old: v[0], New: v[1], Changed: v[0] != v[1]}
		if old == nil {
			f.Old = ""
		}
		if cur == nil {
			f.New = ""
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return fieldOrder[out[i].Name] < fieldOrder[out[j].Name] })
	return out
}

// changes reads a page of a drop's changes with the values they replace:
// for a held drop, the source's current row (the diff was computed against
// it); for an applied one, the version it ended.
func (c *Console) changes(r *req, d store.Drop, after string) ([]diffRow, string, error) {
	ctx := r.Context()
	var list []store.Change
	var next string
	var err error
	switch d.Status {
	case store.DropApplied:
		list, next, err = c.cfg.Store.DropChanges(ctx, d, after, pageSize)
	case store.DropHeld:
		list, next, err = c.cfg.Store.HeldChangesPage(ctx, d.ID, after, pageSize)
	}
	if err != nil {
		return nil, "", err
	}
	rows := make([]diffRow, 0, len(list))
	for i := range list {
		ch := &list[i]
		row := diffRow{Op: ch.Op.String(), Key: ch.Key, Line: ch.Line}
		var old *store.Assertion
		if ch.Op != store.OpAdd {
			if old, err = c.previous(r, d, ch); err != nil {
				return nil, "", err
			}
		}
		cur := &ch.Assertion
		if ch.Op == store.OpRemove {
			if d.Status == store.DropApplied && old == nil {
				old = &ch.Assertion // an applied removal is the version it ended
			}
			cur = nil
		}
		row.Fields = diffOf(old, cur)
		rows = append(rows, row)
	}
	return rows, next, nil
}

// previous is the version of a person a change replaced (nil: not found).
func (c *Console) previous(r *req, d store.Drop, ch *store.Change) (*store.Assertion, error) {
	ctx := r.Context()
	if d.Status == store.DropHeld {
		a, err := c.cfg.Store.SnapshotAssertion(ctx, d.SourceID, ch.Key)
		if schema.ErrorCodeOf(err) == schema.ENotFound {
			return nil, nil
		}
		return &a, err
	}
	if ch.Op == store.OpRemove {
		return nil, nil
	}
	vs, err := c.cfg.Store.Versions(ctx, r.org.ID, ch.Key)
	if err != nil {
		return nil, err
	}
	for i := range vs {
		if vs[i].SourceID == d.SourceID && vs[i].UntilSeq == d.Seq {
			return &vs[i], nil
		}
	}
	return nil, nil
}

// drop is /drops/{id}: the report, problems, the field-level diff paged by
// key (after=), and for a held drop what approving would do, with Approve
// and Reject for admins.
func (c *Console) drop(w http.ResponseWriter, r *req) error {
	d, err := c.lookupDrop(r)
	if err != nil {
		return err
	}
	rep, err := ingest.ParseReport(d.Report)
	if err != nil {
		return err
	}
	after := r.URL.Query().Get("after")
	rows, next, err := c.changes(r, d, after)
	if err != nil {
		return err
	}
	data := map[string]any{"Drop": d, "Report": rep, "Changes": rows, "Next": next, "After": after,
		"Total": rep.Counts.Added + rep.Counts.Updated + rep.Counts.Removed}
	if d.Status == store.DropHeld {
		// The dry run of an approval: what it would apply, or why it no
		// longer can (the source moved since the diff was computed).
		dry, err := c.cfg.Ingester.Approve(r.Context(), r.org.Name, d.ID, ingest.Options{DryRun: true, By: r.by()})
		if err != nil && schema.ErrorCodeOf(err) != schema.EConflict {
			return err
		}
		data["DryRun"], data["DryRunError"] = dry, schema.ErrorMessageOf(err)
	}
	c.render(w, r.Request, r, http.StatusOK, "drop", "Drop "+strconv.FormatInt(d.ID, 10), data)
	return nil
}

func (c *Console) approve(w http.ResponseWriter, r *req) error {
	d, err := c.lookupDrop(r)
	if err != nil {
		return err
	}
	if _, err := c.cfg.Ingester.Approve(r.Context(), r.org.Name, d.ID, ingest.Options{By: r.by()}); err != nil {
		return err
	}
	c.cache.forget(r.org.ID)
	c.log.Info("approve", "org", r.org.Name, "drop", d.ID, "source", d.SourceName, "token", r.token.Name)
	http.Redirect(w, r.Request, "/drops/"+strconv.FormatInt(d.ID, 10)+"?done=approved", http.StatusSeeOther)
	return nil
}

func (c *Console) reject(w http.ResponseWriter, r *req) error {
	d, err := c.lookupDrop(r)
	if err != nil {
		return err
	}
	reason, err := schema.CleanValue(r.PostFormValue("reason"))
	if err != nil {
		return schema.Errorf(schema.EInvalid, "reason: %v", err)
	}
	if reason == "" {
		return schema.Errorf(schema.EInvalid, "say why the drop is rejected: the reason is kept with it and shown to whoever looks")
	}
	if _, err := c.cfg.Ingester.Reject(r.Context(), r.org.Name, d.ID, reason, ingest.Options{By: r.by()}); err != nil {
		return err
	}
	c.log.Info("reject", "org", r.org.Name, "drop", d.ID, "source", d.SourceName, "token", r.token.Name)
	http.Redirect(w, r.Request, "/drops/"+strconv.FormatInt(d.ID, 10)+"?done=rejected", http.StatusSeeOther)
	return nil
}

// shortHash shows the start of a content hash.
func shortHash(h string) string {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
