package workossync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/schema"
	"muster/store"
)

const (
	// staleCursor: the Events API keeps 30 to 90 days; a cursor older than
	// this is dropped and every directory pulled instead (§5.1).
	staleCursor = 25 * 24 * time.Hour
	// sinceMargin is how far before "now" a fresh cursor starts reading, for
	// the skew between our clock and WorkOS's; repeats are de-duplicated.
	sinceMargin = 5 * time.Minute
	// pullMargin: an event created this long before a source's latest full
	// pull started (by our clock) is in that pull, and not applied to it
	// again; one created later is (applying an event the pull already read
	// changes nothing).
	pullMargin = time.Minute
)

// ErrBusy is WebhookEvent's error while the event's source is being
// pulled: the endpoint answers 500 and WorkOS delivers again.
var ErrBusy = schema.Errorf(schema.EUnavailable, "a pull of the directory's source is running: deliver again later")

// CursorName names the Events API cursor in the store: one per WorkOS
// environment, which the base URL stands for.
func (w *Sync) CursorName() string { return "workos " + w.Client.BaseURL() }

// PollEvents reads the events that followed the persisted cursor, a page at
// a time, applies their dsync.* changes and moves the cursor past them. It
// stops early, without error, at an event for a source being pulled (the
// next poll resumes there). It returns how many events it went past.
func (w *Sync) PollEvents(ctx context.Context) (int, error) {
	st := w.Engine.Ingester.Store
	cur, found, err := st.Cursor(ctx, w.CursorName())
	if err != nil {
		return 0, err
	}
	switch {
	case !found:
		// Events from before the latest full pull of every source (or this
		// daemon's start, whose first pulls read them) are in the pulls; it
		// follows the directories from there.
		if cur.Since, err = w.pulledSince(ctx); err != nil {
			return 0, err
		}
	case time.Since(cur.Updated) > staleCursor:
		w.Logger.Warn("the events cursor is too old for the Events API: pulling every directory instead", "updated", cur.Updated)
		cur.EventID, cur.Since = "", time.Now().Add(-sinceMargin)
		for _, s := range w.sources {
			w.Engine.PullAsync(s.ds, "stale events cursor", ingest.Options{})
		}
	}
	total := 0
	for {
		q := workos.EventQuery{After: cur.EventID, Limit: 100}
		if cur.EventID == "" {
			q.RangeStart = cur.Since
		}
		asked := time.Now()
		page, err := w.Client.ListEvents(ctx, q)
		if err != nil {
			return total, err
		}
		evs := page.Events
		if cur.EventID == "" {
			// Not every server honours range_start (WorkOS's own emulator
			// ignores it): older events are the pulls', not to replay.
			evs = skipBefore(evs, cur.Since)
		}
		skipped := len(page.Events) - len(evs)
		n, err := w.applyEvents(ctx, evs, byEvents, &cur)
		n += skipped
		total += n
		switch {
		case n > 0:
			cur.EventID = page.Events[n-1].ID
		case cur.EventID == "" && len(page.Events) == 0:
			cur.Since = asked.Add(-sinceMargin)
		}
		if serr := st.SetCursor(ctx, &cur); serr != nil && err == nil {
			err = serr
		}
		if errors.Is(err, store.ErrCursorMoved) {
			// Another instance polled the same events meanwhile (a leader
			// that has not yet noticed it lost its lease): what this poll
			// read is theirs to apply, and nothing of it was saved here.
			w.Logger.Warn("workos events: another instance moved the cursor meanwhile; this poll stops", "cursor", cur.EventID)
			return total, nil
		}
		if err != nil || n < len(page.Events) || len(page.Events) == 0 || (!page.More && len(page.Events) < q.Limit) {
			if total > 0 {
				w.Logger.Info("workos events read", "events", total, "cursor", cur.EventID)
			}
			return total, err
		}
	}
}

