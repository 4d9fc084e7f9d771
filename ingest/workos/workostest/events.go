package workostest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// listEvents implements GET /events as production behaves (§5.1): the events
// filter is required (repeated, comma-joined and events[] forms accepted),
// results are oldest-first whatever order says, and list_metadata has only
// after, null at the end.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var names []string
	for _, v := range append(q["events"], q["events[]"]...) {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		writeJSON(w, http.StatusBadRequest, messageJSON{
			Message: "One or more event names (e.g. dsync.user.created) must be provided using the events parameter.",
			Code:    "invalid_events_request"})
		return
	}
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	var start, end time.Time
	for _, rg := range []struct {
		name string
		t    *time.Time
	}{{"range_start", &start}, {"range_end", &end}} {
		if v := q.Get(rg.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				validationFailed(w, [2]string{rg.name, "must be an ISO-8601 date-time"})
				return
			}
			*rg.t = t
		}
	}
	if s.opts.IgnoreRangeStart {
		start, end = time.Time{}, time.Time{}
	}
	org := q.Get("organization_id")
	s.mu.Lock()
	var match []storedEvent
	if s.opts.EventRetention > 0 {
		if cut := s.now().Add(-s.opts.EventRetention); start.Before(cut) {
			start = cut
		}
	}
	for _, ev := range s.events {
		if slices.Contains(names, ev.name) && (org == "" || ev.org == org) &&
			(start.IsZero() || !ev.at.Before(start)) && (end.IsZero() || !ev.at.After(end)) {
			match = append(match, ev)
		}
	}
	s.mu.Unlock()
	lo, hi := 0, len(match)
	switch {
	case p.after != "":
		for lo < hi && match[lo].id <= p.after {
			lo++
		}
		hi = min(hi, lo+p.limit)
	case p.before != "":
		for hi > lo && match[hi-1].id >= p.before {
			hi--
		}
		lo = max(lo, hi-p.limit)
	default:
		hi = min(hi, p.limit)
	}
	data := make([]json.RawMessage, 0, hi-lo)
	for _, ev := range match[lo:hi] {
		data = append(data, ev.body)
	}
	var after any = jsonNull
	if hi < len(match) && hi > lo {
		after = match[hi-1].id
	}
	writeJSON(w, http.StatusOK, eventListJSON{Object: "list", Data: data, ListMetadata: eventMetadataJSON{After: after}})
}

type eventMetadataJSON struct {
	After any `json:"after"`
}

type eventListJSON struct {
	Object       string            `json:"object"`
	Data         []json.RawMessage `json:"data"`
	ListMetadata eventMetadataJSON `json:"list_metadata"`
}

// Event is an entry of the fake's event log.
type Event struct {
	ID, Name string
	At       time.Time
	// Body is the JSON the Events API and webhooks send.
	Body []byte
}

// Events returns the event log, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Event, len(s.events))
	for i, ev := range s.events {
		out[i] = Event{ID: ev.id, Name: ev.name, At: ev.at, Body: slices.Clone(ev.body)}
	}
	return out
}

// LastEventID returns the id of the newest event, "" when there is none.
func (s *Server) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.events) == 0 {
		return ""
	}
	return s.events[len(s.events)-1].id
}
