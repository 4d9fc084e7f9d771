package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"muster/schema"
)

// FileSource is a source whose drops are files: the folders it watches
// (an admin's drop folder, the inboxes of the SFTP accounts feeding it).
type FileSource struct {
	// Org names the organisation; "" is schema.DefaultOrg.
	Org    string
	Config SourceConfig
	// Decode says how to read the source's files (delimiter, header
	// overrides, date order).
	Decode  schema.DecodeOptions
	Folders []Folder
}

// Folder is a folder whose files are drops of one source.
type Folder struct {
	Path string
	// Reports, if set, receives every drop's report (JSON) and its problems
	// as CSV, named after the file: an SFTP account's reports/ folder, where
	// the uploader reads the outcome back.
	Reports func(name string, data []byte) error
	// ReportsDir is the folder Reports writes into. When a held drop is
	// decided, its report there is rewritten with the final outcome if it
	// is still that drop's (see held.go); without ReportsDir it is not.
	ReportsDir string
	// Announced says the folder's files are handed over by Take (an SFTP
	// inbox, whose server says when an upload is complete): the folder is
	// not watched, since a file there may still be in use by its sender;
	// what it holds at Open (handed over while muster was down, or never
	// taken) is taken then.
	Announced bool
}

// Files takes the files that arrive in the folders of file sources through
// the pipeline, one at a time per source in arrival order (different sources
// in parallel), and files each away with its report (see archive.go); a
// held drop's file is filed again once an admin decides it (held.go).
//
// A file is first moved into its source's spool, so a new file of the same
// name can arrive meanwhile; a file found in a spool on start was being
// processed when muster stopped, and is processed again: the pipeline's
// content hash makes that a duplicate if its drop was already applied, and
// the one-transaction apply means nothing of it was applied otherwise.
// Failures (a locked store, a full disk) are logged and retried with
// backoff; the file stays where it is until its drop is recorded and filed.
type Files struct {
	Ingester *Ingester
	// Dir holds, per organisation and source, the spool, the archive, and
	// the rejected and held folders: Dir/<org>/<source>/...
	Dir     string
	Sources []FileSource
	// Debounce is how long a watched file must stay unchanged; 0 is
	// DefaultDebounce. It does not apply to announced files.
	Debounce time.Duration
	// Retention is how long archived files and reports are kept; 0 keeps
	// them for ever.
	Retention time.Duration
	// ReportDirs are folders of reports written through Folder.Reports
	// (SFTP accounts' reports/), pruned after ReportRetention (0: as
	// Retention; negative: kept for ever).
	ReportDirs      []string
	ReportRetention time.Duration
	// RetryMin and RetryMax bound the backoff between attempts of a failing
	// drop (default 1s and 1m).
	RetryMin, RetryMax time.Duration
	// Grace is how long Close lets a drop in progress finish before
	// abandoning it (default 5s); an abandoned drop is redone on next start.
	Grace time.Duration
	// HeldCheck is how often the held folders are compared with the store,
	// so a drop an admin decided from another process (`muster drops` on
	// the same data dir) is filed away; 0 is DefaultHeldCheck. Decisions
	// this process makes are filed at once (Observe).
	HeldCheck time.Duration
	Logger    *slog.Logger
	// Leader, if set, says whether this instance runs the scheduled work
	// (several instances share the folders): the hourly pruning runs only
	// while it does.
	Leader func() bool
	// Pending, if set, reports whether a file in an announced folder is
	// still to be handed over (Take) by what announces it: the SFTP server
	// holds an upload committed into an inbox until its session ends or it
	// settles, and a reload's start scan must leave it to that hand-over
	// (taking it early makes two drops of one upload, one superseded).
	Pending func(path string) bool
	// Shared says several instances share Dir (and one PostgreSQL store):
	// the spools are listed again at every held check, so a file left
	// there by an instance that died is taken by another (once two checks
	// a HeldCheck apart have listed it: see rescanSpools). Which instance
	// takes a file is settled by its claim in the store (see claimJob);
	// alone, every claim is this instance's.
	Shared bool

	busyMu sync.Mutex
	busy   map[string]bool // spooled paths this process is taking through

	sources map[string]*FileSource // by key
	locks   map[string]*sync.Mutex // by source key: see lockSource
	kick    chan struct{}          // Observe: check the held folders now
	// heldIgnored names held files that are no drop of their source
	// (dir/id), warned about once; only heldLoop uses it.
	heldIgnored map[string]bool
	// sighted: when rescanSpools first listed each spooled file; only
	// heldLoop uses it.
	sighted sightings

	skipMu  sync.Mutex
	skipped map[string]fileStamp // see skipFile

	// left are the jobs Close dropped from the queues, carried are those a
	// previous Files passed on (PassOn) for Open to take up.
	left, carried []job

	watcher *Watcher
	lanes   *lanes
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// sourceKey names a source across organisations.
func sourceKey(org, source string) string {
	if org == "" {
		org = schema.DefaultOrg
	}
	return org + "/" + source
}

// Open prepares every source's folders, queues what a previous run left in
// the spools, and starts watching (which queues the files already waiting
// in the folders). It returns once the folders are watched.
func (f *Files) Open() error {
	if f.Ingester == nil || f.Dir == "" {
		return schema.Errorf(schema.EInvalid, "files: an ingester and a directory are required")
	}
	if f.RetryMin <= 0 {
		f.RetryMin = time.Second
	}
	if f.RetryMax < f.RetryMin {
		f.RetryMax = max(time.Minute, f.RetryMin)
	}
	if f.Grace <= 0 {
		f.Grace = 5 * time.Second
	}
	if f.HeldCheck <= 0 {
		f.HeldCheck = DefaultHeldCheck
	}
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
	f.sources = make(map[string]*FileSource, len(f.Sources))
	f.locks = make(map[string]*sync.Mutex, len(f.Sources))
	f.kick = make(chan struct{}, 1)
	f.heldIgnored = map[string]bool{}
	var dirs []WatchDir
	var announced []job
	for i := range f.Sources {
		s := &f.Sources[i]
		if s.Org == "" {
			s.Org = schema.DefaultOrg
		}
		key := sourceKey(s.Org, s.Config.Name)
		if !safeDirName(s.Org) || !safeDirName(s.Config.Name) {
			return schema.Errorf(schema.EInvalid, "source %s: organisation and source names must be usable as folder names", key)
		}
		if _, dup := f.sources[key]; dup {
			return schema.Errorf(schema.EInvalid, "source %s is given twice", key)
		}
		f.sources[key] = s
		f.locks[key] = &sync.Mutex{}
		for j, fo := range s.Folders {
			if err := os.MkdirAll(fo.Path, 0o750); err != nil {
				return fmt.Errorf("source %s: folder: %w", key, err)
			}
			if err := os.MkdirAll(f.spoolDir(s, j), 0o750); err != nil {
				return fmt.Errorf("source %s: spool: %w", key, err)
			}
			if fo.Announced {
				announced = append(announced, f.waiting(key, fo.Path)...)
				continue
			}
			dirs = append(dirs, WatchDir{Path: fo.Path, Key: key})
		}
	}
	f.lanes = newLanes(f.run)
	carried := f.takeCarried()
	for key, s := range f.sources {
		for _, p := range f.spooled(s) {
			f.Logger.Info("taking again a drop interrupted by a stop", "source", key, "file", filepath.Base(p))
			f.lanes.add(carried.attach(job{key: key, path: p, name: nameOfSpooled(filepath.Base(p)), announced: true}))
		}
	}
	for _, j := range announced {
		f.Logger.Info("taking an upload handed over while muster was down", "source", j.key, "file", j.name)
		f.lanes.add(carried.attach(j))
	}
	carried.rest(f)
	f.skipped = make(map[string]fileStamp)
	f.watcher = &Watcher{Dirs: dirs, Debounce: f.Debounce, Logger: f.Logger,
		Ready: func(fd Found) {
			if !f.skips(fd.Path, fd.Size, fd.ModTime) {
				f.lanes.add(job{key: fd.Key, path: fd.Path})
			}
		}}
	if err := f.watcher.Open(); err != nil {
		f.left = f.lanes.close(0)
		f.lanes = nil // not open: Take refuses, Close has nothing to stop
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	if f.ReportRetention == 0 {
		f.ReportRetention = f.Retention
	}
	if f.Retention > 0 || f.ReportRetention > 0 {
		f.wg.Add(1)
		go f.pruneLoop(ctx)
	}
	f.wg.Add(1)
	go f.heldLoop(ctx)
	return nil
}

// MissingFolders returns the watched folders that were removed or moved
// away since Open: nothing put at their paths is taken until they are
// made again (they are then watched and scanned at once).
func (f *Files) MissingFolders() []string {
	if f.watcher == nil {
		return nil
	}
	return f.watcher.Missing()
}

// Close stops watching and taking new files, lets the drops in progress
// finish for up to Grace, then abandons them (their files stay in the spool
// and are taken again on the next start).
func (f *Files) Close() error {
	if f.lanes == nil {
		return nil
	}
	err := f.watcher.Close()
	f.left = f.lanes.close(f.Grace)
	f.cancel()
	f.wg.Wait()
	return err
}

func (f *Files) spoolDir(s *FileSource, folder int) string {
	return filepath.Join(f.sourceDir(s), "spool", strconv.Itoa(folder))
}

func (f *Files) sourceDir(s *FileSource) string {
	return filepath.Join(f.Dir, s.Org, s.Config.Name)
}

// spooled lists the files left in a source's spools, oldest first.
func (f *Files) spooled(s *FileSource) []string {
	type item struct {
		path string
		mod  time.Time
	}
	var items []item
	for j := range s.Folders {
		dir := f.spoolDir(s, j)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			// Not only regular files: what was swapped in for one (a
			// symbolic link) is taken again, to be refused and filed.
			if fi, err := e.Info(); err == nil && !fi.IsDir() && !strings.HasSuffix(e.Name(), ".partial") {
				items = append(items, item{filepath.Join(dir, e.Name()), fi.ModTime()})
			}
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].mod.Before(items[j].mod) })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.path
	}
	return out
}

