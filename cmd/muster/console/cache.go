package console

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"muster/store"
)

// cache keeps what costs a scan of the whole audience (counts by status,
// groups with their member counts) and the applied drops the chart adds
// up, per organisation. Counts and groups are read again when the
// organisation's newest drop changed and when the console itself wrote
// (the page waits for them), and cacheTTL after they were read (a lift,
// or a drop decided by another process, changes the audience without a
// new drop): then the page is served what was read and they are read
// again behind it, so a page is not held by a scan of a million people
// every cacheTTL.
type cache struct {
	st  *store.Store
	now func() time.Time

	mu   sync.Mutex
	orgs map[int64]*orgCache
}

const cacheTTL = 30 * time.Second

type orgCache struct {
	mu       sync.Mutex // one reader of the store at a time per organisation
	key      string
	read     time.Time
	counts   map[store.RecipientStatus]int64
	groups   []store.Group
	seq      int64       // the last applied drop's seq added to points
	points   []dropPoint // applied drops in seq order, the last chartDays+1 days
	pointsAt time.Time   // when points were last brought up to date
	// refreshing: counts and groups are being read again behind the pages.
	refreshing bool
}

// dropPoint is an applied drop as the chart sees it.
type dropPoint struct {
	at           time.Time
	joined, left int64
	// known is false for a drop recorded before reports counted the
	// audience (joined, left) that changed something.
	known bool
}

func newCache(st *store.Store, now func() time.Time) *cache {
	return &cache{st: st, now: now, orgs: map[int64]*orgCache{}}
}

func (c *cache) org(id int64) *orgCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.orgs[id]
	if o == nil {
		o = &orgCache{}
		c.orgs[id] = o
	}
	return o
}

// forget drops an organisation's counts: the console just changed it.
func (c *cache) forget(id int64) {
	o := c.org(id)
	o.mu.Lock()
	o.key = ""
	o.mu.Unlock()
}

// fresh brings o's counts and groups up to date; o.mu is held.
func (c *cache) fresh(ctx context.Context, orgID int64, o *orgCache) error {
	ds, _, err := c.st.Drops(ctx, orgID, store.DropFilter{Limit: 1})
	if err != nil {
		return err
	}
	key := "none"
	if len(ds) > 0 {
		key = ds[0].Kind + string(ds[0].Status) + ds[0].DecidedAt + "/" + itoa(ds[0].ID)
	}
	if key == o.key {
		if c.now().Sub(o.read) >= cacheTTL && !o.refreshing {
			o.refreshing = true
			go c.refresh(orgID, o, key)
		}
		return nil
	}
	counts, groups, err := c.read(ctx, orgID)
	if err != nil {
		return err
	}
	o.key, o.read, o.counts, o.groups = key, c.now(), counts, groups
	return nil
}

// read reads the organisation's counts by status and groups.
func (c *cache) read(ctx context.Context, orgID int64) (map[store.RecipientStatus]int64, []store.Group, error) {
	counts, err := c.st.RecipientCounts(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	groups, err := c.st.Groups(ctx, orgID)
	return counts, groups, err
}

// refresh reads o's counts and groups again without holding o (pages go
// on with what o holds) and keeps them unless o changed meanwhile.
func (c *cache) refresh(orgID int64, o *orgCache, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	counts, groups, err := c.read(ctx, orgID)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refreshing = false
	if err == nil && o.key == key {
		o.read, o.counts, o.groups = c.now(), counts, groups
	}
}

// counts returns the organisation's recipients by status.
func (c *cache) counts(ctx context.Context, orgID int64) (map[store.RecipientStatus]int64, error) {
	if orgID == 0 {
		return map[store.RecipientStatus]int64{}, nil
	}
	o := c.org(orgID)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := c.fresh(ctx, orgID, o); err != nil {
		return nil, err
	}
	return o.counts, nil
}

// groups returns the organisation's groups with member counts.
func (c *cache) groups(ctx context.Context, orgID int64) ([]store.Group, error) {
	if orgID == 0 {
		return nil, nil
	}
	o := c.org(orgID)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := c.fresh(ctx, orgID, o); err != nil {
		return nil, err
	}
	return o.groups, nil
}

// applied returns the organisation's applied drops since from, oldest
// first, reading from the store only those applied since the last call.
func (c *cache) applied(ctx context.Context, orgID int64, from time.Time) ([]dropPoint, error) {
	if orgID == 0 {
		return nil, nil
	}
	o := c.org(orgID)
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		ds, err := c.st.AppliedSince(ctx, orgID, o.seq, 1000)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			o.seq = d.Seq
			if p, ok := pointOf(d); ok {
				o.points = append(o.points, p)
			}
		}
		if len(ds) < 1000 {
			break
		}
	}
	// Forget what is older than any chart asks for.
	keep := o.points[:0]
	for _, p := range o.points {
		if !p.at.Before(from.Add(-48 * time.Hour)) {
			keep = append(keep, p)
		}
	}
	o.points = keep
	var out []dropPoint
	for _, p := range o.points {
		if !p.at.Before(from) {
			out = append(out, p)
		}
	}
	return out, nil
}

// pointOf reads what the chart needs of an applied drop's report.
func pointOf(d store.Drop) (dropPoint, bool) {
	at, err := time.Parse(time.RFC3339Nano, d.DecidedAt)
	if err != nil {
		return dropPoint{}, false
	}
	var r struct {
		Counts struct {
			Added, Updated, Removed, Suppressed int64
			Joined, Left                        *int64
		} `json:"counts"`
	}
	if len(d.Report) > 0 {
		if err := json.Unmarshal(d.Report, &r); err != nil {
			return dropPoint{}, false
		}
	}
	k := r.Counts
	p := dropPoint{at: at, known: k.Joined != nil || k.Left != nil || k.Added+k.Updated+k.Removed+k.Suppressed == 0}
	if k.Joined != nil {
		p.joined = *k.Joined
	}
	if k.Left != nil {
		p.left = *k.Left
	}
	return p, true
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
