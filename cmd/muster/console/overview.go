package console

import (
	"net/http"

	"muster/store"
)

// overview is /: each source's health, the audience now and over 90 days,
// the latest drops.
func (c *Console) overview(w http.ResponseWriter, r *req) error {
	ctx := r.Context()
	sources, err := c.health().Sources(ctx, r.org)
	if err != nil {
		return err
	}
	counts, err := c.cache.counts(ctx, r.org.ID)
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	from := now.AddDate(0, 0, -(chartDays + 1))
	points, err := c.cache.applied(ctx, r.org.ID, from)
	if err != nil {
		return err
	}
	days := series(points, counts[store.StatusActive], now, r.loc)
	var latest []dropRow
	if r.org.ID != 0 {
		ds, _, err := c.cfg.Store.Drops(ctx, r.org.ID, store.DropFilter{Limit: 10})
		if err != nil {
			return err
		}
		latest = dropRows(ds)
	}
	var held int64
	for _, s := range sources {
		held += s.Held
	}
	var total int64
	byName := map[string]int64{}
	for st, n := range counts {
		total += n
		byName[string(st)] = n
	}
	c.render(w, r.Request, r, http.StatusOK, "overview", "Overview", map[string]any{
		"Sources": sources, "Counts": byName, "Active": counts[store.StatusActive], "Total": total, "Held": held,
		"SizeChart": sizeChart(days), "ChangesChart": changesChart(days), "Days": reverse(days), "Latest": latest,
	})
	return nil
}

// sourcesPage lists the sources (the Overview's table alone).
func (c *Console) sourcesPage(w http.ResponseWriter, r *req) error {
	sources, err := c.health().Sources(r.Context(), r.org)
	if err != nil {
		return err
	}
	c.render(w, r.Request, r, http.StatusOK, "sources", "Sources", map[string]any{"Sources": sources})
	return nil
}

func reverse(days []day) []day {
	out := make([]day, len(days))
	for i, d := range days {
		out[len(days)-1-i] = d
	}
	return out
}
