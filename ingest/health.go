package ingest

import (
	"context"
	"slices"
	"strings"
	"time"

	"muster/schema"
	"muster/store"
)

// Source states (SourceHealth.State).
const (
	// StateOK: its latest run succeeded and nothing waits for an admin.
	StateOK = "ok"
	// StateFailing: its latest runs failed (a pull that could not be read,
	// a drop rejected); ConsecutiveFailures says how many.
	StateFailing = "failing"
	// StateHeld: a drop of it waits for an admin's decision.
	StateHeld = "held"
	// StateNeverSynced: nothing of it ever arrived.
	StateNeverSynced = "never synced"
	// StateRemoved: removed (`sources remove`).
	StateRemoved = "removed"
)

// ConfiguredSource is a source the config names: it is listed before its
// first drop, and its settings are what the daemon uses.
type ConfiguredSource struct {
	Org    string
	Config SourceConfig
}

// SourceHealth is one source's sync health: what the CLI (`sources list`),
// the API (/v1/sources), the console and readiness show. It is read from
// the store, so any process sees what the daemon's runs recorded.
type SourceHealth struct {
	Org           string           `json:"org"`
	Name          string           `json:"name"`
	Kind          store.SourceKind `json:"kind"`
	Mode          store.Mode       `json:"mode"`
	Priority      int              `json:"priority"`
	Authoritative bool             `json:"authoritative"`
	// Configured: the config names it.
	Configured bool   `json:"configured"`
	State      string `json:"state"`
	// LastAttempt is when its latest run started (a pull) or its latest
	// drop arrived; LastSuccess when the latest that succeeded (applied, or
	// found nothing new) ended.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError is why its latest run failed ("" when it succeeded).
	LastError           string `json:"last_error,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	// NextRun is when the scheduler pulls it next (zero: not scheduled).
	NextRun time.Time `json:"next_run,omitzero"`
	// People is the number of people its current snapshot lists.
	People int64 `json:"people"`
	// HeldDrops counts its drops waiting for an admin; QueuedBatches the
	// batches of edits waiting behind them.
	HeldDrops     int64  `json:"held_drops"`
	QueuedBatches int64  `json:"queued_batches,omitempty"`
	RemovedAt     string `json:"removed_at,omitempty"`
	// Settings are the source's settings: stored (its last drop's or the
	// daemon's), else the config's.
	Settings SourceConfig `json:"settings"`
}

// SourcesHealth returns the health of the organisation's sources, by name:
// those in the store, and those configured that are not (yet) there. An
// organisation not in the store yet has its configured sources, never
// synced.
func (in *Ingester) SourcesHealth(ctx context.Context, orgName string, configured []ConfiguredSource) ([]SourceHealth, error) {
	st := in.Store
	var srcs []store.Source
	var stats []store.SourceStat
	runs, drops := map[int64]store.SourceRun{}, map[int64]store.DropRun{}
	org, err := st.LookupOrg(ctx, orgName)
	switch {
	case err == nil:
		if srcs, err = st.Sources(ctx, org.ID); err != nil {
			return nil, err
		}
		if stats, err = st.SourceStats(ctx, org.ID); err != nil {
			return nil, err
		}
		if runs, err = st.SourceRuns(ctx, org.ID); err != nil {
			return nil, err
		}
		if drops, err = st.DropRuns(ctx, org.ID); err != nil {
			return nil, err
		}
	case schema.ErrorCodeOf(err) != schema.ENotFound:
		return nil, err
	}
	conf := map[string]bool{}
	for _, c := range configured {
		if c.Org == orgName {
			conf[c.Config.Name] = true
		}
	}
	out := []SourceHealth{}
	seen := map[string]bool{}
	for _, s := range srcs {
		h := SourceHealth{Org: orgName, Name: s.Name, Kind: s.Kind, Mode: s.Mode, Priority: s.Priority,
			Authoritative: s.Authoritative, Configured: conf[s.Name], People: s.Rows, RemovedAt: s.RemovedAt,
			Settings: s.SourceConfig}
		for _, sst := range stats {
			if sst.Source == s.Name {
				h.HeldDrops, h.LastSuccess = sst.Held, sst.LastSuccess
			}
		}
		if q, err := st.Queued(ctx, s.ID); err == nil {
			h.QueuedBatches = int64(len(q))
		} else {
			return nil, err
		}
		d := drops[s.ID]
		h.LastAttempt = d.LastDrop
		if d.Rejected > 0 {
			h.ConsecutiveFailures, h.LastError = d.Rejected, rejectReason(d.LastReject)
		}
		if r, ok := runs[s.ID]; ok {
			// A source with runs (a pulled or pushed directory): its runs
			// say what failed, drops or not.
			h.ConsecutiveFailures, h.LastError, h.NextRun = r.Failures, r.LastError, r.NextRun
			h.LastAttempt = later(h.LastAttempt, r.LastAttempt)
		}
		h.settle()
		seen[s.Name] = true
		out = append(out, h)
	}
	for _, c := range configured {
		if c.Org != orgName || seen[c.Config.Name] {
			continue
		}
		cfg := c.Config.WithDefaults()
		h := SourceHealth{Org: orgName, Name: cfg.Name, Kind: cfg.Kind, Mode: cfg.Mode, Priority: cfg.Priority,
			Authoritative: cfg.Authoritative, Configured: true, Settings: cfg}
		h.settle()
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b SourceHealth) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// settle sets the state from the rest.
func (h *SourceHealth) settle() {
	switch {
	case h.RemovedAt != "":
		h.State = StateRemoved
	case h.ConsecutiveFailures > 0:
		h.State = StateFailing
	case h.HeldDrops > 0:
		h.State = StateHeld
	case h.LastSuccess.IsZero() && h.LastAttempt.IsZero():
		h.State = StateNeverSynced
	default:
		h.State = StateOK
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// rejectReason reads the reason of a rejected drop's report.
func rejectReason(report []byte) string {
	rep, err := ParseReport(report)
	if err != nil || rep == nil {
		return "rejected"
	}
	return rep.Reason
}

// EnsureSources records the configured organisations and sources (with
// their settings, deriving again what a change of settings asks), so that
// every command answers about them from the daemon's first start. What is
// already recorded as configured is not written again.
func (in *Ingester) EnsureSources(ctx context.Context, orgs []string, configured []ConfiguredSource) error {
	for _, o := range orgs {
		if _, err := in.Store.LookupOrg(ctx, o); schema.ErrorCodeOf(err) == schema.ENotFound {
			if _, err := in.Store.EnsureOrg(ctx, o); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	for _, c := range configured {
		if _, err := in.EnsureSource(ctx, c.Org, c.Config); err != nil {
			return err
		}
	}
	return nil
}

// EnsureSource records the organisation and the source with cfg (as a drop
// of it would) and returns it; one recorded so already is not written.
func (in *Ingester) EnsureSource(ctx context.Context, orgName string, cfg SourceConfig) (store.Source, error) {
	cfg = cfg.WithDefaults()
	if org, err := in.Store.LookupOrg(ctx, orgName); err == nil {
		src, err := in.Store.LookupSource(ctx, org.ID, cfg.Name)
		if err == nil && src.SourceConfig == cfg && src.RemovedAt == "" {
			return src, nil
		}
	}
	_, src, _, err := in.resolve(ctx, orgName, cfg, false)
	return src, err
}
