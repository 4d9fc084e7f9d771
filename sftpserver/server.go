// Package sftpserver is muster's embedded SFTP drop box: HRIS systems log in
// with a key (or a password) and upload exports into their account's inbox.
//
// Each account sees its inbox as "/" (so "put file.csv" lands there) and a
// read-only "/reports" folder where the pipeline writes results. Uploads are
// written to a private staging file and moved into the inbox only when the
// client closes the file cleanly; then Config.OnUpload announces them. The
// package knows nothing of CSV: it hands over committed files.
//
// It is the only importer of github.com/pkg/sftp and golang.org/x/crypto/ssh.
package sftpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"muster/schema"
)

func init() {
	// Advertise only what the handler implements and allows: no hardlink.
	// This is package-global in pkg/sftp, and this package is its only user.
	_ = sftp.SetSFTPExtensions("posix-rename@openssh.com", "statvfs@openssh.com")
}

// Log attribute keys.
const (
	logAccount = "account"
	logOrg     = "org"
	logAddr    = "addr"
	logMethod  = "method"
	logReason  = "reason"
	logName    = "name"
	logBytes   = "bytes"
	logSHA256  = "sha256"
	logElapsed = "duration"
	logOutcome = "outcome"
	logErr     = "err"
)

// serverVersion is the SSH version line: the product, no build details.
const serverVersion = "SSH-2.0-muster"

// Server is the SFTP drop box. Create it with New, start it with Open, stop
// it with Close.
type Server struct {
	cfg      Config
	log      *slog.Logger
	base     ssh.ServerConfig // host keys and algorithms; copied per connection
	hostKeys []HostKey
	def      *defender
	stats    counters

	accounts atomic.Pointer[map[string]*account]
	lim      atomic.Pointer[limits]
	refusing chan struct{} // one per refused connection being told why
	refusals refusalLog

	// hashing counts password checks running now, hashPeak the most at
	// once (tests read it): each argon2id check allocates its memory
	// parameter (19 MiB by default) before any login has succeeded.
	hashing, hashPeak atomic.Int64
	hashSlots         chan struct{} // one per check allowed at once
	windows           windowBudget  // staging buffers of all uploads

	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // connections, announcements, janitor

	hand handover // committed uploads not yet announced (handover.go)

	mu         sync.Mutex
	closed     bool
	conns      map[*clientConn]struct{}
	perAddr    map[netip.Addr]int
	perAccount map[string]int
	unauth     int // connections not logged in yet
}

// New checks cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lim, err := compileLimits(cfg.Limits)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "sftp"),
		refusing:   make(chan struct{}, maxRefusing),
		conns:      make(map[*clientConn]struct{}),
		perAddr:    make(map[netip.Addr]int),
		perAccount: make(map[string]int),
		hashSlots:  make(chan struct{}, maxConcurrentHashes()),
	}
	s.windows.max = maxStageWindows
	s.lim.Store(lim)
	s.def = newDefender(cfg.Dir, s.limits, cfg.now)
	accounts, err := compileAccounts(cfg.Accounts)
	if err != nil {
		return nil, err
	}
	s.accounts.Store(&accounts)
	s.hand.init()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Open loads (or on first start generates) the host keys, prepares every
// account's home and starts listening. It returns once the port is bound.
func (s *Server) Open() error {
	signers, infos, err := loadHostKeys(s.cfg.Dir)
	if err != nil {
		return err
	}
	s.hostKeys = infos
	for _, hk := range infos {
		s.log.Info("host key", "type", hk.Type, "fingerprint", hk.Fingerprint)
	}
	algs := ssh.SupportedAlgorithms()
	s.base = ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: algs.KeyExchanges,
			Ciphers:      s.cfg.Ciphers,
			MACs:         algs.MACs,
		},
		PublicKeyAuthAlgorithms: algs.PublicKeyAuths,
		MaxAuthTries:            6,
		ServerVersion:           serverVersion,
	}
	for _, k := range signers {
		s.base.AddHostKey(k)
	}
	if err := s.SetAccounts(s.cfg.Accounts); err != nil {
		return err
	}
	s.clearStaging()
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("sftp listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.log.Info("listening", logAddr, ln.Addr().String())
	s.wg.Add(2)
	go s.acceptLoop()
	go s.janitor()
	go s.handoverLoop()
	return nil
}

