// Package scimsource makes SCIM sources producers of the directory engine
// (ingest/directory): it is the scim.Backend that keeps each source's users
// and groups in the store (what the IdP last sent) and turns every write
// into edits (upserts and offboardings of people, with their groups) that
// the engine applies as a batch of the source, through the same locking,
// guards, diff, merge and history as every other directory source. It holds
// no rule of its own about those. Concurrent writes to a source are
// grouped: one goroutine per source takes whatever requests wait, applies
// them in order to the resources, and hands the engine one batch whose
// transaction also writes the resources; each request is answered once
// that commit is done.
package scimsource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"muster/ingest/directory"
	"muster/ingest/scim"
	"muster/schema"
	"muster/store"
)

// Source is one configured SCIM source.
type Source struct {
	Org    string
	Config store.SourceConfig
}

// Backend is the scim.Backend over a store and the directory engine.
type Backend struct {
	eng *directory.Engine
	st  *store.Store
	log *slog.Logger
	// MaxBatch bounds the requests one transaction holds (default 512).
	MaxBatch int
	// Now is the clock (tests).
	Now func() time.Time
	// NewID makes resource ids (random UUIDs; tests make them in order).
	NewID func() string

	mu      sync.Mutex
	sources map[string]*source
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// source is one SCIM source's state: its engine source (whose settings
// are in force), its store ids once known, and the queue its writer
// goroutine takes batches from.
type source struct {
	ref   scim.Ref
	mu    sync.Mutex
	dir   *directory.Source
	orgID int64
	srcID int64
	reqs  chan *pending
}

// directory returns the source's engine source.
func (s *source) directory() *directory.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir
}

type pending struct {
	ctx  context.Context
	w    scim.Write
	done chan result
}

type result struct {
	res *scim.Resource
	err error
}

// New returns a backend over the engine's store; SetSources names the
// sources it serves.
func New(eng *directory.Engine, log *slog.Logger) *Backend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{eng: eng, st: eng.Ingester.Store, log: log, MaxBatch: 512, Now: time.Now, NewID: newID, sources: map[string]*source{}}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b
}

// SetSources makes the sources listed those of the engine's SCIM sources
// and starts the writers of new ones: a source new to the engine is
// registered, one registered has its settings updated
// (directory.Engine.Update: batches already running commit with the old
// ones), and the engine's SCIM sources not listed are removed from it. A
// source no longer listed keeps its writer until Close (the server stops
// routing to it; a write already queued is refused); listed again, it
// serves again.
func (b *Backend) SetSources(list []Source) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	listed := map[string]bool{}
	for _, s := range list {
		org := s.Org
		if org == "" {
			org = schema.DefaultOrg
		}
		key := org + "/" + s.Config.Name
		listed[key] = true
		dir, err := b.eng.Put(b.ctx, directory.Spec{Org: org, Config: s.Config})
		if err != nil {
			return err
		}
		if src := b.sources[key]; src != nil {
			src.mu.Lock()
			src.dir = dir
			src.mu.Unlock()
			continue
		}
		src := &source{ref: scim.Ref{Org: org, Name: s.Config.Name}, dir: dir, reqs: make(chan *pending, 1024)}
		b.sources[key] = src
		b.wg.Add(1)
		go b.writer(src)
	}
	for _, d := range b.eng.Sources() {
		if d.Kind() == store.KindSCIM && !listed[d.Key()] {
			b.eng.Remove(d.Org(), d.Name())
		}
	}
	return nil
}

// Close stops the writers once the batches in progress are committed;
// requests still queued are answered unavailable.
func (b *Backend) Close() error {
	b.cancel()
	b.wg.Wait()
	return nil
}

func (b *Backend) source(ref scim.Ref) (*source, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sources[ref.Key()]
	if s == nil {
		return nil, schema.Errorf(schema.ENotFound, "no scim source %s", ref.Key())
	}
	return s, nil
}

// ids returns the source's organisation and store ids; create makes them
// when the source has never been written (a read of a new source finds
// nothing, without creating it).
func (b *Backend) ids(ctx context.Context, s *source, create bool) (orgID, srcID int64, cfg store.SourceConfig, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg = s.dir.Config()
	if s.srcID != 0 {
		return s.orgID, s.srcID, cfg, nil
	}
	var org store.Org
	if create {
		org, err = b.st.EnsureOrg(ctx, s.ref.Org)
	} else {
		org, err = b.st.LookupOrg(ctx, s.ref.Org)
	}
	if err != nil {
		return 0, 0, cfg, notFoundIsNone(err)
	}
	src, err := b.st.LookupSource(ctx, org.ID, cfg.Name)
	if schema.ErrorCodeOf(err) == schema.ENotFound && create {
		src, _, err = b.st.EnsureSource(ctx, org.ID, cfg)
	}
	if err != nil {
		return 0, 0, cfg, notFoundIsNone(err)
	}
	s.orgID, s.srcID = org.ID, src.ID
	return s.orgID, s.srcID, cfg, nil
}

func notFoundIsNone(err error) error {
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return nil
	}
	return err
}

// Get returns one resource.
func (b *Backend) Get(ctx context.Context, ref scim.Ref, typ, id string, members bool) (*scim.Resource, error) {
	s, err := b.source(ref)
	if err != nil {
		return nil, err
	}
	_, srcID, _, err := b.ids(ctx, s, false)
	if err != nil {
		return nil, err
	}
	sr, err := b.st.SCIMGet(ctx, srcID, typ, id)
	if err != nil {
		return nil, err
	}
	r, err := fromStore(sr)
	if err != nil {
		return nil, err
	}
	if err := b.complete(ctx, srcID, []*scim.Resource{r}, members); err != nil {
		return nil, err
	}
	return r, nil
}

