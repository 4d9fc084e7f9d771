package sftpserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxChannelsPerConn caps session channels on one connection: a client
// needs one, an odd one opens a second; more is abuse.
const maxChannelsPerConn = 4

// clientConn is one TCP connection from accept to close.
type clientConn struct {
	srv *Server
	nc  net.Conn
	ip  netip.Addr
	log *slog.Logger

	account     atomic.Pointer[string] // set once logged in and admitted
	activity    atomic.Int64           // unix nanos of the last SFTP packet
	probeLogged atomic.Bool            // a refused request was logged

	// authed is set once the connection is past authentication (under
	// the server's mu): it no longer counts as logging in.
	authed bool
	// login says how it logged in, for Reload.
	login atomic.Pointer[loginInfo]

	// Authentication state of this connection (only the handshake
	// goroutine touches it).
	triedUser    string
	failedReason string
	unknownUser  bool
	scored       bool   // a failed password already scored this connection
	banner       string // why logins are refused, told the client once
	bannerSent   bool
	// offNetwork: refused by the account's allow_networks. Told, and still
	// scored as a failure (so probing account names from outside costs a
	// ban as for unknown accounts).
	offNetwork bool
}

func (c *clientConn) accountName() string {
	if p := c.account.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *clientConn) touch() { c.activity.Store(time.Now().UnixNano()) }

func (c *clientConn) serve() {
	s := c.srv
	defer c.nc.Close()
	_ = c.nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sc := s.base // copy: the callbacks close over this connection
	sc.PublicKeyCallback = c.publicKey
	sc.PasswordCallback = c.password
	sc.KeyboardInteractiveCallback = c.keyboardInteractive
	sc.AuthLogCallback = c.authLog
	sconn, chans, reqs, err := ssh.NewServerConn(c.nc, &sc)
	if err != nil {
		c.handshakeFailed(err)
		return
	}
	defer sconn.Close()
	_ = c.nc.SetDeadline(time.Time{})
	s.loggedIn(c)

	ext := sconn.Permissions.Extensions
	name := ext[extAccount]
	c.login.Store(&loginInfo{method: ext[extMethod], keyFP: ext[extKeyFP], passwordHash: ext[extPassword]})
	acc := s.lookup(name)
	switch {
	case acc == nil: // removed while logging in
		c.log.Warn("account removed during login", logAccount, name)
		return
	case c.stillAllowed(acc) != "":
		return // checked at auth already; this is the belt to those braces
	case !s.admitAccount(c, name):
		// Checked at auth (and told); two logins raced for the last slot.
		s.stats.refused.Add(1)
		c.log.Warn("connection refused", logAccount, name, logReason,
			limitMsg("too many sessions for this account", s.limits().MaxSessionsPerAccount))
		return
	}
	c.log = c.log.With(logAccount, name, logOrg, acc.Org)
	c.log.Info("session start", "client", string(sconn.ClientVersion()))
	c.touch()

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.globalRequests(reqs) }()
	go func() { defer wg.Done(); c.watchdog(sconn, done) }()
	c.channels(acc, chans)
	close(done)
	sconn.Close()
	wg.Wait()
	c.log.Info("session end")
}

// globalRequests refuses every global request, tcpip-forward (ssh -R)
// included.
func (c *clientConn) globalRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		if r.Type == "tcpip-forward" || r.Type == "streamlocal-forward@openssh.com" {
			c.log.Warn("request refused", "type", r.Type)
		}
		if r.WantReply {
			_ = r.Reply(false, nil)
		}
	}
}

// channels accepts session channels (up to the limit) and refuses every
// other kind: direct-tcpip (ssh -L), x11, agent forwarding.
func (c *clientConn) channels(acc *account, chans <-chan ssh.NewChannel) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var open atomic.Int32
	for nch := range chans {
		if nch.ChannelType() != "session" {
			c.log.Warn("channel refused", "type", nch.ChannelType())
			_ = nch.Reject(ssh.Prohibited, "only the sftp subsystem is available")
			continue
		}
		if open.Load() >= maxChannelsPerConn {
			_ = nch.Reject(ssh.ResourceShortage, "too many sessions on this connection")
			continue
		}
		ch, reqs, err := nch.Accept()
		if err != nil {
			continue
		}
		open.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer open.Add(-1)
			c.session(acc, ch, reqs)
		}()
	}
}