// Addr returns the address the server listens on, once Open has returned.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// HostKeys returns the server's host keys and fingerprints, once Open has
// returned, for operators and for clients' known_hosts files.
func (s *Server) HostKeys() []HostKey { return s.hostKeys }

// Close stops accepting, closes every connection (an upload in progress is
// abandoned, never announced; the committed uploads of the sessions closed
// are handed over) and waits up to CloseTimeout for connections and
// announcements to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.cancel()
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		// Every session has ended, so every pending upload is queued.
		close(s.hand.stop)
		if s.ln != nil {
			<-s.hand.done
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.cfg.CloseTimeout):
		return errors.New("sftp close: timed out waiting for connections to finish")
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// SetAccounts validates list and makes it the server's accounts, keeping
// the limits: see Reload.
func (s *Server) SetAccounts(list []Account) error {
	return s.Reload(list, s.limits().Limits)
}

func (s *Server) lookup(name string) *account {
	m := s.accounts.Load()
	if m == nil {
		return nil
	}
	return (*m)[name]
}

// homeDir is the host directory of an account's home.
func (s *Server) homeDir(a *account) string {
	return filepath.Join(s.cfg.Dir, "home", a.Org, a.Name)
}

func (s *Server) makeHome(a *account) error {
	home := s.homeDir(a)
	for _, d := range []string{inboxDir, reportsDirName, stagingDir} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o750); err != nil {
			return fmt.Errorf("account %s: create home: %w", a.Name, err)
		}
	}
	return nil
}

// Host directory names inside an account's home.
const (
	inboxDir   = "inbox"
	stagingDir = ".staging"
)

// InboxDir returns the host path of an account's inbox, where committed
// uploads are, for the pipeline's rescan on start (which must skip names
// for which schema.IsTempName is true). It works from New on.
func (s *Server) InboxDir(account string) (string, error) {
	a := s.lookup(account)
	if a == nil {
		return "", schema.Errorf(schema.ENotFound, "sftp account %q not found", account)
	}
	return filepath.Join(s.homeDir(a), inboxDir), nil
}

// ReportsDir returns the host path of an account's reports folder, which
// the account sees read-only as /reports.
func (s *Server) ReportsDir(account string) (string, error) {
	a := s.lookup(account)
	if a == nil {
		return "", schema.Errorf(schema.ENotFound, "sftp account %q not found", account)
	}
	return filepath.Join(s.homeDir(a), reportsDirName), nil
}

// WriteReport writes data as /reports/<name> of account, atomically (a
// client never reads half a report), replacing any report of that name.
// name may hold folders (an upload in /exports/hr has its reports in
// /reports/exports/hr/), which are made as needed.
func (s *Server) WriteReport(account, name string, data []byte) error {
	dir, err := s.ReportsDir(account)
	if err != nil {
		return err
	}
	for _, part := range strings.Split(name, "/") {
		// A report's name is an upload's (at most maxNameLen) with a
		// suffix: it may use what the file system holds.
		if why := checkName(part, 255-len(".tmp--1234567890")); why != "" {
			return schema.Errorf(schema.EInvalid, "report name %q: %s", name, why)
		}
	}
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("write report for %s: %w", account, err)
	}
	if err := writeFileAtomic(p, data, 0o640, true); err != nil {
		return fmt.Errorf("write report %s for %s: %w", name, account, err)
	}
	return nil
}