// pulledSince is where a fresh events cursor starts: the earliest of the
// sources' latest full pulls (each read from its start), or the daemon's
// start for a source never pulled, less the clock-skew margin.
func (w *Sync) pulledSince(ctx context.Context) (time.Time, error) {
	since := w.started
	for _, s := range w.sources {
		at, ok, err := w.lastPull(ctx, s)
		if err != nil {
			return since, err
		}
		if ok && at.Before(since) {
			since = at
		}
	}
	return since.Add(-sinceMargin), nil
}

// lastPull returns when the source's latest full pull, applied or found
// unchanged, started.
func (w *Sync) lastPull(ctx context.Context, s *source) (time.Time, bool, error) {
	st := w.Engine.Ingester.Store
	org, err := st.LookupOrg(ctx, s.spec.Org)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	src, err := st.LookupSource(ctx, org.ID, s.spec.Config.Name)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return st.LastFullSnapshot(ctx, src.ID)
}

// skipBefore drops the leading events created before since (events come
// oldest first).
func skipBefore(evs []workos.Event, since time.Time) []workos.Event {
	for len(evs) > 0 && !evs[0].CreatedAt.Time.IsZero() && evs[0].CreatedAt.Time.Before(since) {
		evs = evs[1:]
	}
	return evs
}

// WebhookEvent applies one event received by the webhook endpoint, through
// the same path as the poll; an event already applied is ignored. It fails
// with ErrBusy (so the endpoint answers 500 and WorkOS delivers again)
// while the directory's source is being pulled.
func (w *Sync) WebhookEvent(ctx context.Context, ev workos.Event) error {
	n, err := w.applyEvents(ctx, []workos.Event{ev}, byWebhook, nil)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrBusy
	}
	return nil
}

// pending is the edits of one batch for one source.
type pending struct {
	s     *source
	edits []ingest.Edit
}