// folderOf returns the index of the folder (or of the spool of the folder)
// that holds path, at any depth, or -1.
func (f *Files) folderOf(s *FileSource, path string) int {
	dir := filepath.Dir(path)
	for j, fo := range s.Folders {
		if dir == f.spoolDir(s, j) || within(fo.Path, path) {
			return j
		}
	}
	return -1
}

// within reports whether path is under dir (at any depth).
func within(dir, path string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// attempt is a file's progress through run, so a retry does not redo what
// is done: once claimed it is in the spool; once the report is back the
// drop is recorded and only filing it away remains.
type attempt struct {
	path    string
	name    string
	folder  int
	claimed bool
	rep     *Report
	unfiled bool          // the file could not be moved: it is left where it is
	done    func(*Report) // told the report once filed
	// release lets go of the file's claim in the store, taken when step
	// moved it into the spool (run releases one taken before).
	release func()
}

// run takes one file through, retrying with backoff until it is filed away
// or muster stops.
func (f *Files) run(ctx context.Context, j job) {
	s := f.sources[j.key]
	if j.superseded != "" {
		f.recordSuperseded(ctx, s, j)
		return
	}
	log := f.Logger.With("source", j.key, "file", filepath.Base(j.path))
	a := &attempt{path: j.path, name: j.name, folder: f.folderOf(s, j.path), done: j.done}
	if a.name == "" {
		a.name = filepath.Base(j.path)
	}
	a.claimed = a.folder >= 0 && filepath.Dir(j.path) == f.spoolDir(s, a.folder)
	if a.claimed {
		release, ok := f.claimJob(ctx, a.path, j.key, log)
		if !ok {
			return
		}
		defer release()
	}
	defer func() {
		if a.release != nil {
			a.release()
		}
	}()
	wait := f.RetryMin
	for {
		err := f.step(ctx, s, a, log)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			log.Warn("stopped with a drop in progress: it is taken again on the next start")
			return
		}
		var vanished errVanished
		if errors.As(err, &vanished) {
			log.Error("the file vanished before it was read: nothing was ingested", "err", vanished.err)
			if a.done != nil {
				a.done(nil)
			}
			return
		}
		log.Error("drop failed, retrying", "err", err, "retry_in", wait.String(),
			"code", string(schema.ErrorCodeOf(err)))
		f.lanes.failed(j.key, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			log.Warn("stopped with a drop in progress: it is taken again on the next start")
			return
		case <-t.C:
		}
		wait = min(wait*2, f.RetryMax)
	}
}

