package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"muster/schema"
	"muster/store"
)

// DefaultHeldCheck is how often Files compares its held folders with the
// store when nothing tells it of a decision sooner.
const DefaultHeldCheck = 5 * time.Second

// A held drop's file waits in held/DAY/ until an admin decides the drop.
// The decision may be made in this process (the HTTP API: Observe says so
// at once) or in another one (`muster drops approve|reject` on the same
// data dir while the daemon runs, or while it is down), so the held folders
// are compared with the store on start, every HeldCheck, and whenever
// Observe reports a decision. A decided drop is then filed like any other:
// its file and its final report go to archive/ (approved: applied) or
// rejected/, in the folder of the day it was decided, and an SFTP account's
// reports/<name>.report.json and .errors.csv are rewritten with the final
// outcome, unless a later upload of the same name has replaced them since.

// Observe is told the pipeline's outcomes (chain it into
// Ingester.Observe): an approval or a rejection has the held folders
// checked at once. It never blocks.
func (f *Files) Observe(o Outcome) {
	if o.Op != OpApprove && o.Op != OpReject {
		return
	}
	select {
	case f.kick <- struct{}{}:
	default: // a check is already due
	}
}

// heldLoop files away decided held drops: at start, every HeldCheck, and
// when kicked.
func (f *Files) heldLoop(ctx context.Context) {
	defer f.wg.Done()
	t := time.NewTicker(f.HeldCheck)
	defer t.Stop()
	for {
		f.fileDecided(ctx)
		if f.Shared {
			f.rescanSpools()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.kick:
		}
	}
}

// fileDecided looks at every source's held folders and files away the
// drops decided since.
func (f *Files) fileDecided(ctx context.Context) {
	for key, s := range f.sources {
		root := filepath.Join(f.sourceDir(s), heldDir)
		days, err := os.ReadDir(root)
		if err != nil {
			continue // nothing held yet
		}
		for _, day := range days {
			if !day.IsDir() {
				continue
			}
			dir := filepath.Join(root, day.Name())
			for _, id := range heldIDs(dir) {
				if ctx.Err() != nil {
					return
				}
				if f.heldIgnored[dir+"/"+strconv.FormatInt(id, 10)] {
					continue
				}
				if err := f.fileHeld(ctx, key, s, dir, id); err != nil && ctx.Err() == nil {
					f.Logger.Warn("cannot file a decided held drop, retrying later", "source", key, "drop", id,
						"err", err, "code", string(schema.ErrorCodeOf(err)))
				}
			}
		}
	}
}

// heldIDs lists the drop ids that name files in a held day folder
// (<drop>-<name> and <drop>-<name>.report.json), in order.
func heldIDs(dir string) []int64 {
	entries, _ := os.ReadDir(dir)
	var ids []int64
	seen := map[int64]bool{}
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "-")
		if !ok || strings.HasSuffix(e.Name(), ".partial") {
			continue
		}
		id, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil || id <= 0 || seen[id] {
			continue
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids
}

// fileHeld files away the held drop id of dir if it has been decided. Each
// step is safe to redo, so a failure (a full disk) or a crash midway is
// finished by a later check.
func (f *Files) fileHeld(ctx context.Context, key string, s *FileSource, dir string, id int64) error {
	memo := dir + "/" + strconv.FormatInt(id, 10)
	st := f.Ingester.Store
	org, err := st.LookupOrg(ctx, s.Org)
	var d store.Drop
	if err == nil {
		d, err = st.Drop(ctx, org.ID, id)
	}
	if schema.ErrorCodeOf(err) == schema.ENotFound || err == nil && d.SourceName != s.Config.Name {
		f.heldIgnored[memo] = true
		f.Logger.Warn("a file in a held folder names no held drop of its source: left alone",
			"source", key, "dir", dir, "drop", id)
		return nil
	}
	if err != nil {
		return err
	}
	where := ""
	switch d.Status {
	case store.DropApplied, store.DropDuplicate:
		where = archiveDir
	case store.DropRejected:
		where = rejectedDir
	default:
		return nil // still waiting for an admin
	}
	unlock := f.lockSource(key)
	defer unlock()
	base := filedBase(d.ID, d.Name)
	held := filepath.Join(dir, base)
	// With several instances sharing the folders, one of them files it.
	rel, err := filepath.Rel(f.Dir, held)
	if err != nil {
		return err
	}
	release, mine, err := st.ClaimFile(ctx, filepath.ToSlash(rel), "")
	if err != nil || !mine {
		return err
	}
	defer release()
	fileThere, reportThere := exists(held), exists(held+ReportSuffix)
	if !fileThere && !reportThere {
		f.heldIgnored[memo] = true // someone else's file with a number in front
		return nil
	}
	rep, err := ParseReport(d.Report)
	if err != nil {
		return err
	}
	report, err := reportJSON(rep)
	if err != nil {
		return err
	}
	day := time.Now().UTC()
	if t, err := time.Parse(time.RFC3339Nano, d.DecidedAt); err == nil {
		day = t.UTC()
	}
	dest := filepath.Join(f.sourceDir(s), where, day.Format(dayLayout))
	if err := os.MkdirAll(dest, 0o750); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dest, base+ReportSuffix), report); err != nil {
		return err
	}
	if err := f.rewriteUploaderReports(s, d.ID, d.Name, report, rep); err != nil {
		return err
	}
	if fileThere {
		if err := moveFile(held, filepath.Join(dest, base)); err != nil {
			return err
		}
	}
	if err := os.Remove(held + ReportSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	os.Remove(dir) // the day folder, once it holds nothing more
	f.Logger.Info("held drop decided: filed", "source", key, "file", d.Name, "drop", d.ID,
		"decision", string(d.Status), "by", d.DecidedBy, "to", filepath.Join(where, day.Format(dayLayout)))
	return nil
}

