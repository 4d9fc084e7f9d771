package sftpserver

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"muster/schema"
)

// A committed upload is not handed over (Config.OnUpload) at once: it stays
// in the inbox, where its client sees it as OpenSSH would show it (listed,
// stat'ed, its times and mode set, read back, resumed, renamed), until the
// SFTP session that wrote it ends or it has been left untouched for
// Config.Settle. Clients touch their file after closing it (rclone sets its
// time and stats it, paramiko stats it, WinSCP sets its time, `reput`
// appends to it), and a file taken away at once fails them.
//
// Every committed upload under a normal name is announced exactly once:
// handed over, or superseded (Upload.Superseded) when the client replaced
// it with another upload of the same name, removed it, or renamed it to a
// temporary name before it was handed over. Only the version handed over
// is the file the pipeline reads.

// pendState is where a pending upload stands.
type pendState int

const (
	pendWaiting    pendState = iota // in the inbox, its session may still touch it
	pendHanding                     // queued for handover
	pendSuperseded                  // replaced, removed or renamed away: announced as superseded
	pendDone                        // announced
)

// pending is a committed upload not yet announced.
type pending struct {
	seq   uint64 // commit order
	up    Upload
	h     *handler    // the session that committed it
	f     *os.File    // the committed file, open: hashed, and compared at handover
	timer *time.Timer // the settle timer
	state pendState

	hashed    chan struct{} // closed once up.Size and up.SHA256 are set (or err)
	err       error
	announced chan struct{} // closed once OnUpload has been told
}

// handover is the Server's bookkeeping of pending uploads. Its mutex also
// serialises every rename into an inbox with the handovers, so the file a
// handover names is the one it hashed (a commit of the same name waits).
type handover struct {
	mu      sync.Mutex
	pend    map[string]*pending // by host path
	writing map[string]int      // host path -> uploads open for writing on it
	queue   []*pending          // superseded or due, in order
	seq     uint64              // last pending.seq given
	wake    chan struct{}
	stop    chan struct{} // closed by Close once no session is left
	done    chan struct{} // closed when the worker has finished the queue
}

func (ho *handover) init() {
	ho.pend = make(map[string]*pending)
	ho.writing = make(map[string]int)
	ho.wake = make(chan struct{}, 1)
	ho.stop = make(chan struct{})
	ho.done = make(chan struct{})
}

// enqueue queues p for announcement; ho.mu is held.
func (ho *handover) enqueue(p *pending) {
	ho.queue = append(ho.queue, p)
	select {
	case ho.wake <- struct{}{}:
	default:
	}
}

// addPending records a file just committed into the inbox as name by h's
// session; f is the committed file, open. An earlier pending upload of the
// same path is superseded. The caller holds ho.mu (it has just renamed the
// file into place under it).
func (s *Server) addPending(h *handler, f *os.File, name string, started, committed time.Time) {
	ho := &s.hand
	acc := h.acc
	p := &pending{h: h, f: f, hashed: make(chan struct{}), announced: make(chan struct{}), up: Upload{Org: acc.Org, Account: acc.Name,
		Source: acc.Source, Name: name, Path: filepath.Join(h.inboxPath, filepath.FromSlash(name)),
		Started: started, Duration: committed.Sub(started), RemoteAddr: h.c.nc.RemoteAddr().String(), log: h.c.log}}
	if old := ho.pend[p.up.Path]; old != nil {
		s.supersede(old, "replaced by a later upload of the same name before it was taken")
	}
	ho.seq++
	p.seq = ho.seq
	ho.pend[p.up.Path] = p
	p.timer = time.AfterFunc(s.cfg.Settle, func() { s.settled(p) })
	// Hashing runs beside the session: the client has its answer already.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(p.hashed)
		sum := sha256.New()
		buf := windowPool.Get().(*[]byte)
		n, err := io.CopyBuffer(sum, io.NewSectionReader(f, 0, 1<<62), *buf)
		windowPool.Put(buf)
		if err == nil {
			err = f.Sync()
		}
		p.err = err
		p.up.Size, p.up.SHA256 = n, hex.EncodeToString(sum.Sum(nil))
	}()
	h.c.log.Debug("upload committed", logName, name, logElapsed, p.up.Duration.Round(time.Millisecond).String())
}

