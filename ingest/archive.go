package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Where a drop's file goes once its drop is decided, under
// Files.Dir/<org>/<source>/, in a folder per day (UTC):
//
//	archive/2006-01-02/<drop>-<name>   applied, or a duplicate of an applied drop
//	rejected/2006-01-02/<drop>-<name>  refused: unreadable, too many invalid rows
//	held/2006-01-02/<drop>-<name>      held for an admin (approve or reject it with
//	                                   `muster drops`; the stored diff is what is
//	                                   applied, the file is kept for reference);
//	                                   once decided, it moves to archive/ or
//	                                   rejected/ of the day of the decision (held.go)
//
// each with <drop>-<name>.report.json beside it. Files and reports older than
// the retention are pruned.
const (
	archiveDir  = "archive"
	rejectedDir = "rejected"
	heldDir     = "held"
	dayLayout   = "2006-01-02"
)

// Suffixes of the files written beside a drop's file and into an SFTP
// account's reports folder.
const (
	ReportSuffix = ".report.json"
	ErrorsSuffix = ".errors.csv"
)

// claim moves a file from where it arrived into the spool, under its name
// (with a number in front if the spool already holds that name). name is
// the file's path relative to its folder ("exports/hr/x.csv" for a file in
// a sub-folder of an SFTP inbox), escaped into one name (spoolName), so a
// file taken again after a stop keeps it.
func claim(path, spool, name string) (string, error) {
	dst, err := freeName(spool, spoolName(name))
	if err != nil {
		return "", err
	}
	return dst, moveFile(path, dst)
}

// spoolName escapes a relative name into one file name ("/" is "%2F", "%"
// is "%25"), fitted to what file systems hold with room for freeName's
// number; nameOfSpooled reverses it.
func spoolName(name string) string {
	return fitName(strings.ReplaceAll(strings.ReplaceAll(name, "%", "%25"), "/", "%2F"), maxName-8)
}

func nameOfSpooled(base string) string {
	return strings.ReplaceAll(strings.ReplaceAll(base, "%2F", "/"), "%25", "%")
}

// maxName is the longest file name file systems hold, in bytes.
const maxName = 255

// filedBase is the name a drop's file is filed under, <drop>-<name>, with
// its report at filedBase+ReportSuffix: fitted so that the report's name,
// and the temporary name it is written under, fit the file system however
// long the file's own name (the base name of name, which may be a path).
func filedBase(id int64, name string) string {
	return fitName(fmt.Sprintf("%d-%s", id, path.Base(name)), maxName-len(ReportSuffix)-len(".partial"))
}

// fitName returns name if it is at most max bytes, else a shortened name:
// the start of its stem, "~", 8 hex digits of a hash of the whole name
// (so two long names that share a start stay apart) and its extension.
func fitName(name string, max int) string {
	if len(name) <= max {
		return name
	}
	ext := path.Ext(name)
	if len(ext) > 16 {
		ext = ""
	}
	h := sha256.Sum256([]byte(name))
	tail := "~" + hex.EncodeToString(h[:4]) + ext
	stem := name[:max-len(tail)]
	for len(stem) > 0 && !utf8.ValidString(stem) { // do not cut a character in two
		stem = stem[:len(stem)-1]
	}
	return stem + tail
}

// permanent reports whether a failure to open, move or file a drop's file
// is one that retrying cannot cure: the name is one the file system cannot
// hold, the file is not a regular file (a symbolic link, a pipe), a path
// element is not a folder. Those drops are closed as rejected, and their
// source's queue moves on.
func permanent(err error) bool {
	var nr *NotRegularError
	return errors.As(err, &nr) || errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, syscall.ELOOP) ||
		errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EILSEQ) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, syscall.EISDIR)
}

// freeName returns dir/name, or dir/<n>-name for the first n free.
func freeName(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	for n := 2; ; n++ {
		_, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		p = filepath.Join(dir, strconv.Itoa(n)+"-"+name)
	}
}

// moveFile renames src to dst; across file systems (a drop folder on
// another disk) it copies, syncs, then removes src, so a crash leaves at
// worst two copies, never none.
func moveFile(src, dst string) error {
	err := os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".partial"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(src)
}