// errVanished is a file that disappeared before its drop was recorded.
type errVanished struct{ err error }

func (e errVanished) Error() string { return e.err.Error() }

// step does what remains of an attempt. A failure retrying cannot cure
// (permanent: a name the file system cannot hold, not a regular file)
// closes the drop as rejected, saying why, instead of holding the source's
// queue for ever.
func (f *Files) step(ctx context.Context, s *FileSource, a *attempt, log *slog.Logger) error {
	if !a.claimed {
		if a.folder < 0 {
			return errVanished{fmt.Errorf("%s is in none of the source's folders", a.path)}
		}
		p, err := claim(a.path, f.spoolDir(s, a.folder), a.name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Already taken (a watcher event and an announcement of the
			// same file), or removed by whoever put it there: nothing was
			// recorded, so nothing is lost; if it comes back, it is seen
			// again.
			log.Warn("the file vanished before it was taken: nothing to ingest")
			if a.done != nil {
				a.done(nil)
			}
			return nil
		case permanent(err):
			// It cannot even be moved: refused where it is, and not taken
			// again while it stays as it is.
			f.skipFile(a.path)
			if a.rep, err = f.refuseFile(ctx, s, a, err); err != nil {
				return err
			}
			a.unfiled = true
		case err != nil:
			return fmt.Errorf("move into the spool: %w", err)
		default:
			release, ok := f.claimJob(ctx, p, sourceKey(s.Org, s.Config.Name), log)
			if !ok {
				return nil // another instance took it from the spool first
			}
			a.path, a.claimed, a.release = p, true, release
		}
	}
	if a.rep == nil {
		rep, err := f.ingest(ctx, s, a)
		if errors.Is(err, fs.ErrNotExist) {
			return errVanished{err}
		}
		if permanent(err) {
			rep, err = f.refuseFile(ctx, s, a, err)
		}
		if err != nil {
			return err
		}
		a.rep = rep
	}
	if !a.unfiled {
		unlock := f.lockSource(sourceKey(s.Org, s.Config.Name))
		err := f.file(ctx, s, a)
		if permanent(err) {
			log.Error("the drop's file cannot be filed under its name: filed as <drop>-unfileable", "drop", a.rep.DropID, "err", err)
			a.name = "unfileable"
			err = f.file(ctx, s, a)
		}
		unlock()
		if permanent(err) {
			log.Error("the drop's file cannot be filed: left in the spool", "drop", a.rep.DropID, "err", err)
		} else if err != nil {
			return fmt.Errorf("file away: %w", err)
		}
	}
	c := a.rep.Counts
	lvl := slog.LevelInfo
	if a.rep.Decision == Rejected || a.rep.Decision == Held {
		lvl = slog.LevelWarn
	}
	attrs := []any{"drop", a.rep.DropID, "decision", string(a.rep.Decision), "rows", c.Rows,
		"added", c.Added, "updated", c.Updated, "removed", c.Removed, "unchanged", c.Unchanged,
		"invalid", c.Invalid, "suppressed", c.Suppressed, "ms", a.rep.Timings.TotalMS}
	if a.rep.Reason != "" {
		attrs = append(attrs, "reason", a.rep.Reason)
	}
	log.Log(ctx, lvl, "drop", attrs...)
	if a.done != nil {
		a.done(a.rep)
	}
	return nil
}

// refuseFile records the drop of a file that cannot be read or moved, as
// rejected with why (nothing of it is read).
func (f *Files) refuseFile(ctx context.Context, s *FileSource, a *attempt, why error) (*Report, error) {
	// The message goes to the uploader too: no host path in it.
	p := schema.Problem{Code: schema.CodeUnfileable, Severity: schema.SeverityError,
		Message: "the file cannot be moved or read where it is"}
	var nr *NotRegularError
	var errno syscall.Errno
	switch {
	case errors.As(why, &nr):
		p.Code, p.Message = schema.CodeNotRegularFile, nr.Error()
	case errors.As(why, &errno):
		p.Message += ": " + errno.Error()
	}
	d := Drop{Org: s.Org, Source: s.Config, Name: a.name, FileProblems: []schema.Problem{p}}
	return f.Ingester.Ingest(ctx, d, Options{By: "watcher"})
}

// skipFile remembers a file of a watched folder that could not be taken,
// so the rescans leave it alone while it stays unchanged.
func (f *Files) skipFile(path string) {
	fi, err := os.Lstat(path)
	if err != nil {
		return
	}
	f.skipMu.Lock()
	defer f.skipMu.Unlock()
	if len(f.skipped) > 10_000 {
		clear(f.skipped)
	}
	f.skipped[path] = fileStamp{fi.Size(), fi.ModTime()}
}

// skips reports whether a found file is one skipFile remembers, unchanged.
func (f *Files) skips(path string, size int64, mod time.Time) bool {
	f.skipMu.Lock()
	defer f.skipMu.Unlock()
	st, ok := f.skipped[path]
	return ok && st.size == size && st.mod.Equal(mod)
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// Lanes reports each source's queue: the drop in progress, since when, and
// since when it has been failing.
func (f *Files) Lanes() []LaneStatus {
	if f.lanes == nil {
		return nil
	}
	var out []LaneStatus
	for key, st := range f.lanes.status() {
		if s := f.sources[key]; s != nil {
			st.Org, st.Source = s.Org, s.Config.Name
			out = append(out, st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Org+"/"+out[i].Source < out[j].Org+"/"+out[j].Source })
	return out
}

// ingest runs the spooled file through the pipeline.
func (f *Files) ingest(ctx context.Context, s *FileSource, a *attempt) (*Report, error) {
	// The same opening as `muster ingest`, so a file is judged alike
	// whichever way it came in.
	df, err := OpenFile(a.path, a.name, s.Decode)
	if err != nil {
		return nil, err
	}
	defer df.Close()
	if f.mayAdoptHeld(ctx, s, a.name) {
		// Only then is the hash waited for here (the pipeline computes it
		// while it reads the file).
		hash, err := df.ContentHash()
		if err != nil {
			return nil, err
		}
		if rep, ok := f.adoptHeld(ctx, s, hash, a.name); ok {
			return rep, nil
		}
	}
	d := df.Drop
	d.Org, d.Source = s.Org, s.Config
	// Ingest also closes the drops of the same file an earlier run left
	// "received" (settleInterrupted).
	rep, err := f.Ingester.Ingest(ctx, d, Options{By: "watcher"})
	if err != nil {
		return nil, err
	}
	for _, id := range rep.interrupted {
		f.Logger.Info("closed a drop interrupted by a stop", "drop", id, "redone_as", rep.DropID, "source", rep.Source)
	}
	return rep, nil
}

// safeDirName reports whether s can name a folder of its own: no path
// separators, not "." or "..", no control characters.
func safeDirName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// claimJob claims a spooled file in the store for this process, until
// release; ok is false (and nothing is to be done) when another instance
// holds it, or took it and filed it away already. A failure to claim is
// retried until the stop.
func (f *Files) claimJob(ctx context.Context, path, lane string, log *slog.Logger) (release func(), ok bool) {
	rel, err := filepath.Rel(f.Dir, path)
	if err != nil {
		rel = path
	}
	wait := f.RetryMin
	for {
		release, ok, err := f.Ingester.Store.ClaimFile(ctx, filepath.ToSlash(rel), lane)
		switch {
		case err == nil && !ok:
			log.Debug("another instance is taking this file")
			return nil, false
		case err == nil:
			if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
				release()
				log.Debug("the file was taken and filed away by another instance")
				return nil, false
			}
			f.busyMu.Lock()
			if f.busy == nil {
				f.busy = map[string]bool{}
			}
			f.busy[path] = true
			f.busyMu.Unlock()
			return func() {
				f.busyMu.Lock()
				delete(f.busy, path)
				f.busyMu.Unlock()
				release()
			}, true
		}
		log.Error("cannot claim the file in the store, retrying", "err", err, "retry_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false
		case <-t.C:
		}
		wait = min(wait*2, f.RetryMax)
	}
}

// rescanSpools queues the files in the spools that this process is not
// taking through: with several instances sharing the folders, those an
// instance that died left there (their claims ended with it). A file is
// queued once an earlier rescan listed it at least HeldCheck ago: the
// instance that moved it into the spool claims it in moments, and taking
// it from under that claim (which the store would settle, but after the
// instance an upload went to had lost it to another) is not what a rescan
// is for.
func (f *Files) rescanSpools() {
	var listed []spooledFile
	for key, s := range f.sources {
		for _, p := range f.spooled(s) {
			listed = append(listed, spooledFile{key, p})
		}
	}
	if f.sighted == nil {
		f.sighted = sightings{}
	}
	for _, sp := range f.sighted.due(listed, time.Now(), f.HeldCheck) {
		f.busyMu.Lock()
		busy := f.busy[sp.path]
		f.busyMu.Unlock()
		if !busy && !f.lanes.isWaiting(sp.key, sp.path) {
			f.lanes.add(job{key: sp.key, path: sp.path, announced: true})
		}
	}
}

// spooledFile is a file a rescan found in a source's spool.
type spooledFile struct{ key, path string }

// sightings remembers when each spooled file was first listed by a rescan.
type sightings map[spooledFile]time.Time

// due returns the files of listed first listed at least wait before now,
// and forgets the files no longer listed (one listed again later starts
// over).
func (s sightings) due(listed []spooledFile, now time.Time, wait time.Duration) []spooledFile {
	var out []spooledFile
	keep := make(map[spooledFile]bool, len(listed))
	for _, sp := range listed {
		keep[sp] = true
		first, ok := s[sp]
		if !ok {
			s[sp] = now
			continue
		}
		if now.Sub(first) >= wait {
			out = append(out, sp)
		}
	}
	for sp := range s {
		if !keep[sp] {
			delete(s, sp)
		}
	}
	return out
}