// applyEvents applies events, oldest first, and returns how many of them (a
// prefix) were dealt with: applied, ignored, or skipped as repeats or as
// older than what was already applied about the same object. It stops
// before an event for a source being pulled. The edits of the batch go to
// each source as one delta drop; the ids are recorded, so a repeat of any
// of them (a webhook after the poll, or the reverse) is ignored. The ids,
// and cur (when the events come from the poll) moved past them, are saved
// in the transaction of the last delta drop: a crash cannot leave that
// delta applied with its events unrecorded. (With several sources, an
// earlier source's delta commits alone; a crash before the last one
// commits has the events read and applied again, which changes nothing.)
func (w *Sync) applyEvents(ctx context.Context, evs []workos.Event, by string, cur *store.Cursor) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	w.eventsMu.Lock()
	defer w.eventsMu.Unlock()
	st := w.Engine.Ingester.Store
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	done, err := st.EventsApplied(ctx, ids)
	if err != nil {
		return 0, err
	}
	leases := map[*source]*directory.Lease{}
	defer func() {
		for _, l := range leases {
			l.Release()
		}
	}()
	var batches []*pending
	batchOf := func(s *source) *pending {
		for _, b := range batches {
			if b.s == s {
				return b
			}
		}
		b := &pending{s: s}
		batches = append(batches, b)
		return b
	}
	var record []store.AppliedEvent
	var resync []*source
	pulled := map[*source]time.Time{} // each target's latest full pull, less the margin
	pulledAt := func(s *source) (time.Time, error) {
		if at, ok := pulled[s]; ok {
			return at, nil
		}
		at, ok, err := w.lastPull(ctx, s)
		if ok {
			at = at.Add(-pullMargin)
		}
		pulled[s] = at
		return at, err
	}
	n := 0
	for i, ev := range evs {
		if done[ev.ID] || !slices.Contains(workos.DsyncEvents, ev.Event) {
			n = i + 1
			continue
		}
		base, err := workos.MapEvent(ev, workos.DeltaOptions{})
		if err != nil {
			w.Logger.Warn("workos event not understood; skipped", "event_id", ev.ID, "event", ev.Event, "error", err)
			resync = append(resync, w.sources...) // a pull puts right whatever it meant
			n = i + 1
			continue
		}
		targets := w.ownTargets(ev, base, &resync)
		if len(targets) == 0 {
			n = i + 1 // a directory muster does not follow
			continue
		}
		if !leaseAll(targets, leases) {
			break
		}
		applied := store.AppliedEvent{ID: ev.ID, Object: eventObject(ev), Created: ev.CreatedAt.Time}
		stale, err := st.NewerEvent(ctx, applied.Object, applied.Created, ev.ID)
		if err != nil {
			return 0, err
		}
		if stale {
			w.Logger.Info("workos event older than one already applied about the same object; skipped", "event_id", ev.ID,
				"event", ev.Event, "object", applied.Object)
			n = i + 1
			continue
		}
		// A membership added before a newer event about its user (a
		// deletion, a deactivation) arrived late: it may add the group to a
		// person still listed, never list them again.
		lateAdd := false
		if ev.Event == workos.EventGroupUserAdded {
			if lateAdd, err = st.NewerEvent(ctx, "user:"+base.Record.SourceID, applied.Created, ev.ID); err != nil {
				return 0, err
			}
		}
		for _, s := range targets {
			if at, err := pulledAt(s); err != nil {
				return 0, err
			} else if ev.CreatedAt.Time.Before(at) {
				continue // the source's latest full pull read what it says
			}
			ch, err := workos.MapEvent(ev, s.delta)
			if err != nil {
				return 0, err
			}
			ch.IfListed = ch.IfListed || lateAdd
			switch ch.Kind {
			case workos.ChangeIgnore:
			case workos.ChangeResync:
				resync = append(resync, s)
			case workos.ChangeWithdraw:
				if refused, err := w.flush(ctx, leases[s], batchOf(s), by, nil); err != nil {
					return 0, err
				} else if refused {
					resync = append(resync, s)
				}
				if err := w.withdraw(ctx, s, leases[s], ev); err != nil {
					return 0, err
				}
			default:
				b := batchOf(s)
				b.edits = append(b.edits, editOf(ch))
			}
		}
		record = append(record, applied)
		n = i + 1
	}
	last := -1
	for i, b := range batches {
		if len(b.edits) > 0 {
			last = i
		}
	}
	recorded := false
	inTx := func(tx *store.Tx) error {
		if cur != nil && n > 0 {
			c := *cur
			c.EventID = evs[n-1].ID
			if err := tx.SetCursor(c); err != nil {
				return err
			}
		}
		recorded = true
		return tx.RecordEvents(record)
	}
	for i, b := range batches {
		var fn func(*store.Tx) error
		if i == last {
			fn = inTx
		}
		refused, err := w.flush(ctx, leases[b.s], b, by, fn)
		if err != nil {
			return 0, err
		}
		if refused {
			resync = append(resync, b.s)
		}
	}
	if !recorded {
		// No delta was applied (nothing to change, or the guards refused it).
		if err := st.RecordEvents(ctx, record); err != nil {
			return 0, err
		}
	}
	for s, l := range leases {
		l.Release()
		delete(leases, s)
	}
	for _, s := range uniqueSources(resync) {
		w.Engine.PullAsync(s.ds, "events", ingest.Options{})
	}
	return n, nil
}

// ownTargets returns the sources that follow the event's directory and may
// take its changes: a source whose directory must belong to a WorkOS
// organization (or whose organisation's organization is configured) takes
// only events that say they come from it, as its pulls check the directory.
// An event that names no organization has the source pulled instead, which
// checks it.
func (w *Sync) ownTargets(ev workos.Event, ch workos.Change, resync *[]*source) []*source {
	var out []*source
	for _, s := range w.byDir[ch.DirectoryID] {
		err := w.checkDirectoryOrg(s, workos.Directory{ID: ch.DirectoryID, OrganizationID: ch.OrganizationID})
		switch {
		case err == nil:
			out = append(out, s)
		case ch.OrganizationID == "":
			*resync = append(*resync, s)
		default:
			w.Logger.Warn("workos event of a directory of another organization; skipped", "source", s.ds.Key(),
				"event_id", ev.ID, "event", ev.Event, "error", err)
		}
	}
	return out
}

