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

	// Authentication state of this connection (only the handshake
	// goroutine touches it).
	triedUser    string
	failedReason string
	unknownUser  bool
	scored       bool // a failed password already scored this connection
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

	name := sconn.Permissions.Extensions[extAccount]
	acc := s.lookup(name)
	switch {
	case acc == nil: // removed while logging in
		c.log.Warn("account removed during login", logAccount, name)
		return
	case !acc.allows(c.ip):
		return // checked at auth already; this is the belt to those braces
	case !s.admitAccount(c, name):
		s.stats.refused.Add(1)
		c.log.Warn("connection refused", logAccount, name, logReason, "too many sessions for this account")
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
	extAccount = "account"
	extMethod  = "method"
	extKeyFP   = "key-fp"
)

var errAuth = errors.New("access denied")

// admitLogin checks what applies to every method; it returns the account,
// or nil and records why not.
func (c *clientConn) admitLogin(user string) *account {
	c.triedUser = user
	if c.srv.def.banned(c.ip) {
		c.failedReason = "address banned"
		return nil
	}
	acc := c.srv.lookup(user)
	if acc == nil {
		c.unknownUser = true
		c.failedReason = "unknown account"
		return nil
	}
	if !acc.allows(c.ip) {
		c.failedReason = "address not allowed for this account"
		return nil
	}
	return acc
}

func (c *clientConn) publicKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	acc := c.admitLogin(meta.User())
	if acc == nil || !acc.hasKey(key) {
		if acc != nil {
			c.failedReason = "key not authorized"
		}
		if c.srv.def.score(c.ip) > 0 {
			c.sleep(c.srv.cfg.FailDelay)
		}
		return nil, errAuth
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
	h := decoyHash
	if acc != nil && acc.password != nil {
		h = acc.password
	}
	// A banned address is refused without spending a check on it.
	banned := acc == nil && c.srv.def.banned(c.ip)
	ok := !banned && c.srv.checkPassword(h, pw) && acc != nil && acc.password != nil
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
		return nil, errAuth
	}
	return &ssh.Permissions{Extensions: map[string]string{extAccount: acc.Name, extMethod: "password"}}, nil
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

// scoreFailure adds a failed attempt to the address's score, unknown
// accounts counting double (they are what scanners try).
func (c *clientConn) scoreFailure() {
	points := 1
	if c.unknownUser {
		points = 2
	}
	if c.srv.def.fail(c.ip, points) {
		c.srv.stats.bans.Add(1)
		c.log.Warn("address banned", logReason, "repeated login failures",
			"for", c.srv.cfg.BanDuration.String())
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
	if c.scored || c.failedReason == "" || c.failedReason == "address banned" {
		return // passwords scored as they failed; a ban needs no more points
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
