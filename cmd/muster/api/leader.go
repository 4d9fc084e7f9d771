package api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Leadership is, among the instances sharing one store, whether this one
// runs the scheduled work (the holder of the scheduler's lease), as
// /readyz and /metrics tell it. It names no instance: /readyz needs no
// token.
type Leadership struct {
	// Role is "leader" or "follower".
	Role string `json:"role"`
	// Term grows each time the lease changes hands.
	Term int64 `json:"term"`
	// LeaseAge is how long ago the lease was last renewed (by whoever
	// holds it): past Lease, nobody leads until another instance takes it.
	LeaseAge float64 `json:"lease_age_seconds"`
	Lease    float64 `json:"lease_seconds"`
	// Error is this instance's last failure to read or renew the lease.
	Error string `json:"error,omitempty"`
}

// NewLeadership builds a Leadership.
func NewLeadership(leader bool, term int64, age, lease time.Duration, err string) Leadership {
	l := Leadership{Role: "follower", Term: term, LeaseAge: age.Seconds(), Lease: lease.Seconds(), Error: err}
	if leader {
		l.Role = "leader"
	}
	return l
}

// WatchLeadership adds the gauges muster_leader (1 on the leader, 0 on a
// follower) and muster_leader_lease_age_seconds, read from fn at scrape
// time.
func (m *Metrics) WatchLeadership(fn func() Leadership) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "leader",
			Help: "1 while this instance holds the scheduler's lease and runs the scheduled work (pulls, events poll, reconciliation, retention), 0 on a follower."},
			func() float64 {
				if fn().Role == "leader" {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "leader_lease_age_seconds",
			Help: "Seconds since the scheduler's lease was last renewed by whichever instance holds it; past the lease's length nobody leads."},
			func() float64 { return fn().LeaseAge }),
	)
}