// leaseAll holds the sources not yet held; false if one is being pulled.
func leaseAll(targets []*source, leases map[*source]*directory.Lease) bool {
	for _, s := range targets {
		if leases[s] != nil {
			continue
		}
		l, ok := s.ds.TryAcquire()
		if !ok {
			return false
		}
		leases[s] = l
	}
	return true
}

func uniqueSources(list []*source) []*source {
	var out []*source
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// flush hands a source's pending edits to the engine as one batch, running
// inTx (if set) in its transaction: applied, held by the removal window, or
// queued behind a held drop, the events are dealt with. Only a batch the
// pipeline refuses is reported as refused: a pull puts the source right.
func (w *Sync) flush(ctx context.Context, l *directory.Lease, b *pending, by string, inTx func(*store.Tx) error) (refused bool, err error) {
	if len(b.edits) == 0 {
		return false, nil
	}
	edits := b.edits
	b.edits = nil
	res, err := l.Apply(ctx, directory.Batch{Name: fmt.Sprintf("%s (%d)", by, len(edits)), By: by, Edits: edits, InTx: inTx})
	if err != nil {
		return false, err
	}
	return res.Decision() == string(ingest.Rejected), nil
}

// withdraw applies a deleted directory: once the API confirms it is gone,
// the source's assertions are withdrawn (nobody is offboarded).
func (w *Sync) withdraw(ctx context.Context, s *source, l *directory.Lease, ev workos.Event) error {
	log := w.Logger.With("source", s.ds.Key(), "directory", s.spec.DirectoryID, "event_id", ev.ID)
	dir, err := w.Client.GetDirectory(ctx, s.spec.DirectoryID)
	switch {
	case schema.ErrorCodeOf(err) == schema.ENotFound || (err == nil && dir.Deleting()):
	case err != nil:
		return err
	default:
		log.Warn("dsync.deleted for a directory the API still has; ignored", "state", dir.State)
		return nil
	}
	_, err = l.Withdraw(ctx, "directory "+s.spec.DirectoryID+" deleted in WorkOS", byEvents)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return nil // never pulled: nothing to withdraw
	}
	return err
}

// editKinds maps the directory changes the pipeline applies as edits.
var editKinds = map[workos.ChangeKind]ingest.EditKind{
	workos.ChangeUpsert: ingest.EditUpsert, workos.ChangeOffboard: ingest.EditOffboard,
	workos.ChangeGroupAdd: ingest.EditGroupAdd, workos.ChangeGroupRemove: ingest.EditGroupRemove,
	workos.ChangeGroupRename: ingest.EditGroupRename, workos.ChangeGroupDelete: ingest.EditGroupDelete,
}

// editOf turns a directory change into the pipeline's edit.
func editOf(ch workos.Change) ingest.Edit {
	return ingest.Edit{Kind: editKinds[ch.Kind], Record: ch.Record, IfListed: ch.IfListed, Group: ch.Group, OldGroup: ch.OldGroup}
}

// eventObject names what an event is about, for the staleness check: a
// user, a membership, a group or a directory.
func eventObject(ev workos.Event) string {
	var data struct {
		ID   string `json:"id"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Group struct {
			ID string `json:"id"`
		} `json:"group"`
	}
	json.Unmarshal(ev.Data, &data) // MapEvent already decoded it once
	switch ev.Event {
	case workos.EventGroupUserAdded, workos.EventGroupUserRemoved:
		return "member:" + data.User.ID + ":" + data.Group.ID
	case workos.EventGroupCreated, workos.EventGroupUpdated, workos.EventGroupDeleted:
		return "group:" + data.ID
	case workos.EventDirectoryActivated, workos.EventDirectoryDeleted:
		return "directory:" + data.ID
	}
	return "user:" + data.ID
}
