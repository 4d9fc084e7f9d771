package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// Organisations and tokens of the tests. "ops" and "ops-viewer" are
// operator tokens (every organisation).
const (
	acme   = "acme"
	globex = "globex"
)

var testTokens = []struct {
	name, org string
	role      Role
}{
	{"acme-viewer", acme, RoleViewer},
	{"acme-admin", acme, RoleAdmin},
	{"globex-viewer", globex, RoleViewer},
	{"globex-admin", globex, RoleAdmin},
	{"ops", AllOrgs, RoleAdmin},
	{"ops-viewer", AllOrgs, RoleViewer},
}

// testAPI is a real Server over a real store file, served by httptest.
type testAPI struct {
	t       testing.TB
	in      *ingest.Ingester
	st      *store.Store
	srv     *Server
	metrics *Metrics
	url     string
	secret  map[string]string // token name -> secret
}

// MustAPI starts an API over a fresh store with the test tokens. edit, if
// given, changes the config before the server is made.
func MustAPI(t testing.TB, edit ...func(*Config)) *testAPI {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := ingest.New(st)
	in.TempDir = t.TempDir()
	a := &testAPI{t: t, in: in, st: st, secret: map[string]string{}}
	a.metrics = NewMetrics(MetricsConfig{Store: st})
	in.Observe = a.metrics.Observe
	cfg := Config{Store: st, Ingester: in, Metrics: a.metrics, Orgs: []string{acme, globex}}
	for _, tt := range testTokens {
		secret, hash, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseTokenHash(hash)
		if err != nil {
			t.Fatal(err)
		}
		a.secret[tt.name] = secret
		cfg.Tokens = append(cfg.Tokens, Token{Name: tt.name, Org: tt.org, Role: tt.role, Hash: h})
	}
	for _, f := range edit {
		f(&cfg)
	}
	if a.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(a.srv)
	t.Cleanup(hs.Close)
	a.url = hs.URL
	return a
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of a JSON error answer ("" if none).
func (r response) errorCode() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return string(e.Error.Code)
}

// errorMessage returns the message of a JSON error answer.
func (r response) errorMessage() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Message
}

// mustJSON decodes an answer's body.
func mustJSON(t testing.TB, r response, out any) {
	t.Helper()
	if err := json.Unmarshal(r.body, out); err != nil {
		t.Fatalf("%v\n%s", err, r.body)
	}
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a request with the named token ("" for none) and, when body is
// set, a JSON body.
func (a *testAPI) do(method, path, token, body string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+a.secret[token])
	}
	return a.send(req)
}

func (a *testAPI) send(req *http.Request) response {
	a.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// mustGet GETs path with token, wants 200 and decodes the JSON into out.
func (a *testAPI) mustGet(token, path string, out any) {
	a.t.Helper()
	r := a.do("GET", path, token, "")
	if r.status != http.StatusOK {
		a.t.Fatalf("GET %s as %s: %s", path, token, r)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			a.t.Fatalf("GET %s: %v\n%s", path, err, r.body)
		}
	}
}

// mustStatus sends a request and wants the status (and, for errors, the
// error code of the vocabulary).
func (a *testAPI) mustStatus(method, path, token, body string, status int, code schema.ErrorCode) response {
	a.t.Helper()
	r := a.do(method, path, token, body)
	if r.status != status {
		a.t.Fatalf("%s %s as %q: got %s, want %d", method, path, token, r, status)
	}
	if code != "" && r.errorCode() != string(code) {
		a.t.Fatalf("%s %s as %q: error code %q, want %q (%s)", method, path, token, r.errorCode(), code, r.body)
	}
	if status >= 400 && !bytes.HasPrefix(bytes.TrimSpace(r.body), []byte(`{`)) {
		a.t.Fatalf("%s %s: error answer is not JSON: %s", method, path, r.body)
	}
	return r
}

// ingest runs a full-snapshot drop of records into the org's source.
func (a *testAPI) ingest(org string, cfg ingest.SourceConfig, name string, recs []schema.Record) *ingest.Report {
	a.t.Helper()
	rep, err := a.in.Ingest(context.Background(), ingest.Drop{Org: org, Source: cfg, Name: name,
		Records: &schema.SliceStream{Records: recs}}, ingest.Options{By: "test"})
	if err != nil {
		a.t.Fatalf("ingest %s: %v", name, err)
	}
	return rep
}

// people returns n valid records p0000@<domain>... in the groups given.
func people(n int, prefix, domain string, groups ...string) []schema.Record {
	out := make([]schema.Record, n)
	for i := range out {
		email := fmt.Sprintf("%s%05d@%s", prefix, i, domain)
		out[i] = schema.Record{Line: i + 2, Email: email, Key: email, FirstName: fmt.Sprintf("First%d", i),
			LastName: "Person", Groups: groups}
	}
	return out
}

// csvSource is a file source whose small tests must not trip the removal
// share guard unless they mean to.
func csvSource(name string) ingest.SourceConfig {
	return ingest.SourceConfig{Name: name, Kind: store.KindCSV, MaxRemovePercent: -1}
}