// supersede retires p: its file was replaced, removed or renamed to a
// temporary name by its client before it was taken. ho.mu is held.
func (s *Server) supersede(p *pending, why string) {
	if p.state == pendSuperseded || p.state == pendDone {
		return
	}
	if p.state == pendWaiting {
		s.hand.enqueue(p)
	}
	p.timer.Stop()
	p.state = pendSuperseded
	p.up.Superseded, p.up.Reason = true, why
	if s.hand.pend[p.up.Path] == p {
		delete(s.hand.pend, p.up.Path)
	}
}

// due queues p for handover now. ho.mu is held.
func (s *Server) due(p *pending) {
	if p.state != pendWaiting {
		return
	}
	p.timer.Stop()
	p.state = pendHanding
	s.hand.enqueue(p)
}

// settled is p's settle timer: it is taken unless an upload is writing to
// its name again, in which case it waits another settle time.
func (s *Server) settled(p *pending) {
	ho := &s.hand
	ho.mu.Lock()
	defer ho.mu.Unlock()
	if p.state != pendWaiting {
		return
	}
	if ho.writing[p.up.Path] > 0 {
		p.timer.Reset(s.cfg.Settle)
		return
	}
	s.due(p)
}

// lockPaths takes ho.mu once no upload at any of the host paths is being
// handed over: a file its session has closed for good is handed over
// before another upload (or a rename, or a removal) may replace it.
func (s *Server) lockPaths(paths ...string) {
	ho := &s.hand
	for {
		ho.mu.Lock()
		var busy *pending
		for _, p := range paths {
			if q := ho.pend[p]; q != nil && q.state == pendHanding {
				busy = q
				break
			}
		}
		if busy == nil {
			return
		}
		ho.mu.Unlock()
		<-busy.announced
	}
}

// touched restarts the settle time of a pending upload at host path p: its
// client did something to it (set its times, opened it to write).
func (s *Server) touched(p string) {
	ho := &s.hand
	ho.mu.Lock()
	defer ho.mu.Unlock()
	if pu := ho.pend[p]; pu != nil && pu.state == pendWaiting {
		pu.timer.Reset(s.cfg.Settle)
	}
}

// sessionEnded hands over every pending upload of h's session, in the
// order they were committed.
func (s *Server) sessionEnded(h *handler) {
	ho := &s.hand
	ho.mu.Lock()
	defer ho.mu.Unlock()
	var mine []*pending
	for _, p := range ho.pend {
		if p.h == h {
			mine = append(mine, p)
		}
	}
	slices.SortFunc(mine, func(a, b *pending) int { return cmp.Compare(a.seq, b.seq) })
	for _, p := range mine {
		s.due(p)
	}
}

// writeStarted and writeEnded count the uploads open on host path p, so a
// file being written to again is not handed over meanwhile.
func (s *Server) writeStarted(p string) {
	s.hand.mu.Lock()
	s.hand.writing[p]++
	s.hand.mu.Unlock()
	s.touched(p)
}

func (s *Server) writeEnded(p string) {
	s.hand.mu.Lock()
	defer s.hand.mu.Unlock()
	if s.hand.writing[p]--; s.hand.writing[p] <= 0 {
		delete(s.hand.writing, p)
	}
}

// renamedPending moves the bookkeeping of a rename within h's inbox
// (relative names); ho.mu is held and the rename is done. A pending upload
// follows its file; one the rename replaced is superseded; a file arriving
// under a normal name that was not pending (a temporary name's) becomes
// pending.
func (s *Server) renamedPending(h *handler, fromName, toName string) {
	ho := &s.hand
	from, to := h.hostPath(fromName), h.hostPath(toName)
	toTemp := schema.IsTempName(path.Base(toName))
	if old := ho.pend[to]; old != nil {
		s.supersede(old, "replaced by a file renamed onto its name before it was taken")
	}
	if p := ho.pend[from]; p != nil {
		delete(ho.pend, from)
		p.up.Path, p.up.Name = to, toName
		ho.pend[to] = p
		if toTemp {
			s.supersede(p, "renamed to a temporary name before it was taken")
			return
		}
		p.timer.Reset(s.cfg.Settle)
		return
	}
	if toTemp {
		return
	}
	f, err := h.inbox.Open(toName)
	if err != nil {
		h.c.log.Error("cannot open renamed upload", logName, toName, logErr, err)
		return
	}
	started, ok := h.takeTempStart(fromName)
	now := time.Now()
	if !ok {
		started = now
	}
	s.addPending(h, f, toName, started, now)
}