// watchdog closes the connection when it has been idle too long or stops
// answering keepalives.
func (c *clientConn) watchdog(sconn *ssh.ServerConn, done <-chan struct{}) {
	s := c.srv
	every := min(s.cfg.KeepAliveInterval, s.cfg.IdleTimeout)
	t := time.NewTicker(every)
	defer t.Stop()
	var lastReply atomic.Int64
	lastReply.Store(time.Now().UnixNano())
	var pending atomic.Bool
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		now := time.Now()
		if idle := now.Sub(time.Unix(0, c.activity.Load())); idle >= s.cfg.IdleTimeout {
			c.log.Info("closing idle connection", "idle", idle.Round(time.Second).String())
			sconn.Close()
			return
		}
		if silent := now.Sub(time.Unix(0, lastReply.Load())); silent >= time.Duration(s.cfg.KeepAliveMax)*s.cfg.KeepAliveInterval {
			c.log.Info("closing connection: keepalives unanswered")
			sconn.Close()
			return
		}
		if pending.CompareAndSwap(false, true) {
			go func() {
				defer pending.Store(false)
				// Any reply, even a refusal, proves the peer is alive.
				if _, _, err := sconn.SendRequest("keepalive@openssh.com", true, nil); err == nil {
					lastReply.Store(time.Now().UnixNano())
				}
			}()
		}
	}
}

// Permissions.Extensions keys: the only place the login's identity lives
// (state outside it could be stale, CVE-2024-45337).
const (
	extAccount  = "account"
	extMethod   = "method"
	extKeyFP    = "key-fp"
	extPassword = "password-hash" // the hash checked, so a reload can tell it changed
)

var errAuth = errors.New("access denied")

// admitLogin checks what applies to every method; it returns the account,
// or nil and records why not (and, for a ban or a limit, what to tell the
// client).
func (c *clientConn) admitLogin(user string) *account {
	c.triedUser = user
	s := c.srv
	if b, ok := s.def.bannedLogin(c.ip, user); ok {
		c.failedReason = "banned"
		c.banner = fmt.Sprintf("muster: logins to %q from your address are refused until %s: %s.\r\n",
			clip(user, 64), b.Until.Format(time.RFC3339), b.Reason)
		return nil
	}
	acc := s.lookup(user)
	if acc == nil {
		c.unknownUser = true
		c.failedReason = "unknown account"
		return nil
	}
	if !acc.allows(c.ip) {
		c.failedReason = "address not allowed for this account"
		// Told, or the client sees only "Permission denied" and its admin
		// looks for a wrong key (issue 15).
		c.banner = fmt.Sprintf("muster: account %q may not log in from %s: it is not in the account's allow_networks.\r\n",
			acc.Name, c.ip)
		c.offNetwork = true
		return nil
	}
	if max := s.limits().MaxSessionsPerAccount; s.sessionsOf(acc.Name) >= max {
		c.failedReason = limitMsg("too many sessions for this account", max)
		c.banner = fmt.Sprintf("muster: account %q has too many sessions open (limit %d); try again later.\r\n", acc.Name, max)
		return nil
	}
	return acc
}

// refused is the error a login gets: with the reason for the client when
// there is one it may know (a ban, a limit), told once per connection.
func (c *clientConn) refused() error {
	if c.banner == "" || c.bannerSent {
		return errAuth
	}
	c.bannerSent = true
	return &ssh.BannerError{Err: errAuth, Message: c.banner}
}

func (c *clientConn) publicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	acc := c.admitLogin(meta.User())
	if acc == nil || !acc.hasKey(key) {
		if acc != nil {
			c.failedReason = "key not authorized"
		}
		if c.banner == "" && c.srv.def.scoreOf(c.ip, meta.User()) > 0 {
			c.sleep(c.srv.cfg.FailDelay)
		}
		return nil, c.refused()
	}
	// This callback also runs for keys the client only asks about; the
	// identity goes into Permissions, which x/crypto binds to the key whose
	// signature is then verified.
	return &ssh.Permissions{Extensions: map[string]string{
		extAccount: acc.Name, extMethod: "publickey", extKeyFP: ssh.FingerprintSHA256(key),
	}}, nil
}

