package ingest

import (
	"context"
	"errors"
)

// FileUpload files a drop whose file came in another way than through the
// source's folders (the web console's upload, already run through
// Ingester.Ingest into rep) exactly as a dropped file is filed: the file
// at path is moved to Dir/<org>/<source>/archive|rejected|held/<day>/
// <drop>-<name> with its report beside it, and a held one is filed again
// once an admin decides it (held.go). filed is false, and the file left
// where it is, when the source is not one of these file sources (a manual
// source, a folder source not configured here).
func (f *Files) FileUpload(ctx context.Context, org, source, path, name string, rep *Report) (filed bool, err error) {
	if rep == nil || rep.DryRun || rep.DropID == 0 {
		return false, errors.New("file an upload: no drop recorded")
	}
	key := sourceKey(org, source)
	s := f.sources[key]
	if s == nil {
		return false, nil
	}
	a := &attempt{path: path, name: name, folder: -1, rep: rep}
	unlock := f.lockSource(key)
	defer unlock()
	err = f.file(ctx, s, a)
	if permanent(err) {
		a.name = "unfileable"
		err = f.file(ctx, s, a)
	}
	return err == nil, err
}