// List returns a page of resources.
func (b *Backend) List(ctx context.Context, ref scim.Ref, q scim.Query) ([]*scim.Resource, int, error) {
	s, err := b.source(ref)
	if err != nil {
		return nil, 0, err
	}
	_, srcID, _, err := b.ids(ctx, s, false)
	if err != nil || srcID == 0 {
		return []*scim.Resource{}, 0, err
	}
	sq := store.SCIMQuery{Type: q.Type, Offset: q.Offset, Limit: q.Limit}
	for _, c := range q.Conds {
		switch c.Field {
		case "id":
			sq.Conds = append(sq.Conds, store.SCIMCond{Column: "id", Value: c.Value})
		case "externalId":
			sq.Conds = append(sq.Conds, store.SCIMCond{Column: "external_id", Value: c.Value})
		case "userName", "displayName":
			sq.Conds = append(sq.Conds, store.SCIMCond{Column: "name", Value: schema.Fold(c.Value)})
		case "email":
			sq.Conds = append(sq.Conds, store.SCIMCond{Column: "email", Value: schema.Fold(c.Value)})
		}
	}
	rows, total, err := b.st.SCIMFind(ctx, srcID, sq)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*scim.Resource, 0, len(rows))
	for _, sr := range rows {
		r, err := fromStore(sr)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, b.complete(ctx, srcID, out, q.Members)
}

// complete reads a page's memberships: each user's groups, and each
// group's members when asked.
func (b *Backend) complete(ctx context.Context, srcID int64, rs []*scim.Resource, members bool) error {
	var users, groups []string
	for _, r := range rs {
		if r.Type == scim.TypeUser {
			users = append(users, r.ID)
		} else if members {
			groups = append(groups, r.ID)
		}
	}
	if len(groups) > 0 {
		ms, err := b.st.SCIMMembers(ctx, srcID, groups)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Type == scim.TypeGroup {
				r.Members = make([]scim.Member, 0, len(ms[r.ID]))
				for _, u := range ms[r.ID] {
					r.Members = append(r.Members, scim.Member{Value: u})
				}
			}
		}
	}
	if len(users) == 0 {
		return nil
	}
	of, err := b.st.SCIMGroupsOf(ctx, srcID, users)
	if err != nil || len(of) == 0 {
		return err
	}
	var gids []string
	for _, gs := range of {
		gids = append(gids, gs...)
	}
	names, err := b.st.SCIMGetMany(ctx, srcID, scim.TypeGroup, gids)
	if err != nil {
		return err
	}
	for _, r := range rs {
		for _, g := range of[r.ID] {
			if gr, ok := names[g]; ok {
				r.Groups = append(r.Groups, scim.Member{Value: g, Display: displayOf(gr)})
			}
		}
	}
	return nil
}

func displayOf(sr store.SCIMResource) string {
	var a struct {
		DisplayName string `json:"displayName"`
	}
	_ = json.Unmarshal(sr.Data, &a)
	return a.DisplayName
}

// Write queues a write for the source's writer and waits for its commit.
func (b *Backend) Write(ctx context.Context, ref scim.Ref, w scim.Write) (*scim.Resource, error) {
	s, err := b.source(ref)
	if err != nil {
		return nil, err
	}
	p := &pending{ctx: ctx, w: w, done: make(chan result, 1)}
	select {
	case s.reqs <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.ctx.Done():
		return nil, schema.Errorf(schema.EUnavailable, "muster is stopping")
	}
	// Once queued, the write is answered when its batch commits (or fails):
	// the client may have gone, the write still lands or not as a whole.
	r := <-p.done
	return r.res, r.err
}

// writer takes batches of waiting requests for one source until Close.
func (b *Backend) writer(s *source) {
	defer b.wg.Done()
	for {
		var first *pending
		select {
		case first = <-s.reqs:
		case <-b.ctx.Done():
			for {
				select {
				case p := <-s.reqs:
					p.done <- result{err: schema.Errorf(schema.EUnavailable, "muster is stopping")}
				default:
					return
				}
			}
		}
		batch := []*pending{first}
	drain:
		for len(batch) < max(b.MaxBatch, 1) {
			select {
			case p := <-s.reqs:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		b.run(s, batch)
	}
}

func newID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func toStore(r *scim.Resource) (store.SCIMResource, error) {
	data, err := json.Marshal(r.Attrs)
	if err != nil {
		return store.SCIMResource{}, fmt.Errorf("scim %s %s: %w", r.Type, r.ID, err)
	}
	sr := store.SCIMResource{Type: r.Type, ID: r.ID, ExternalID: r.ExternalID(), Data: data, Created: r.Created,
		Modified: r.Modified, Version: r.Version}
	if r.Type == scim.TypeUser {
		sr.Name, sr.Email = schema.Fold(strings.TrimSpace(r.UserName())), schema.Fold(strings.TrimSpace(r.WorkEmail()))
	} else {
		sr.Name = schema.Fold(strings.TrimSpace(r.DisplayName()))
	}
	return sr, nil
}

func fromStore(sr store.SCIMResource) (*scim.Resource, error) {
	r := &scim.Resource{Type: sr.Type, ID: sr.ID, Created: sr.Created, Modified: sr.Modified, Version: sr.Version}
	if err := json.Unmarshal(sr.Data, &r.Attrs); err != nil {
		return nil, fmt.Errorf("scim %s %s: stored data: %w", sr.Type, sr.ID, err)
	}
	if r.Attrs == nil {
		r.Attrs = map[string]any{}
	}
	return r, nil
}