func (c *clientConn) password(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	acc := c.admitLogin(meta.User())
	if acc == nil && c.banner != "" {
		// Banned, over a limit, or off the account's networks: refused
		// without spending a check.
		if c.offNetwork && !c.scored {
			c.scoreFailure()
			c.scored = true
		}
		return nil, c.refused()
	}
	h := decoyHash
	if acc != nil && acc.password != nil {
		h = acc.password
	}
	ok := c.srv.checkPassword(h, pw) && acc != nil && acc.password != nil
	if !ok {
		if acc != nil {
			c.failedReason = "wrong password"
			if acc.password == nil {
				c.failedReason = "password login not enabled for this account"
			}
		}
		c.scoreFailure()
		c.scored = true
		c.sleep(c.srv.cfg.FailDelay)
		return nil, c.refused()
	}
	return &ssh.Permissions{Extensions: map[string]string{extAccount: acc.Name, extMethod: "password",
		extPassword: acc.PasswordHash}}, nil
}

// checkPassword checks pw against h, waiting for a free slot first so
// that a burst of guesses cannot make the server allocate without bound.
func (s *Server) checkPassword(h *passwordHash, pw []byte) bool {
	select {
	case s.hashSlots <- struct{}{}:
		defer func() { <-s.hashSlots }()
	case <-s.ctx.Done():
		return false
	}
	notePeak(&s.hashPeak, s.hashing.Add(1))
	defer s.hashing.Add(-1)
	return h.check(pw)
}

// keyboardInteractive asks for the password: some Java and GUI clients try
// only this method.
func (c *clientConn) keyboardInteractive(meta ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	answers, err := client("", "", []string{"Password: "}, []bool{false})
	if err != nil || len(answers) != 1 {
		return nil, errAuth
	}
	p, err := c.password(meta, []byte(answers[0]))
	if p != nil {
		p.Extensions[extMethod] = "keyboard-interactive"
	}
	return p, err
}

// scoreFailure counts a failed attempt against the account from this
// address, or against the address itself for an unknown account (what
// scanners try).
func (c *clientConn) scoreFailure() {
	user, org := clip(c.triedUser, 64), ""
	if acc := c.srv.lookup(c.triedUser); acc != nil {
		org = acc.Org
	}
	if b, ok := c.srv.def.fail(c.ip, user, org, !c.unknownUser); ok {
		c.srv.stats.bans.Add(1)
		if f := c.srv.cfg.OnBan; f != nil {
			f(b)
		}
		attrs := []any{logReason, b.Reason, "until", b.Until.Format(time.RFC3339), "failures", b.Failures}
		if b.Account != "" {
			attrs = append(attrs, logAccount, b.Account)
			c.log.Warn("account banned from this address", attrs...)
			return
		}
		c.log.Warn("address banned", attrs...)
	}
}

func (c *clientConn) sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-c.srv.ctx.Done():
	}
}

// authLog logs every authentication attempt except the "none" probe every
// client starts with. Passwords and keys are never logged.
func (c *clientConn) authLog(meta ssh.ConnMetadata, method string, err error) {
	if method == "none" {
		return
	}
	user := clip(meta.User(), 64)
	if err == nil {
		c.srv.stats.authOK.Add(1)
		c.log.Info("login", logAccount, user, logMethod, method)
		return
	}
	c.srv.stats.authFail.Add(1)
	var partial *ssh.PartialSuccessError
	if errors.As(err, &partial) {
		return
	}
	c.log.Warn("login failed", logAccount, user, logMethod, method, logReason, c.failedReason)
}

// handshakeFailed records a connection that never logged in. A key-only
// failure scores once per connection (clients offer several keys, each a
// failed attempt, on the way to the right one).
func (c *clientConn) handshakeFailed(err error) {
	if c.triedUser == "" {
		c.log.Debug("handshake ended before login", logErr, err)
		return
	}
	if c.scored || c.failedReason == "" || c.banner != "" && !c.offNetwork {
		return // passwords scored as they failed; a ban or a limit scores nothing
	}
	c.scoreFailure()
}

func clip(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("%s...", s[:n])
	}
	return s
}

// maxConcurrentHashes is how many password checks may run at once: one
// per CPU keeps every CPU busy (argon2id here uses one lane) while the
// memory they hold stays a few times 19 MiB.
func maxConcurrentHashes() int { return max(2, runtime.GOMAXPROCS(0)) }