// rewriteUploaderReports gives the uploader the final outcome of a held
// drop: in each reports folder of the source whose <name>.report.json is
// still this drop's (a later upload of the same name replaces it, and then
// that is what the uploader must read).
func (f *Files) rewriteUploaderReports(s *FileSource, id int64, name string, report []byte, rep *Report) error {
	for _, fo := range s.Folders {
		if fo.Reports == nil || fo.ReportsDir == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(fo.ReportsDir, name+ReportSuffix))
		if err != nil {
			continue // pruned, or never written
		}
		var cur struct {
			DropID int64 `json:"drop_id"`
		}
		if json.Unmarshal(b, &cur) != nil || cur.DropID != id {
			continue
		}
		if err := putReports(fo.Reports, name, report, rep); err != nil {
			return err
		}
	}
	return nil
}

// lockSource keeps filing a drop of the source (its report into held/,
// then its file) and filing away a decided one from one another.
func (f *Files) lockSource(key string) (unlock func()) {
	mu := f.locks[key]
	mu.Lock()
	return mu.Unlock
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// mayAdoptHeld says whether the source has a held drop of a file of that
// name, which adoptHeld needs the file's hash to tell.
func (f *Files) mayAdoptHeld(ctx context.Context, s *FileSource, name string) bool {
	st := f.Ingester.Store
	org, err := st.LookupOrg(ctx, s.Org)
	if err != nil {
		return false
	}
	src, err := st.LookupSource(ctx, org.ID, s.Config.Name)
	if err != nil {
		return false
	}
	for before := int64(0); ; {
		ds, next, err := st.Drops(ctx, org.ID, store.DropFilter{SourceID: src.ID, Status: store.DropHeld, Before: before, Limit: 1000})
		if err != nil {
			return true // let adoptHeld look
		}
		for _, d := range ds {
			if d.Name == name {
				return true
			}
		}
		if next == 0 {
			return false
		}
		before = next
	}
}

// adoptHeld finds the held drop a file in the spool already is: muster
// stopped (or was killed) after the drop was recorded as held and before
// its file was filed in held/. Its report is returned (ok), so the file is
// filed as that drop instead of becoming a second, duplicate drop. A held
// drop whose file is in held/ already is not adopted: the same content
// arriving again is a new (duplicate) drop.
func (f *Files) adoptHeld(ctx context.Context, s *FileSource, hash, name string) (*Report, bool) {
	st := f.Ingester.Store
	org, err := st.LookupOrg(ctx, s.Org)
	if err != nil {
		return nil, false
	}
	src, err := st.LookupSource(ctx, org.ID, s.Config.Name)
	if err != nil {
		return nil, false
	}
	d, ok, err := st.FindDuplicate(ctx, src, hash)
	if err != nil || !ok || d.Status != store.DropHeld || d.Name != name {
		return nil, false
	}
	base := filedBase(d.ID, d.Name)
	days, _ := os.ReadDir(filepath.Join(f.sourceDir(s), heldDir))
	for _, day := range days {
		if exists(filepath.Join(f.sourceDir(s), heldDir, day.Name(), base)) {
			return nil, false
		}
	}
	rep, err := ParseReport(d.Report)
	if err != nil || rep.DropID != d.ID {
		return nil, false
	}
	f.Logger.Info("the file of a held drop was found in the spool (muster stopped before filing it): filed as that drop",
		"source", sourceKey(s.Org, s.Config.Name), "file", name, "drop", d.ID)
	return rep, true
}
