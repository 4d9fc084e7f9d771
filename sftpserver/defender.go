package sftpserver

import (
	"net/netip"
	"sync"
	"time"
)

// defender scores failed logins per client address and account, and bans
// what scores too much (Limits): an account from an address, or an address
// altogether (attempts at unknown accounts). Bans are kept in files (see
// bans.go), so a restart keeps them and `muster sftp bans` can list and
// lift them from another process; scores below a ban are in memory only.
type defender struct {
	lim func() *limits
	now func() time.Time // a clock tests can move
	dir string           // where bans are kept ("": in memory only)

	mu     sync.Mutex
	scores map[banKey]*score
	bans   map[banKey]Ban
	synced time.Time // when the ban files were last read
	dirMod time.Time // the folder's time then
}

// banKey is what a score and a ban are about: an address and an account,
// or an address altogether (account "").
type banKey struct {
	ip      netip.Addr
	account string
}

type score struct {
	events []scoreEvent
}

type scoreEvent struct {
	at     time.Time
	points int
}

func newDefender(dir string, lim func() *limits, now func() time.Time) *defender {
	d := &defender{lim: lim, now: now, dir: dir, scores: make(map[banKey]*score), bans: make(map[banKey]Ban)}
	d.load()
	return d
}

// bannedAddr returns the ban of ip as a whole, if any.
func (d *defender) bannedAddr(ip netip.Addr) (Ban, bool) {
	return d.banned(banKey{ip: ip})
}

// bannedLogin returns the ban that refuses account from ip: the address's,
// or the account's from that address.
func (d *defender) bannedLogin(ip netip.Addr, account string) (Ban, bool) {
	if b, ok := d.banned(banKey{ip: ip}); ok {
		return b, true
	}
	return d.banned(banKey{ip: ip, account: account})
}

func (d *defender) banned(k banKey) (Ban, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncLocked()
	b, ok := d.bans[k]
	if !ok || !d.now().Before(b.Until) {
		return Ban{}, false
	}
	return b, true
}

// scoreOf returns the current score of account from ip within the window.
func (d *defender) scoreOf(ip netip.Addr, account string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	sc := d.scores[banKey{ip, account}]
	if sc == nil {
		return 0
	}
	return d.sum(sc, d.now())
}

func (d *defender) sum(sc *score, now time.Time) int {
	window := d.lim().BanWindow
	keep := sc.events[:0]
	total := 0
	for _, e := range sc.events {
		if now.Sub(e.at) < window {
			keep = append(keep, e)
			total += e.points
		}
	}
	sc.events = keep
	return total
}

// fail scores a failed login at account (known: the account's own score
// from ip; unknown: the address's, twice) and returns the ban it caused,
// if any. Safelisted addresses are never scored.
func (d *defender) fail(ip netip.Addr, account, org string, known bool) (Ban, bool) {
	lim := d.lim()
	if lim.safeAddr(ip) {
		return Ban{}, false
	}
	k, points, threshold := banKey{ip, account}, 1, lim.BanThreshold
	if !known {
		k, points, threshold = banKey{ip: ip}, 2, lim.BanAddressThreshold
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	sc := d.scores[k]
	if sc == nil {
		sc = &score{}
		d.scores[k] = sc
	}
	sc.events = append(sc.events, scoreEvent{at: now, points: points})
	total := d.sum(sc, now)
	if total < threshold {
		return Ban{}, false
	}
	if b, ok := d.bans[k]; ok && now.Before(b.Until) {
		return Ban{}, false
	}
	delete(d.scores, k) // the ban is the sentence; a later score starts afresh
	b := Ban{Address: ip.String(), Account: k.account, Since: now.UTC(), Until: now.Add(lim.BanDuration).UTC(), Failures: total}
	if known {
		b.Org = org
	}
	b.Reason = "repeated login failures for this account from this address"
	if k.account == "" {
		b.Reason = "repeated login attempts at unknown accounts from this address"
	}
	d.bans[k] = b
	d.save(b)
	return b, true
}

// prune forgets scores and bans that ran out, so a scan from many
// addresses does not grow memory (or the ban folder) for ever.
func (d *defender) prune() {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for k, sc := range d.scores {
		if d.sum(sc, now) == 0 {
			delete(d.scores, k)
		}
	}
	for k, b := range d.bans {
		if !now.Before(b.Until) {
			delete(d.bans, k)
			removeBanFile(d.dir, b)
		}
	}
}

// list returns the bans in force.
func (d *defender) list() []Ban {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncLocked()
	now := d.now()
	var out []Ban
	for _, b := range d.bans {
		if now.Before(b.Until) {
			out = append(out, b)
		}
	}
	sortBans(out)
	return out
}

// lift removes the bans of address (of one account, or all of them when
// account is "*") and forgets their scores; it returns those lifted.
func (d *defender) lift(address, account string) ([]Ban, error) {
	ip, err := netip.ParseAddr(address)
	if err != nil {
		return nil, errBadAddress(address)
	}
	ip = ip.Unmap()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syncLocked()
	var out []Ban
	for k, b := range d.bans {
		if k.ip != ip || (account != "*" && k.account != account) {
			continue
		}
		if err := removeBanFile(d.dir, b); err != nil {
			return out, err
		}
		delete(d.bans, k)
		delete(d.scores, k)
		out = append(out, b)
	}
	sortBans(out)
	return out, nil
}
