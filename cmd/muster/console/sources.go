package console

import (
	"net/http"
	"net/url"
	"strconv"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// source is /sources/{name}: its health, its drops (paged by id), a
// rollback to an earlier applied drop with its preview (?to=), and Sync now
// for a directory source.
func (c *Console) source(w http.ResponseWriter, r *req) error {
	ctx := r.Context()
	name := r.PathValue("name")
	all, err := c.health().Sources(ctx, r.org)
	if err != nil {
		return err
	}
	var health *SourceHealth
	for i := range all {
		if all[i].Name == name {
			health = &all[i]
		}
	}
	if health == nil {
		return schema.Errorf(schema.ENotFound, "no source %q", name)
	}
	q := r.URL.Query()
	var rows []dropRow
	var next int64
	var applied []dropRow
	if r.org.ID != 0 {
		src, err := c.cfg.Store.LookupSource(ctx, r.org.ID, name)
		if err == nil {
			f := store.DropFilter{SourceID: src.ID, Limit: pageSize}
			if b := q.Get("before"); b != "" {
				if f.Before, err = strconv.ParseInt(b, 10, 64); err != nil || f.Before <= 0 {
					return schema.Errorf(schema.EInvalid, "before %q is not a drop id", b)
				}
			}
			ds, n, err := c.cfg.Store.Drops(ctx, r.org.ID, f)
			if err != nil {
				return err
			}
			rows, next = dropRows(ds), n
			as, _, err := c.cfg.Store.Drops(ctx, r.org.ID, store.DropFilter{SourceID: src.ID, Status: store.DropApplied, Limit: 50})
			if err != nil {
				return err
			}
			applied = dropRows(as)
		} else if schema.ErrorCodeOf(err) != schema.ENotFound {
			return err
		}
	}
	data := map[string]any{"Source": health, "Drops": rows, "Next": next, "Applied": applied, "First": q.Get("before") == "", "To": int64(0)}
	if to := q.Get("to"); to != "" {
		id, err := strconv.ParseInt(to, 10, 64)
		if err != nil || id <= 0 {
			return schema.Errorf(schema.EInvalid, "to %q is not a drop id", to)
		}
		// The preview: the rollback computed and not written.
		rep, err := c.cfg.Ingester.Rollback(ctx, r.org.Name, name, id, ingest.Options{DryRun: true, By: r.by()})
		if err != nil {
			if code := schema.ErrorCodeOf(err); code != schema.EInvalid && code != schema.EConflict && code != schema.ENotFound {
				return err
			}
			data["PreviewError"] = schema.ErrorMessageOf(err)
		}
		data["Preview"], data["To"] = rep, id
	}
	c.render(w, r.Request, r, http.StatusOK, "source", "Source "+name, data)
	return nil
}

func (c *Console) rollback(w http.ResponseWriter, r *req) error {
	name := r.PathValue("name")
	to, err := strconv.ParseInt(r.PostFormValue("to"), 10, 64)
	if err != nil || to <= 0 {
		return schema.Errorf(schema.EInvalid, "choose the drop to roll back to")
	}
	rep, err := c.cfg.Ingester.Rollback(r.Context(), r.org.Name, name, to, ingest.Options{By: r.by()})
	if err != nil {
		return err
	}
	c.cache.forget(r.org.ID)
	c.log.Info("rollback", "org", r.org.Name, "source", name, "to", to, "drop", rep.DropID, "token", r.token.Name)
	http.Redirect(w, r.Request, "/drops/"+strconv.FormatInt(rep.DropID, 10)+"?done=rollback", http.StatusSeeOther)
	return nil
}

// sync asks the scheduler to pull a configured directory source now.
func (c *Console) sync(w http.ResponseWriter, r *req) error {
	name := r.PathValue("name")
	kind := c.configuredKind(r.org.Name, name)
	switch {
	case kind == "":
		return schema.Errorf(schema.ENotFound, "no configured source %q", name)
	case kind != store.KindWorkOS:
		return schema.Errorf(schema.EInvalid, "source %s is of kind %s: only directory sources are pulled", name, kind)
	case c.syncFn() == nil:
		return schema.Errorf(schema.EUnavailable, "no scheduler runs in this muster: source %s cannot be pulled now", name)
	}
	if err := c.syncFn()(r.Context(), r.org.Name, name, r.by()); err != nil {
		return err
	}
	c.log.Info("sync requested", "org", r.org.Name, "source", name, "token", r.token.Name)
	http.Redirect(w, r.Request, "/sources/"+url.PathEscape(name)+"?done=sync", http.StatusSeeOther)
	return nil
}
