package sftpserver

import (
	"net/netip"
	"sync"
	"time"
)

// defender scores client addresses by failed logins and bans an address
// whose score within the window reaches the threshold. It is in memory only:
// a restart forgives everyone, which is acceptable for a drop box whose
// legitimate clients all use keys.
type defender struct {
	threshold int
	window    time.Duration
	ban       time.Duration
	now       func() time.Time // a clock tests can move

	mu    sync.Mutex
	hosts map[netip.Addr]*hostScore
}

type hostScore struct {
	events      []scoreEvent
	bannedUntil time.Time
}

type scoreEvent struct {
	at     time.Time
	points int
}

func newDefender(threshold int, window, ban time.Duration, now func() time.Time) *defender {
	return &defender{threshold: threshold, window: window, ban: ban, now: now,
		hosts: make(map[netip.Addr]*hostScore)}
}

// banned reports whether ip is banned now.
func (d *defender) banned(ip netip.Addr) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.hosts[ip]
	return h != nil && d.now().Before(h.bannedUntil)
}

// score returns ip's current score within the window.
func (d *defender) score(ip netip.Addr) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.hosts[ip]
	if h == nil {
		return 0
	}
	return d.sum(h, d.now())
}

func (d *defender) sum(h *hostScore, now time.Time) int {
	keep := h.events[:0]
	total := 0
	for _, e := range h.events {
		if now.Sub(e.at) < d.window {
			keep = append(keep, e)
			total += e.points
		}
	}
	h.events = keep
	return total
}

// fail adds points to ip's score and reports whether this banned it.
func (d *defender) fail(ip netip.Addr, points int) (bannedNow bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	h := d.hosts[ip]
	if h == nil {
		h = &hostScore{}
		d.hosts[ip] = h
	}
	h.events = append(h.events, scoreEvent{at: now, points: points})
	if d.sum(h, now) >= d.threshold && !now.Before(h.bannedUntil) {
		h.bannedUntil = now.Add(d.ban)
		h.events = nil // the ban is the sentence; a later score starts afresh
		return true
	}
	return false
}

// prune forgets addresses with nothing left to remember, so a scan from
// many addresses does not grow the map for ever.
func (d *defender) prune() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for ip, h := range d.hosts {
		if d.sum(h, now) == 0 && !now.Before(h.bannedUntil) {
			delete(d.hosts, ip)
		}
	}
}
