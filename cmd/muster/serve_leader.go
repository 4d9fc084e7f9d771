package main

import (
	"time"

	"muster/cmd/muster/api"
	"muster/ingest/leader"
)

// openLeader starts following the scheduler's lease: the instance that
// holds it runs the scheduled work (directory pulls, the events poll,
// reconciliation, retention), the others serve everything else and take
// over when it lapses. On SQLite this instance is the only one (serve.lock)
// and leads from start to stop, without a lease.
func (m *Main) openLeader() error {
	e := &leader.Elector{Store: m.Store, Name: "scheduler", TTL: time.Duration(m.Config.Store.Lease),
		Logger: m.Logger.With("component", "leader"), Solo: m.Store.Backend() == "sqlite"}
	if err := e.Open(); err != nil {
		return err
	}
	m.Leader = e
	m.start("leader", e.Close)
	return nil
}

// isLeader reports whether this instance runs the scheduled work now.
func (m *Main) isLeader() bool { return m.Leader != nil && m.Leader.IsLeader() }

// leadership is the lease as /readyz and /metrics show it.
func (m *Main) leadership() api.Leadership {
	if m.Leader == nil {
		return api.NewLeadership(false, 0, 0, 0, "not started")
	}
	st := m.Leader.Status()
	return api.NewLeadership(st.Leader, st.Term, st.Age, m.Leader.TTL, st.Error)
}