// removedPending supersedes the pending upload at host path p, which its
// client removed; ho.mu is held.
func (s *Server) removedPending(p string) {
	if pu := s.hand.pend[p]; pu != nil {
		s.supersede(pu, "removed by the client before it was taken")
	}
}

// handoverLoop announces what is queued, in order, until Close has ended
// every session and the queue is empty.
func (s *Server) handoverLoop() {
	ho := &s.hand
	defer close(ho.done)
	for {
		ho.mu.Lock()
		var p *pending
		if len(ho.queue) > 0 {
			p = ho.queue[0]
			ho.queue[0] = nil
			ho.queue = ho.queue[1:]
		}
		ho.mu.Unlock()
		if p == nil {
			select {
			case <-ho.wake:
				continue
			case <-ho.stop:
				ho.mu.Lock()
				left := len(ho.queue)
				ho.mu.Unlock()
				if left == 0 {
					return
				}
				continue
			}
		}
		s.announce(p)
	}
}

// announce waits for p's hash, then calls OnUpload with it: as superseded,
// or handed over if the inbox still holds its file (a commit of the same
// name may have replaced it since it was queued).
func (s *Server) announce(p *pending) {
	defer close(p.announced)
	<-p.hashed
	defer p.f.Close()
	ho := &s.hand
	ho.mu.Lock()
	defer ho.mu.Unlock()
	if ho.pend[p.up.Path] == p {
		delete(ho.pend, p.up.Path)
	}
	if p.err != nil {
		p.state = pendDone
		p.up.log.Error("upload committed but cannot be read back: not taken", logName, p.up.Name, logErr, p.err)
		return
	}
	if p.state == pendHanding {
		// Nothing replaces a file being handed over (lockPaths), unless
		// something outside this server did: then it is not p's any more.
		fi, err := os.Lstat(p.up.Path)
		mine, merr := p.f.Stat()
		if err != nil || merr != nil || !os.SameFile(fi, mine) {
			p.up.Superseded, p.up.Reason = true, "replaced in the inbox before it was taken"
		}
	}
	p.state = pendDone
	if p.up.Superseded {
		s.stats.superseded.Add(1)
		p.up.Path = ""
	} else {
		s.stats.uploads.Add(1)
	}
	if s.cfg.OnUpload == nil {
		p.up.Taken(0, "")
		return
	}
	s.cfg.OnUpload(p.up)
}

// Pending reports whether path is an upload committed into an inbox that
// the server has not handed over yet: OnUpload will be called with it (as
// handed over or superseded), so a scan of the inboxes must leave it alone.
// Once OnUpload has been called for it, it is no longer pending.
func (s *Server) Pending(path string) bool {
	ho := &s.hand
	ho.mu.Lock()
	defer ho.mu.Unlock()
	return ho.pend[filepath.Clean(path)] != nil
}

// Taken logs the upload with the drop the pipeline made of it (0: none)
// and that drop's decision: the one log line of an upload, once its drop
// exists. The caller of OnUpload calls it when the drop is decided.
func (u Upload) Taken(drop int64, decision string) {
	log := u.log // the session's: it names the account and the client's address
	if log == nil {
		log = slog.Default().With("component", "sftp", logAccount, u.Account, logOrg, u.Org)
	}
	outcome := "committed"
	if u.Superseded {
		outcome = "superseded"
	}
	attrs := []any{logName, u.Name, logBytes, u.Size, logSHA256, u.SHA256,
		logElapsed, u.Duration.Round(time.Millisecond).String(), logOutcome, outcome}
	if u.Reason != "" {
		attrs = append(attrs, logReason, u.Reason)
	}
	if drop > 0 {
		attrs = append(attrs, "drop", drop)
	}
	if decision != "" {
		attrs = append(attrs, "decision", decision)
	}
	log.Info("upload", attrs...)
}
