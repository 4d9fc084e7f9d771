package sftpserver

import (
	"fmt"
	"net/netip"
	"time"

	"muster/schema"
)

// Limits bound what clients may hold and how failed logins are punished.
// Zero values get the defaults shown. Server.Reload swaps them at run time:
// new connections and logins obey the new values at once.
type Limits struct {
	// MaxConns caps connections in total (default 512), MaxConnsPerAddr
	// those from one client address (default 100: HRIS vendors upload for
	// many customers from a few shared addresses), MaxUnauthenticated
	// those still in key exchange or login (default 100), and
	// MaxSessionsPerAccount the logged-in connections of one account
	// (default 64). 50 uploads at once from one address, to one account,
	// pass on defaults.
	MaxConns              int
	MaxConnsPerAddr       int
	MaxUnauthenticated    int
	MaxSessionsPerAccount int
	// MaxOpenFiles caps the files and folder listings one session holds
	// open at once (default 64).
	MaxOpenFiles int

	// Failed logins are counted per client address and account. An
	// account that fails BanThreshold times (default 10) from an address
	// within BanWindow (default 30m) is refused from that address, any
	// method, for BanDuration (default 30m); other accounts logging in
	// from the same address are not affected. Attempts at unknown accounts
	// (what scanners try) count twice against the address itself, which is
	// refused altogether once it scores BanAddressThreshold (default 100).
	BanThreshold        int
	BanAddressThreshold int
	BanWindow           time.Duration
	BanDuration         time.Duration
	// Safelist lists networks (CIDR, or addresses) whose clients are never
	// banned nor limited per address: a customer's known egress, a
	// monitoring probe.
	Safelist []string

	// MaxFolderDepth is how deep an account may nest folders in its inbox
	// (default 3: /a/b/c); 0 or below, after defaults, is "no folders".
	// MaxFolders caps the folders of one account (default 100).
	MaxFolderDepth int
	MaxFolders     int
}

// Default limits.
const (
	DefaultMaxConns              = 512
	DefaultMaxConnsPerAddr       = 100
	DefaultMaxUnauthenticated    = 100
	DefaultMaxSessionsPerAccount = 64
	DefaultMaxOpenFiles          = 64
	DefaultBanThreshold          = 10
	DefaultBanAddressThreshold   = 100
	DefaultBanWindow             = 30 * time.Minute
	DefaultBanDuration           = 30 * time.Minute
	DefaultMaxFolderDepth        = 3
	DefaultMaxFolders            = 100
)

func (l *Limits) setDefaults() {
	for _, d := range []struct {
		p *int
		v int
	}{{&l.MaxConns, DefaultMaxConns}, {&l.MaxConnsPerAddr, DefaultMaxConnsPerAddr},
		{&l.MaxUnauthenticated, DefaultMaxUnauthenticated}, {&l.MaxSessionsPerAccount, DefaultMaxSessionsPerAccount},
		{&l.MaxOpenFiles, DefaultMaxOpenFiles}, {&l.BanThreshold, DefaultBanThreshold},
		{&l.BanAddressThreshold, DefaultBanAddressThreshold}, {&l.MaxFolderDepth, DefaultMaxFolderDepth},
		{&l.MaxFolders, DefaultMaxFolders}} {
		if *d.p == 0 {
			*d.p = d.v
		}
	}
	if l.BanWindow == 0 {
		l.BanWindow = DefaultBanWindow
	}
	if l.BanDuration == 0 {
		l.BanDuration = DefaultBanDuration
	}
}

// limits is Limits checked, with the safelist parsed.
type limits struct {
	Limits
	safe []netip.Prefix
}

// compileLimits sets l's defaults, checks it and parses the safelist.
// Errors name the field as the config does.
func compileLimits(l Limits) (*limits, error) {
	l.setDefaults()
	for name, v := range map[string]int{"max_connections": l.MaxConns, "max_connections_per_address": l.MaxConnsPerAddr,
		"max_unauthenticated": l.MaxUnauthenticated, "max_sessions_per_account": l.MaxSessionsPerAccount,
		"max_open_files": l.MaxOpenFiles, "ban_threshold": l.BanThreshold, "ban_address_threshold": l.BanAddressThreshold} {
		if v < 0 {
			return nil, schema.Errorf(schema.EInvalid, "sftp.%s: %d is negative", name, v)
		}
	}
	if l.MaxFolders < 0 {
		return nil, schema.Errorf(schema.EInvalid, "sftp.max_folders: %d is negative", l.MaxFolders)
	}
	if l.BanWindow < 0 || l.BanDuration < 0 {
		return nil, schema.Errorf(schema.EInvalid, "sftp.ban_window and sftp.ban_duration must not be negative")
	}
	out := &limits{Limits: l}
	for i, n := range l.Safelist {
		p, err := parseNetwork(n)
		if err != nil {
			return nil, schema.Errorf(schema.EInvalid, "sftp.safelist[%d]: %v", i, err)
		}
		out.safe = append(out.safe, p)
	}
	return out, nil
}

// safe reports whether ip is on the safelist.
func (l *limits) safeAddr(ip netip.Addr) bool {
	for _, p := range l.safe {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// limits returns the limits in force.
func (s *Server) limits() *limits { return s.lim.Load() }

// Reload makes accounts and lim the server's, at run time (issue 15's
// SIGHUP and POST /v1/reload call it): logins from then on use them, and
// the connections they no longer allow are closed: those of accounts
// removed, logged in with a key no longer authorized or with a password
// no longer valid (changed or removed), or from an address the account no
// longer allows. Other sessions go on under the new limits (a lowered
// limit turns away new connections; it closes none). Nothing changes if
// either is invalid.
func (s *Server) Reload(accounts []Account, lim Limits) error {
	l, err := compileLimits(lim)
	if err != nil {
		return err
	}
	m, err := compileAccounts(accounts)
	if err != nil {
		return err
	}
	for _, a := range m {
		if err := s.makeHome(a); err != nil {
			return err
		}
	}
	s.lim.Store(l)
	s.accounts.Store(&m)
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		name := c.accountName()
		if name == "" {
			continue
		}
		if why := c.stillAllowed(m[name]); why != "" {
			s.log.Info("closing session: "+why, logAccount, name, logAddr, c.nc.RemoteAddr().String())
			c.nc.Close()
		}
	}
	return nil
}

// stillAllowed says why the connection's login would not be allowed by
// acc (nil: the account is gone), or "".
func (c *clientConn) stillAllowed(acc *account) string {
	login := c.login.Load()
	switch {
	case acc == nil:
		return "its account was removed"
	case !acc.allows(c.ip):
		return "its address is no longer allowed for the account"
	case login == nil:
		return ""
	case login.method == "publickey" && !acc.hasKeyFP(login.keyFP):
		return "the key it logged in with was removed"
	case login.method != "publickey" && (acc.password == nil || acc.PasswordHash != login.passwordHash):
		return "the password it logged in with was changed or removed"
	}
	return ""
}

// loginInfo is how a connection logged in, to tell whether a reload
// still allows it.
type loginInfo struct {
	method       string
	keyFP        string // SHA256 fingerprint, for publickey
	passwordHash string // the account's hash when it logged in with a password
}

// describe a limit for a refusal's message.
func limitMsg(what string, n int) string {
	return fmt.Sprintf("%s (limit %d)", what, n)
}

// ValidateLimits checks l as Reload would, and returns it with the
// defaults filled in; errors name the config key (sftp.max_folders: ...).
func ValidateLimits(l Limits) (Limits, error) {
	c, err := compileLimits(l)
	if err != nil {
		return l, err
	}
	return c.Limits, nil
}
