package ingest

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"time"

	"muster/schema"
)

// Arrival is a file handed over complete (Files.Take).
type Arrival struct {
	Org, Source string
	// Path is where the file is: in one of the source's folders.
	Path string
	// Superseded, when set, says why the file was never complete: its
	// sender replaced or removed it before it was handed over. It is
	// recorded as a superseded drop named Name with ContentHash; Path is
	// not read.
	Superseded  string
	Name        string
	ContentHash string
	// Done, if set, is called with the drop's report once it is decided
	// and filed (nil if no drop could be made of it).
	Done func(*Report)
}

// Announce queues a file that arrived complete (an SFTP upload committed
// into an inbox) without waiting for it to settle. It never blocks, and
// reports false for a source it does not know or after Close.
func (f *Files) Announce(org, source, path string) bool {
	return f.Take(Arrival{Org: org, Source: source, Path: path})
}

// Take queues a file handed over complete (an SFTP upload) without waiting
// for it to settle, or the record of one superseded. It never blocks, and
// reports false for a source it does not know, after Close, or when Open
// failed. It must not be called while Open runs.
func (f *Files) Take(a Arrival) bool {
	key := sourceKey(a.Org, a.Source)
	if f.lanes == nil {
		if f.Logger != nil {
			f.Logger.Error("file announced to drop queues that are not open", "source", key, "file", filepath.Base(a.Path))
		}
		return false
	}
	s := f.sources[key]
	if s == nil {
		f.Logger.Error("file announced for an unknown source", "source", key, "file", filepath.Base(a.Path))
		return false
	}
	if a.Superseded != "" {
		return f.lanes.add(job{key: key, name: a.Name, superseded: a.Superseded, hash: a.ContentHash, done: a.Done})
	}
	j := job{key: key, path: a.Path, name: filepath.Base(a.Path), announced: true, done: a.Done}
	// Claimed at once, not when the queue comes to it: the uploader may
	// send another file of the same name meanwhile, which would replace
	// this one in the inbox. If it cannot be moved now, the queue tries.
	if i := f.folderOf(s, a.Path); i >= 0 && within(s.Folders[i].Path, a.Path) {
		rel, _ := filepath.Rel(filepath.Clean(s.Folders[i].Path), a.Path)
		j.name = filepath.ToSlash(rel)
		if p, err := claim(a.Path, f.spoolDir(s, i), j.name); err == nil {
			j.path = p
		}
	}
	return f.lanes.add(j)
}

// waiting lists the files a folder of announced files holds, in its
// sub-folders too (oldest first), as jobs of source key.
func (f *Files) waiting(key, dir string) []job {
	type item struct {
		j   job
		mod time.Time
	}
	var items []item
	var walk func(rel string, depth int)
	walk = func(rel string, depth int) {
		entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			f.Logger.Error("cannot list folder", "source", key, "dir", filepath.Join(dir, rel), "err", err)
			return
		}
		for _, e := range entries {
			name := e.Name()
			if rel != "." {
				name = rel + "/" + e.Name()
			}
			if e.IsDir() && depth < maxFolderDepth {
				walk(name, depth+1)
			}
			if !e.Type().IsRegular() || schema.IsTempName(e.Name()) {
				continue
			}
			if f.Pending != nil && f.Pending(filepath.Join(dir, filepath.FromSlash(name))) {
				continue // its hand-over will queue it
			}
			if fi, err := e.Info(); err == nil {
				items = append(items, item{job{key: key, path: filepath.Join(dir, filepath.FromSlash(name)), name: name}, fi.ModTime()})
			}
		}
	}
	walk(".", 0)
	sort.SliceStable(items, func(i, j int) bool { return items[i].mod.Before(items[j].mod) })
	out := make([]job, len(items))
	for i, it := range items {
		out[i] = it.j
	}
	return out
}

// maxFolderDepth bounds how deep the folders of an announced folder are
// looked into (the SFTP server allows a few levels).
const maxFolderDepth = 16

// recordSuperseded records the drop of a file replaced by its sender
// before it was taken, retrying as run does.
func (f *Files) recordSuperseded(ctx context.Context, s *FileSource, j job) {
	d := Drop{Org: s.Org, Source: s.Config, Name: j.name, ContentHash: j.hash}
	wait := f.RetryMin
	for {
		rep, err := f.Ingester.Superseded(ctx, d, j.superseded, "watcher")
		if err == nil {
			f.Logger.Info("drop", "source", j.key, "file", j.name, "drop", rep.DropID,
				"decision", string(rep.Decision), "reason", rep.Reason)
			if j.done != nil {
				j.done(rep)
			}
			return
		}
		f.Logger.Error("cannot record a superseded upload, retrying", "source", j.key, "file", j.name,
			"err", err, "retry_in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, f.RetryMax)
	}
}
