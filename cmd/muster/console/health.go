package console

import (
	"context"
	"sort"
	"time"

	"muster/cmd/muster/api"
	"muster/store"
)

// Source states on the Overview.
const (
	StateOK      = "ok"
	StateFailing = "failing"
	StateHeld    = "held"
	StateNever   = "never synced"
)

// SourceHealth is one source's sync health as the Overview shows it.
type SourceHealth struct {
	Name       string
	Kind       store.SourceKind
	Configured bool
	State      string
	// LastAttempt is when its last run or drop ended; LastSuccess when
	// the last one that applied (or found nothing new) did.
	LastAttempt time.Time
	LastSuccess time.Time
	LastError   string
	// NextRun is when the scheduler runs it next (zero: not scheduled, or
	// not known).
	NextRun time.Time
	People  int64
	Held    int64
	CanSync bool
}

// Health says each source's sync health. StoreHealth is the one built on
// what the store and the scheduler tell today; a richer model (issue 11's
// per-source health) replaces it behind this interface.
type Health interface {
	Sources(ctx context.Context, org store.Org) ([]SourceHealth, error)
}

// StoreHealth derives health from the store's source statistics, the
// configured sources and the scheduler's last runs.
type StoreHealth struct {
	Store      *store.Store
	Configured []Source
	Runs       func() []api.RunStatus
	// CanSync says a directory source can be pulled now.
	CanSync bool
}

// Sources lists the organisation's sources: stored ones by name, then
// configured ones that have had no drop yet.
func (h *StoreHealth) Sources(ctx context.Context, org store.Org) ([]SourceHealth, error) {
	var stats []store.SourceStat
	if org.ID != 0 {
		var err error
		if stats, err = h.Store.SourceStats(ctx, org.ID); err != nil {
			return nil, err
		}
	}
	runs := map[string]api.RunStatus{}
	if h.Runs != nil {
		for _, r := range h.Runs() {
			if r.Org == org.Name {
				runs[r.Source] = r
			}
		}
	}
	configured := map[string]Source{}
	for _, s := range h.Configured {
		if s.Org == org.Name {
			configured[s.Name] = s
		}
	}
	var out []SourceHealth
	seen := map[string]bool{}
	for _, st := range stats {
		_, conf := configured[st.Source]
		sh := SourceHealth{Name: st.Source, Kind: st.Kind, Configured: conf, People: st.Rows, Held: st.Held,
			LastSuccess: st.LastSuccess, LastAttempt: st.LastSuccess}
		h.apply(&sh, runs[st.Source])
		seen[st.Source] = true
		out = append(out, sh)
	}
	for _, s := range h.Configured {
		if s.Org == org.Name && !seen[s.Name] {
			sh := SourceHealth{Name: s.Name, Kind: s.Kind, Configured: true}
			h.apply(&sh, runs[s.Name])
			out = append(out, sh)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// apply adds the scheduler's view of a run and settles the state.
func (h *StoreHealth) apply(sh *SourceHealth, r api.RunStatus) {
	if r.LastRun.After(sh.LastAttempt) {
		sh.LastAttempt = r.LastRun
	}
	if r.LastSuccess.After(sh.LastSuccess) {
		sh.LastSuccess = r.LastSuccess
	}
	sh.LastError = r.Err
	sh.CanSync = h.CanSync && sh.Configured && sh.Kind == store.KindWorkOS
	switch {
	case sh.Held > 0:
		sh.State = StateHeld
	case sh.LastError != "":
		sh.State = StateFailing
	case sh.LastSuccess.IsZero():
		sh.State = StateNever
	default:
		sh.State = StateOK
	}
}
