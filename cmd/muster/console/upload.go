package console

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// An upload is kept in the data directory between the preview and Apply:
// console-uploads/<id>.csv and <id>.json (who, which source, the file's
// name). Uploads not applied are removed after uploadTTL.
const uploadTTL = 24 * time.Hour

type uploadMeta struct {
	Org     string    `json:"org"`
	Source  string    `json:"source"`
	Name    string    `json:"name"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
}

// uploadSources are the sources an admin may upload a file into: the
// organisation's configured folder and manual sources, and stored sources
// of those kinds or of files given to `muster ingest` that the config does
// not name (read with their stored settings).
func (c *Console) uploadSources(r *req) []Source {
	var out []Source
	for _, s := range c.sources() {
		if s.Org == r.org.Name && (s.Kind == store.KindFolder || s.Kind == store.KindManual) {
			out = append(out, s)
		}
	}
	if r.org.ID != 0 {
		if srcs, err := c.cfg.Store.Sources(r.Context(), r.org.ID); err == nil {
			for _, s := range srcs {
				switch s.Kind {
				case store.KindFolder, store.KindManual, store.KindCSV:
					if s.RemovedAt == "" && c.configuredKind(r.org.Name, s.Name) == "" {
						out = append(out, Source{Org: r.org.Name, Name: s.Name, Kind: s.Kind, Ingest: s.SourceConfig,
							MaxInvalid: MaxInvalidShare(s.WithDefaults().MaxInvalidPercent)})
					}
				}
			}
		}
	}
	return out
}

// MaxInvalidShare turns a source's max_invalid_percent into the share
// schema.Check refuses a file over (-1: never).
func MaxInvalidShare(pct float64) float64 {
	if pct < 0 {
		return 1e18 // never refused for invalid rows
	}
	return pct / 100
}

func (c *Console) uploadSource(r *req, name string) (Source, error) {
	for _, s := range c.uploadSources(r) {
		if s.Name == name {
			return s, nil
		}
	}
	return Source{}, schema.Errorf(schema.EInvalid, "source %q takes no uploads: choose a folder or manual source", name)
}

// uploadPage is /upload: the upload form, and the forms that add or
// remove one person by hand.
func (c *Console) uploadPage(w http.ResponseWriter, r *req) error {
	c.render(w, r.Request, r, http.StatusOK, "upload", "Upload", map[string]any{
		"Sources": c.uploadSources(r), "Manual": c.manualSources(r), "Max": c.cfg.MaxUpload,
	})
	return nil
}

// upload keeps the file sent, then shows its preview.
func (c *Console) upload(w http.ResponseWriter, r *req) error {
	r.Body = http.MaxBytesReader(w, r.Body, c.cfg.MaxUpload+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return schema.Errorf(schema.EInvalid, "send the file with the upload form")
	}
	c.pruneUploads()
	if err := os.MkdirAll(c.uploads, 0o750); err != nil {
		return err
	}
	id := hex.EncodeToString(randomBytes(16))
	meta := uploadMeta{Org: r.org.Name, By: r.by(), Created: c.cfg.Now().UTC()}
	path := filepath.Join(c.uploads, id+".csv")
	got := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			os.Remove(path)
			return uploadError(err, c.cfg.MaxUpload)
		}
		switch part.FormName() {
		case "source":
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			meta.Source = strings.TrimSpace(string(b))
		case "file":
			meta.Name = filepath.Base(strings.ReplaceAll(part.FileName(), `\`, "/"))
			if err := saveFile(path, part); err != nil {
				os.Remove(path)
				return uploadError(err, c.cfg.MaxUpload)
			}
			got = true
		}
		part.Close()
	}
	if !got || meta.Name == "" || meta.Name == "." || meta.Name == "/" {
		os.Remove(path)
		return schema.Errorf(schema.EInvalid, "choose a file to upload")
	}
	if _, err := c.uploadSource(r, meta.Source); err != nil {
		os.Remove(path)
		return err
	}
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(c.uploads, id+".json"), b, 0o640); err != nil {
		os.Remove(path)
		return err
	}
	c.log.Info("upload", "org", r.org.Name, "source", meta.Source, "id", id, "token", r.token.Name)
	http.Redirect(w, r.Request, "/upload/"+id, http.StatusSeeOther)
	return nil
}

func uploadError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return schema.Errorf(schema.EInvalid, "the file is over the console's upload limit of %s bytes", num(limit))
	}
	return schema.Errorf(schema.EInvalid, "the upload broke off: send it again")
}

func saveFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pruneUploads removes uploads older than uploadTTL.
func (c *Console) pruneUploads() {
	entries, _ := os.ReadDir(c.uploads)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && c.cfg.Now().Sub(fi.ModTime()) > uploadTTL {
			os.Remove(filepath.Join(c.uploads, e.Name()))
		}
	}
}

// loadUpload returns an upload of the session's organisation.
func (c *Console) loadUpload(r *req) (string, uploadMeta, error) {
	id := r.PathValue("id")
	var meta uploadMeta
	if _, err := hex.DecodeString(id); err != nil || len(id) != 32 {
		return "", meta, schema.Errorf(schema.ENotFound, "no upload %q", id)
	}
	b, err := os.ReadFile(filepath.Join(c.uploads, id+".json"))
	if err != nil || json.Unmarshal(b, &meta) != nil || meta.Org != r.org.Name {
		return "", meta, schema.Errorf(schema.ENotFound, "no upload %s (uploads not applied are kept for a day)", id)
	}
	return filepath.Join(c.uploads, id+".csv"), meta, nil
}

// uploadPreview shows what `muster check` shows of the file and the diff
// it would make (a dry run through the pipeline), with Apply.
func (c *Console) uploadPreview(w http.ResponseWriter, r *req) error {
	path, meta, err := c.loadUpload(r)
	if err != nil {
		return err
	}
	src, err := c.uploadSource(r, meta.Source)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return schema.Errorf(schema.ENotFound, "no upload %s", r.PathValue("id"))
	}
	check, err := schema.Check(f, src.Decode, src.MaxInvalid, false)
	f.Close()
	if err != nil {
		return err
	}
	rep, err := c.ingestUpload(r, path, meta, src, true)
	if err != nil {
		return err
	}
	sample, err := c.sampleDiff(r, path, meta, src, rep)
	if err != nil {
		return err
	}
	const maxShown = 200
	problems := check.Problems
	if len(problems) > maxShown {
		problems = problems[:maxShown]
	}
	c.render(w, r.Request, r, http.StatusOK, "preview", "Upload "+meta.Name, map[string]any{
		"ID": r.PathValue("id"), "Meta": meta, "Source": src, "Check": check, "File": check.File,
		"Delimiter": delimiterName(check.File.Delimiter), "Problems": problems, "More": len(check.Problems) - len(problems),
		"Report": rep, "Sample": sample, "Delta": check.File.Delta || src.Ingest.Mode == store.ModeDelta,
	})
	return nil
}

func delimiterName(d rune) string {
	if d == 0 {
		return ""
	}
	return schema.DelimiterName(d) + " " + strconv.QuoteRune(d)
}

// ingestUpload runs the upload through the pipeline as a drop of its
// source, exactly as `muster ingest` does (ingest.OpenFile and the source's
// settings): a dry run, or for real.
func (c *Console) ingestUpload(r *req, path string, meta uploadMeta, src Source, dry bool) (*ingest.Report, error) {
	file, err := ingest.OpenFile(path, meta.Name, src.Decode)
	if err != nil {
		return nil, schema.Errorf(schema.ENotFound, "no upload %s", r.PathValue("id"))
	}
	defer file.Close()
	d := file.Drop
	d.Org, d.Source = r.org.Name, src.Ingest
	return c.cfg.Ingester.Ingest(r.Context(), d, ingest.Options{DryRun: dry, By: r.by()})
}

// sampleDiff gives the report's sample of changes their values: the
// source's current row before, the file's row after.
func (c *Console) sampleDiff(r *req, path string, meta uploadMeta, src Source, rep *ingest.Report) ([]diffRow, error) {
	if len(rep.Sample) == 0 {
		return nil, nil
	}
	want := map[string]*store.Assertion{}
	for _, s := range rep.Sample {
		want[s.Key] = nil
	}
	file, err := ingest.OpenFile(path, meta.Name, src.Decode)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	if file.Drop.Records != nil {
		for {
			rec, err := file.Drop.Records.Next()
			if err != nil {
				break // io.EOF, or a file error the report already tells
			}
			if _, ok := want[rec.Key]; ok && rec.Key != "" {
				want[rec.Key] = &store.Assertion{Key: rec.Key, Email: rec.Email, FirstName: rec.FirstName, LastName: rec.LastName,
					Status: rec.Status, UID: rec.SourceID, Groups: rec.Groups, Attrs: src.Ingest.Attrs.Filter(rec.Attrs)}
			}
		}
	}
	var srcID int64
	if r.org.ID != 0 {
		if s, err := c.cfg.Store.LookupSource(r.Context(), r.org.ID, src.Name); err == nil {
			srcID = s.ID
		}
	}
	out := make([]diffRow, 0, len(rep.Sample))
	for _, s := range rep.Sample {
		var old *store.Assertion
		if srcID != 0 && s.Op != store.OpAdd.String() {
			if a, err := c.cfg.Store.SnapshotAssertion(r.Context(), srcID, s.Key); err == nil {
				old = &a
			}
		}
		cur := want[s.Key]
		if s.Op == store.OpRemove.String() {
			cur = nil
		}
		out = append(out, diffRow{Op: s.Op, Key: s.Key, Line: s.Line, Fields: diffOf(old, cur)})
	}
	return out, nil
}

// uploadApply sends the upload through the pipeline, guards included, and
// shows its drop.
func (c *Console) uploadApply(w http.ResponseWriter, r *req) error {
	path, meta, err := c.loadUpload(r)
	if err != nil {
		return err
	}
	src, err := c.uploadSource(r, meta.Source)
	if err != nil {
		return err
	}
	rep, err := c.ingestUpload(r, path, meta, src, false)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	os.Remove(filepath.Join(c.uploads, id+".json"))
	filed := false
	if c.cfg.File != nil {
		// Filed like a dropped file; the drop is recorded whatever happens
		// to its file, so a failure here is told, not returned.
		if filed, err = c.cfg.File(r.Context(), r.org.Name, src.Name, path, meta.Name, rep); err != nil {
			c.log.Warn("upload applied, its file not filed: deleted", "org", r.org.Name, "source", src.Name,
				"drop", rep.DropID, "err", err)
		}
	}
	if !filed {
		os.Remove(path)
	}
	org, _ := c.cfg.Store.LookupOrg(r.Context(), r.org.Name)
	c.cache.forget(org.ID)
	c.log.Info("upload applied", "org", r.org.Name, "source", src.Name, "file", meta.Name, "drop", rep.DropID,
		"decision", string(rep.Decision), "token", r.token.Name)
	http.Redirect(w, r.Request, "/drops/"+strconv.FormatInt(rep.DropID, 10)+"?done=applied", http.StatusSeeOther)
	return nil
}
