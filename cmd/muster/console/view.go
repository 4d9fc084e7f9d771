package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // viewers' time zones, also in an image without zoneinfo

	"muster/cmd/muster/api"
	"muster/schema"
)

// pageTemplate is one page: the layout with the page's "content".
type pageTemplate struct{ t *template.Template }

var funcs = template.FuncMap{
	"num":   num,
	"pct":   func(a, b int64) string { return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(max(b, 1))) },
	"query": query,
	"path":  url.PathEscape,
	"list":  func(v ...string) []string { return v },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
}

// parsePages parses every page with the layout.
func parsePages() (map[string]*pageTemplate, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*pageTemplate{}
	for _, n := range names {
		if n == "templates/layout.html" || strings.HasPrefix(n, "templates/_") {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		out[name] = &pageTemplate{t: t}
	}
	return out, nil
}

// view is what every page's template is given.
type view struct {
	Title  string
	Page   string
	Signed bool
	Token  string
	Role   string
	Admin  bool
	Op     bool // an operator token: may switch organisation
	Org    string
	Zone   string
	Notice string
	Data   any
	loc    *time.Location
}

// Time shows a stored time (RFC 3339) in the viewer's time zone.
func (v *view) Time(x any) string {
	var t time.Time
	switch x := x.(type) {
	case string:
		if x == "" {
			return "never"
		}
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return x
		}
	case time.Time:
		if x.IsZero() {
			return "never"
		}
		t = x
	default:
		return ""
	}
	return t.In(v.loc).Format("2006-01-02 15:04:05")
}

// ISO is a stored time in RFC 3339 (a <time datetime>).
func (v *view) ISO(x any) string {
	switch x := x.(type) {
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return ""
}

// notices are the messages an action's redirect asks a page to show.
var notices = map[string]string{
	"approved":  "Approved: the drop was applied.",
	"rejected":  "Rejected: nothing of the drop was applied.",
	"applied":   "The upload went through the pipeline: its outcome is below.",
	"added":     "Recorded: the person's drop is below.",
	"removed":   "Recorded: the person's drop is below.",
	"rollback":  "Rolled back: the rollback's drop is below.",
	"sync":      "The pull runs in the background: its drop appears in the list when it is done.",
	"signedout": "You are signed out.",
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, rq *req, status int, page, title string, data any) {
	v := &view{Title: title, Page: page, Data: data, loc: time.UTC, Zone: "UTC", Notice: notices[r.URL.Query().Get("done")]}
	if rq != nil {
		v.Signed, v.Token, v.Role, v.Admin = true, rq.token.Name, string(rq.token.Role), rq.admin()
		v.Op, v.Org, v.loc, v.Zone = rq.token.Org == api.AllOrgs, rq.org.Name, rq.loc, rq.loc.String()
		if v.Org == "" {
			v.Org = rq.sess.Org
		}
	}
	pt := c.pages[page]
	var buf bytes.Buffer
	if err := pt.t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("render", "page", page, "err", err)
		http.Error(w, "the page could not be drawn (see the log)", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

var statusOf = map[schema.ErrorCode]int{
	schema.EInvalid:      http.StatusBadRequest,
	schema.EUnauthorized: http.StatusUnauthorized,
	schema.EForbidden:    http.StatusForbidden,
	schema.ENotFound:     http.StatusNotFound,
	schema.EConflict:     http.StatusConflict,
	schema.EUnavailable:  http.StatusServiceUnavailable,
}

// renderError answers an error as a page: its code's status and message,
// internal detail only in the log.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, rq *req, err error) {
	code := schema.ErrorCodeOf(err)
	status, ok := statusOf[code]
	msg := schema.ErrorMessageOf(err)
	if !ok {
		status, msg = http.StatusInternalServerError, "something went wrong on the server (see its log)"
		c.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	c.render(w, r, rq, status, "error", http.StatusText(status), map[string]any{"Status": status, "Message": msg})
}

// num writes a count with thousands separators.
func num(n any) string {
	var v int64
	switch n := n.(type) {
	case int:
		v = int64(n)
	case int64:
		v = n
	default:
		return fmt.Sprint(n)
	}
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// query builds a query string from pairs, leaving out empty values.
func query(kv ...any) template.URL {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := fmt.Sprint(kv[i])
		switch v := kv[i+1].(type) {
		case []string:
			for _, s := range v {
				q.Add(k, s)
			}
		default:
			if s := fmt.Sprint(v); s != "" && s != "0" {
				q.Set(k, s)
			}
		}
	}
	if len(q) == 0 {
		return ""
	}
	return template.URL("?" + q.Encode())
}

var zones sync.Map // name → *time.Location

func cachedLocation(tz string) (*time.Location, bool) {
	if l, ok := zones.Load(tz); ok {
		return l.(*time.Location), true
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		return nil, false
	}
	zones.Store(tz, l)
	return l, true
}