// writeFileAtomic writes data to path through a synced temporary file, so
// a reader never sees half a report.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// file moves a decided drop's file from the spool to its folder with the
// report beside it, and hands the report to the folder's Reports. Each part
// is safe to redo, so a failure (a full disk) is retried from the start.
func (f *Files) file(_ context.Context, s *FileSource, a *attempt) error {
	rep := a.rep
	where := archiveDir
	switch rep.Decision {
	case Rejected:
		where = rejectedDir
	case Held:
		where = heldDir
	}
	f.Ingester.hook("file-begin")
	day := rep.Started.UTC().Format(dayLayout)
	dir := filepath.Join(f.sourceDir(s), where, day)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	report, err := reportJSON(rep)
	if err != nil {
		return err
	}
	base := filedBase(rep.DropID, a.name)
	if err := writeFileAtomic(filepath.Join(dir, base+ReportSuffix), report); err != nil {
		return err
	}
	if a.folder >= 0 && s.Folders[a.folder].Reports != nil {
		if err := putReports(s.Folders[a.folder].Reports, a.name, report, rep); err != nil {
			return err
		}
	}
	f.Ingester.hook("file-moving")
	if _, err := os.Lstat(a.path); errors.Is(err, fs.ErrNotExist) {
		// Moved by an earlier try that failed after the move.
		return nil
	}
	return moveFile(a.path, filepath.Join(dir, base))
}

// reportJSON is a report as it is written beside a filed drop and for the
// uploader.
func reportJSON(rep *Report) ([]byte, error) {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// putReports hands a drop's report and its errors CSV to a folder's
// Reports, the CSV first: an uploader that sees the JSON change reads the
// CSV that goes with it.
func putReports(put func(name string, data []byte) error, name string, report []byte, rep *Report) error {
	if err := put(name+ErrorsSuffix, ErrorsCSV(rep)); err != nil {
		return fmt.Errorf("errors for the uploader: %w", err)
	}
	if err := put(name+ReportSuffix, report); err != nil {
		return fmt.Errorf("report for the uploader: %w", err)
	}
	return nil
}

// ErrorsCSV writes a report's problems as CSV (line, column, code,
// severity, message), one per line, with a header row: what an uploading
// system or a spreadsheet reads back. A drop without problems gives the
// header alone. Problems quote the uploaded file's own headers and cells,
// so every value that a spreadsheet would run as a formula is neutralised
// (NeutraliseCSV).
func ErrorsCSV(rep *Report) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"line", "column", "code", "severity", "message"})
	for _, p := range rep.Problems {
		line := ""
		if p.Line > 0 {
			line = strconv.Itoa(p.Line)
		}
		_ = w.Write([]string{line, NeutraliseCSV(p.Column), NeutraliseCSV(string(p.Code)),
			p.Severity.String(), NeutraliseCSV(p.Message)})
	}
	if rep.ProblemsOmitted > 0 {
		_ = w.Write([]string{"", "", "omitted", "warning",
			fmt.Sprintf("%d more problems are not listed", rep.ProblemsOmitted)})
	}
	w.Flush()
	return b.Bytes()
}

// pruneLoop prunes at start and then every hour.
func (f *Files) pruneLoop(ctx context.Context) {
	defer f.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if f.Leader == nil || f.Leader() {
			f.Prune(time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune removes the day folders of the archive and rejected folders older
// than Retention, and the files older than ReportRetention in ReportDirs. It
// returns how many entries it removed. The held folders are left alone:
// what is there waits for an admin's decision (however long that takes),
// and moves to archive/ or rejected/ once decided.
func (f *Files) Prune(now time.Time) int {
	n := 0
	if f.Retention > 0 {
		n += f.pruneDays(now.Add(-f.Retention))
	}
	if f.ReportRetention > 0 {
		n += f.pruneReports(now.Add(-f.ReportRetention))
	}
	if n > 0 {
		f.Logger.Info("pruned old archives and reports", "removed", n)
	}
	f.pruneClaims()
	return n
}

// staleClaim is how old a file claim no process holds must be before it
// is pruned (see store.PruneFileClaims).
const staleClaim = 10 * time.Minute

// pruneClaims deletes the file claims instances that died left behind
// (PostgreSQL: several instances share the drops' folders).
func (f *Files) pruneClaims() {
	if f.Ingester == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := f.Ingester.Store.PruneFileClaims(ctx, staleClaim)
	if err != nil {
		f.Logger.Warn("cannot prune stale file claims", "err", err)
	} else if n > 0 {
		f.Logger.Info("pruned stale file claims", "removed", n)
	}
}

func (f *Files) pruneDays(cutoff time.Time) int {
	n := 0
	for _, s := range f.sources {
		for _, where := range []string{archiveDir, rejectedDir} {
			root := filepath.Join(f.sourceDir(s), where)
			entries, _ := os.ReadDir(root)
			for _, e := range entries {
				day, err := time.Parse(dayLayout, e.Name())
				// A day folder goes once the whole day is past the cutoff.
				if err != nil || !e.IsDir() || !day.Add(24*time.Hour).Before(cutoff) {
					continue
				}
				if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
					f.Logger.Warn("cannot prune", "dir", filepath.Join(root, e.Name()), "err", err)
					continue
				}
				n++
			}
		}
	}
	return n
}

func (f *Files) pruneReports(cutoff time.Time) int {
	n := 0
	for _, dir := range f.ReportDirs {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
				continue
			}
			if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
				n++
			}
		}
	}
	return n
}