// clearStaging removes staging files left by a previous run: they belong to
// transfers that never finished, which must not be announced.
func (s *Server) clearStaging() {
	for _, a := range *s.accounts.Load() {
		dir := filepath.Join(s.homeDir(a), stagingDir)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		if len(entries) > 0 {
			s.log.Info("removed unfinished uploads from a previous run", logAccount, a.Name, "count", len(entries))
		}
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, do not spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", logErr, err)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		s.stats.connections.Add(1)
		c := s.newClientConn(nc)
		if c == nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.release(c)
			c.serve()
		}()
	}
}

// newClientConn admits nc or turns it away, telling it why: banned
// addresses and connections over a limit are refused before any key
// exchange.
func (s *Server) newClientConn(nc net.Conn) *clientConn {
	ip := addrIP(nc.RemoteAddr())
	if b, ok := s.def.bannedAddr(ip); ok {
		s.refuse(nc, ip, disconnectHostNotAllowed, "address banned until "+b.Until.Format(time.RFC3339)+": "+b.Reason)
		return nil
	}
	lim := s.limits()
	s.mu.Lock()
	defer s.mu.Unlock()
	reason := ""
	switch {
	case s.closed:
		nc.Close()
		return nil
	case len(s.conns) >= lim.MaxConns:
		reason = limitMsg("too many connections to the server", lim.MaxConns)
	case s.perAddr[ip] >= lim.MaxConnsPerAddr && !lim.safeAddr(ip):
		reason = limitMsg("too many connections from your address", lim.MaxConnsPerAddr)
	case s.unauth >= lim.MaxUnauthenticated:
		reason = limitMsg("too many connections logging in at once", lim.MaxUnauthenticated)
	}
	if reason != "" {
		s.refuse(nc, ip, disconnectTooManyConnections, reason+"; try again later")
		return nil
	}
	c := &clientConn{srv: s, nc: nc, ip: ip, log: s.log.With(logAddr, nc.RemoteAddr().String())}
	s.conns[c] = struct{}{}
	s.perAddr[ip]++
	s.unauth++
	s.stats.active.Add(1)
	return c
}

// loggedIn notes that c is past authentication: it no longer counts as
// logging in.
func (s *Server) loggedIn(c *clientConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.authed {
		c.authed = true
		s.unauth--
	}
}

func (s *Server) release(c *clientConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.perAddr[c.ip]--; s.perAddr[c.ip] <= 0 {
		delete(s.perAddr, c.ip)
	}
	if !c.authed {
		c.authed = true
		s.unauth--
	}
	if name := c.accountName(); name != "" {
		if s.perAccount[name]--; s.perAccount[name] <= 0 {
			delete(s.perAccount, name)
		}
	}
	s.stats.active.Add(-1)
}

// sessionsOf returns the logged-in connections of an account.
func (s *Server) sessionsOf(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perAccount[name]
}

// admitAccount counts a logged-in connection against its account's limit.
func (s *Server) admitAccount(c *clientConn, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perAccount[name] >= s.limits().MaxSessionsPerAccount {
		return false
	}
	s.perAccount[name]++
	c.account.Store(&name)
	return true
}

// janitor deletes temporary-named files nobody came back for, and lets the
// defender forget old scores.
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.sweepTemp()
		s.def.prune()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
	}
}

func (s *Server) sweepTemp() {
	cutoff := time.Now().Add(-s.cfg.TempMaxAge)
	for _, a := range *s.accounts.Load() {
		s.sweepDir(a, filepath.Join(s.homeDir(a), inboxDir), cutoff, 0)
	}
}

func (s *Server) sweepDir(a *account, dir string, cutoff time.Time, depth int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() && depth < maxWalkDepth {
			s.sweepDir(a, p, cutoff, depth+1)
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !schema.IsTempName(e.Name()) || changeTime(info).After(cutoff) {
			continue
		}
		if os.Remove(p) == nil {
			s.log.Info("removed stale temporary upload", logAccount, a.Name, logName, e.Name())
		}
	}
}

func addrIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
