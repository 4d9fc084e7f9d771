package workos

import (
	"context"
	"net/url"
	"strconv"

	"muster/schema"
)

// pager reads a list endpoint one page at a time, following the after cursor
// until it is null (§2.4). It refuses to hand out a list that may be partial
// or endless: a cursor that repeats, a non-empty page whose ids were all
// seen, or a first page paginating with the legacy before-cursor semantics
// is an error. Ids are remembered for the whole traversal (about 50 bytes
// each), and items already seen are dropped.
type pager[T any] struct {
	c       *Client
	path    string
	q       url.Values
	paceKey string
	id      func(*T) string
	page    int
	done    bool
	seen    map[string]struct{}
	cursors map[string]struct{}
}

func newPager[T any](c *Client, path string, q url.Values, paceKey string, id func(*T) string) *pager[T] {
	q.Set("limit", strconv.Itoa(c.cfg.PageSize))
	q.Set("order", c.cfg.Order)
	return &pager[T]{c: c, path: path, q: q, paceKey: paceKey, id: id,
		seen: map[string]struct{}{}, cursors: map[string]struct{}{}}
}

// next returns the next page; more is false after the last one.
func (p *pager[T]) next(ctx context.Context) (items []T, more bool, err error) {
	if p.done {
		return nil, false, nil
	}
	p.page++
	var env listEnvelope[T]
	if err := p.c.get(ctx, p.path, p.q, p.paceKey, &env); err != nil {
		return nil, false, err
	}
	before, after := env.cursors()
	if p.page == 1 && before != "" && after == "" && len(env.Data) == p.c.cfg.PageSize {
		return nil, false, schema.Errorf(schema.EUnavailable,
			"workos: GET %s: the first page points back with before=%s and has no after cursor: legacy pagination semantics, the list would be partial", p.path, before)
	}
	items = env.Data[:0]
	for i := range env.Data {
		k := p.id(&env.Data[i])
		if _, dup := p.seen[k]; !dup {
			p.seen[k] = struct{}{}
			items = append(items, env.Data[i])
		}
	}
	if len(env.Data) > 0 && len(items) == 0 {
		return nil, false, schema.Errorf(schema.EUnavailable, "workos: GET %s: page %d repeats ids already read: pagination loop", p.path, p.page)
	}
	if after == "" {
		p.done = true
		return items, false, nil
	}
	if _, dup := p.cursors[after]; dup {
		return nil, false, schema.Errorf(schema.EUnavailable, "workos: GET %s: cursor %s repeats: pagination loop", p.path, after)
	}
	p.cursors[after] = struct{}{}
	p.q.Set("after", after)
	return items, true, nil
}

// listAll hands every page of a list endpoint to fn.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values, paceKey string,
	id func(*T) string, fn func([]T) error) error {
	p := newPager(c, path, q, paceKey, id)
	for {
		items, more, err := p.next(ctx)
		if err != nil {
			return err
		}
		if err := fn(items); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}
