package console

import (
	"net/http"
	"strings"
	"time"

	"muster/ingest"
	"muster/schema"
)

// groups is /groups: every group with its member count, and the form that
// exports an audience (the active members of the groups ticked) as CSV.
func (c *Console) groups(w http.ResponseWriter, r *req) error {
	gs, err := c.cache.groups(r.Context(), r.org.ID)
	if err != nil {
		return err
	}
	c.render(w, r.Request, r, http.StatusOK, "groups", "Groups", map[string]any{"Groups": gs})
	return nil
}

// export is /export?g=ID&g=ID: the audience of the groups as CSV, with
// formula-like values neutralised (the same export as /v1/export).
func (c *Console) export(w http.ResponseWriter, r *req) error {
	ids, names, err := c.pickedGroups(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audience.csv"`)
	rc := http.NewResponseController(w)
	n, err := ingest.ExportAudience(r.Context(), c.cfg.Store, r.org.ID, ids, ingest.ExportCSV, writerFunc(func(p []byte) (int, error) {
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		return w.Write(p)
	}))
	if err != nil {
		// Half an audience must not look like a whole one.
		c.log.Error("export failed part-way", "org", r.org.Name, "written", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	c.log.Info("export", "org", r.org.Name, "groups", strings.Join(names, ","), "recipients", n, "token", r.token.Name)
	return nil
}

// pickedGroups reads the group ids ticked (g=), which must be the
// organisation's.
func (c *Console) pickedGroups(r *req) ([]int64, []string, error) {
	raw := r.URL.Query()["g"]
	if len(raw) == 0 {
		return nil, nil, schema.Errorf(schema.EInvalid, "tick one or more groups to export their audience")
	}
	gs, err := c.cache.groups(r.Context(), r.org.ID)
	if err != nil {
		return nil, nil, err
	}
	var ids []int64
	var names []string
	for _, v := range raw {
		found := false
		for _, g := range gs {
			if itoa(g.ID) == v {
				ids, names, found = append(ids, g.ID), append(names, g.SourceName+"/"+g.Name), true
			}
		}
		if !found {
			return nil, nil, schema.Errorf(schema.ENotFound, "no group %q", v)
		}
	}
	return ids, names, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
