package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"muster/cmd/muster/api"
	"muster/cmd/muster/console"
	"muster/ingest"
	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// The console's tests run on SQLite, and again on PostgreSQL when
// MUSTER_TEST_POSTGRES names a server (storetest).
func TestMain(m *testing.M) { storetest.Main(m) }

func TestBackends(t *testing.T) { storetest.Report(t) }

// rig is a console served by a real admin API server over a real store.
type rig struct {
	t      testing.TB
	url    string
	st     *store.Store
	in     *ingest.Ingester
	con    *console.Console
	tokens map[string]string // name → secret
	// target is the store (a file or a URL), dir the console's shared
	// folder, toks the API's tokens: a twin shares them.
	target string
	dir    string
	toks   []api.Token
	opts   []func(*console.Config)
	// timed, if set before the server starts, is told each request's
	// server time.
	timed func(*http.Request, time.Duration)
}

// MustRig starts the API server with the console mounted, on a fresh store
// (storetest: a file, or a PostgreSQL schema), with tokens: admin and
// viewer of "default", admin of "other", operator.
func MustRig(t testing.TB, opts ...func(*console.Config)) *rig {
	t.Helper()
	return MustRigAt(t, "", opts...)
}

// MustRigAt is MustRig over the store at target: a SQLite file or a
// PostgreSQL URL ("": a new one).
func MustRigAt(t testing.TB, target string, opts ...func(*console.Config)) *rig {
	t.Helper()
	if target == "" {
		target = storetest.Target(t)
	}
	r := &rig{t: t, target: target, dir: t.TempDir(), tokens: map[string]string{}, timed: timedHook, opts: opts}
	for _, tk := range []struct{ name, org, role string }{
		{"ada", "default", "admin"}, {"vic", "default", "viewer"}, {"oscar", "other", "admin"}, {"ops", "*", "admin"},
	} {
		secret, hash, err := api.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := api.ParseTokenHash(hash)
		r.toks = append(r.toks, api.Token{Name: tk.name, Org: tk.org, Role: api.Role(tk.role), Hash: h})
		r.tokens[tk.name] = secret
	}
	r.start()
	return r
}

// twin is another instance beside r: its own server and console over the
// same store (opened again) and shared folder, with the same tokens; or,
// after r's end, r restarted.
func (r *rig) twin() *rig {
	r.t.Helper()
	tw := &rig{t: r.t, target: r.target, dir: r.dir, tokens: r.tokens, toks: r.toks, opts: r.opts}
	tw.start()
	return tw
}

func (r *rig) start() {
	t := r.t
	t.Helper()
	r.st = storetest.OpenAt(t, r.target)
	r.in = ingest.New(r.st)
	r.in.TempDir = t.TempDir()
	srv, err := api.New(api.Config{Addr: "127.0.0.1:0", Store: r.st, Ingester: r.in, Tokens: r.toks, Orgs: []string{"default", "other"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := console.Config{Auth: srv, Store: r.st, Ingester: r.in, DataDir: r.dir, Sources: []console.Source{
		{Org: "default", Name: "hr", Kind: store.KindFolder, Ingest: ingest.SourceConfig{Name: "hr", Kind: store.KindFolder},
			MaxInvalid: 0.02},
		{Org: "default", Name: "manual", Kind: store.KindManual, Ingest: ingest.SourceConfig{Name: "manual", Kind: store.KindManual, Priority: 100},
			MaxInvalid: 0.02},
	}}
	for _, o := range r.opts {
		o(&cfg)
	}
	con, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount(con)
	r.con = con
	var h http.Handler = srv
	if r.timed != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			start := time.Now()
			srv.ServeHTTP(w, req)
			r.timed(req, time.Since(start))
		})
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	r.url = hs.URL
}

// browser is a client with its own cookie jar, that does not follow
// redirects (tests look at them).
type browser struct {
	r      *rig
	c      *http.Client
	origin string
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{r: r, origin: r.url, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signIn signs in with the named token; an operator picks org.
func (r *rig) signIn(name string) *browser {
	r.t.Helper()
	b := r.browser()
	code, _, loc := b.post("/signin", url.Values{"token": {r.tokens[name]}, "tz": {"Europe/Paris"}})
	if code != http.StatusSeeOther {
		r.t.Fatalf("sign in as %s: %d", name, code)
	}
	if strings.HasPrefix(loc, "/org") {
		if code, _, _ := b.post("/org", url.Values{"org": {"default"}}); code != http.StatusSeeOther {
			r.t.Fatalf("pick org: %d", code)
		}
	}
	return b
}

func (b *browser) get(path string) (int, string) {
	b.r.t.Helper()
	res, err := b.c.Get(b.r.url + path)
	if err != nil {
		b.r.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// post sends a form as a browser on this site does (Origin set).
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.r.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	res, err := b.c.Do(req)
	if err != nil {
		b.r.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header.Get("Location")
}

// ingest runs records through the pipeline as a full drop of source.
func (r *rig) ingest(org, source string, recs ...schema.Record) *ingest.Report {
	r.t.Helper()
	rep, err := r.in.Ingest(context.Background(), ingest.Drop{Org: org, Source: ingest.SourceConfig{Name: source, Kind: store.KindFolder},
		Name: source + ".csv", Records: &schema.SliceStream{Records: recs}}, ingest.Options{By: "test"})
	if err != nil {
		r.t.Fatal(err)
	}
	return rep
}

// people makes n records numbered from first.
func people(first, n int, group string) []schema.Record {
	var out []schema.Record
	for i := first; i < first+n; i++ {
		email := "p" + itoa(i) + "@example.com"
		_, key, _ := schema.NormalizeEmail(email)
		out = append(out, schema.Record{Line: i + 2, Email: email, Key: key, FirstName: "First" + itoa(i), LastName: "Last",
			Groups: []string{group}})
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

func writeFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	return p
}

// timedHook, when set, is the next rig's timed.
var timedHook func(*http.Request, time.Duration)
