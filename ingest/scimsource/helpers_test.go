package scimsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/scim"
	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/golden")

// rig is a SCIM endpoint over a real store file and the real pipeline,
// served on loopback.
type rig struct {
	t     testing.TB
	st    *store.Store
	in    *ingest.Ingester
	b     *Backend
	srv   *scim.Server
	hs    *httptest.Server
	org   string
	token string
	// vars are ids captured from responses, for later requests.
	vars map[string]string
	// transcript is the normalised exchange, for the golden file.
	transcript bytes.Buffer
}

// scimSource is a SCIM source's settings as the config gives them, with
// the mass-removal thresholds off: with a handful of test users one
// deactivation crosses the 20% share that SCIM writes count against over
// the removal window (issue 11; the window is tested in ingest/directory).
func scimSource(name string) store.SourceConfig {
	return store.SourceConfig{Name: name, Kind: store.KindSCIM, Mode: store.ModeDelta, Authoritative: true,
		MaxRemovePercent: -1, MaxRemoveCount: -1, MaxInvalidPercent: -1}.WithDefaults()
}

// The SCIM producer's tests run on SQLite, and again on PostgreSQL when
// MUSTER_TEST_POSTGRES names a server (storetest).
func TestMain(m *testing.M) { storetest.Main(m) }

func TestBackends(t *testing.T) { storetest.Report(t) }

// MustRig starts a SCIM endpoint serving source "idp" (token "tok-idp")
// and "other" (token "tok-other") in organisation "default".
func MustRig(t testing.TB, cfgs ...store.SourceConfig) *rig {
	t.Helper()
	st := storetest.Open(t)
	in := ingest.New(st)
	in.TempDir = t.TempDir()
	if len(cfgs) == 0 {
		cfgs = []store.SourceConfig{scimSource("idp"), scimSource("other")}
	}
	b := New(directory.New(in, nil), nil)
	n := 0
	var mu sync.Mutex
	b.NewID = func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	}
	var srcs []Source
	var refs []scim.Source
	for _, c := range cfgs {
		srcs = append(srcs, Source{Org: schema.DefaultOrg, Config: c})
		refs = append(refs, scim.Source{Org: schema.DefaultOrg, Name: c.Name, TokenHash: sha256.Sum256([]byte("tok-" + c.Name))})
	}
	if err := b.SetSources(srcs); err != nil {
		t.Fatal(err)
	}
	srv := scim.NewServer(b, refs, nil)
	hs := httptest.NewServer(srv)
	r := &rig{t: t, st: st, in: in, b: b, srv: srv, hs: hs, org: schema.DefaultOrg, token: "tok-" + cfgs[0].Name, vars: map[string]string{}}
	t.Cleanup(func() {
		hs.Close()
		b.Close()
		st.Close()
	})
	return r
}

// base is the source's base URL (the IdP's tenant URL).
func (r *rig) base(source string) string { return r.hs.URL + "/scim/v2/" + r.org + "/" + source }

var varRe = regexp.MustCompile(`\{\{(\w+)\}\}`)

func (r *rig) expand(s string) string {
	return varRe.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := r.vars[m[2:len(m)-2]]
		if !ok {
			r.t.Fatalf("no variable %s", m)
		}
		return v
	})
}

// do sends a request to the default source with its token and returns the
// status and the decoded body (nil when empty).
func (r *rig) do(method, path, body string) (int, http.Header, map[string]any) {
	r.t.Helper()
	return r.doAs(r.token, method, r.base(r.srcOf())+r.expand(path), body)
}

func (r *rig) srcOf() string { return strings.TrimPrefix(r.token, "tok-") }

func (r *rig) doAs(token, method, url, body string) (int, http.Header, map[string]any) {
	r.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(r.expand(body))
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			r.t.Fatalf("%s %s: body is not JSON: %s", method, url, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/scim+json" {
			r.t.Errorf("%s %s: Content-Type %q, want application/scim+json", method, url, ct)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// step is one request of a documented sequence.
type step struct {
	note         string
	method, path string
	body         string
	status       int
	// save names the response's id for later steps ({{name}}).
	save string
	// check, if set, runs after the step (the audience it implies).
	check func(r *rig, resp map[string]any)
}

// replay runs the steps, checking each status, and compares the
// normalised transcript with testdata/golden/<name>.txt.
func (r *rig) replay(name string, steps []step) {
	r.t.Helper()
	for i, s := range steps {
		status, _, resp := r.do(s.method, s.path, s.body)
		if status != s.status {
			r.t.Fatalf("step %d (%s): %s %s: status %d, want %d: %v", i+1, s.note, s.method, r.expand(s.path), status, s.status, resp)
		}
		if s.save != "" {
			id, _ := resp["id"].(string)
			if id == "" {
				r.t.Fatalf("step %d (%s): no id to save in %v", i+1, s.note, resp)
			}
			r.vars[s.save] = id
		}
		r.record(i+1, s, status, resp)
		if s.check != nil {
			s.check(r, resp)
		}
	}
	r.golden(name)
}

var (
	uuidRe = regexp.MustCompile(`00000000-0000-4000-8000-[0-9]{12}`) // the ids MustRig makes
	timeRe = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	hostRe = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
)

// record appends the step to the transcript, with generated ids named
// after the variable that holds them and times and ports replaced.
func (r *rig) record(n int, s step, status int, resp map[string]any) {
	body := ""
	if resp != nil {
		b, _ := json.MarshalIndent(sortLists(resp), "", "  ")
		body = string(b)
	}
	names := map[string]string{}
	for k, v := range r.vars {
		names[v] = "{{" + k + "}}"
	}
	norm := func(s string) string {
		s = uuidRe.ReplaceAllStringFunc(s, func(id string) string {
			if n, ok := names[id]; ok {
				return n
			}
			return "{{?}}"
		})
		s = timeRe.ReplaceAllString(s, "<time>")
		return hostRe.ReplaceAllString(s, "http://HOST")
	}
	fmt.Fprintf(&r.transcript, "### %d. %s\n%s %s\n", n, s.note, s.method, norm(r.expand(s.path)))
	if s.body != "" {
		fmt.Fprintf(&r.transcript, "%s\n", norm(r.expand(s.body)))
	}
	fmt.Fprintf(&r.transcript, "--> %d\n", status)
	if body != "" {
		fmt.Fprintf(&r.transcript, "%s\n", norm(body))
	}
	r.transcript.WriteString("\n")
}

// sortLists orders a ListResponse's members and a user's groups by value,
// so that the transcript does not depend on random ids.
func sortLists(m map[string]any) map[string]any {
	for _, k := range []string{"members", "groups"} {
		if l, ok := m[k].([]any); ok {
			slices.SortFunc(l, func(a, b any) int {
				return strings.Compare(fmt.Sprint(a.(map[string]any)["display"]), fmt.Sprint(b.(map[string]any)["display"]))
			})
		}
	}
	if l, ok := m["Resources"].([]any); ok {
		for _, e := range l {
			if em, ok := e.(map[string]any); ok {
				sortLists(em)
			}
		}
	}
	return m
}

func (r *rig) golden(name string) {
	r.t.Helper()
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.WriteFile(path, r.transcript.Bytes(), 0o644); err != nil {
			r.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatalf("golden %s: %v (run with -update to write it)", path, err)
	}
	if got := r.transcript.String(); got != string(want) {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(got, "\n")
		for i := 0; i < max(len(wl), len(gl)); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				r.t.Fatalf("%s differs from the golden transcript at line %d:\n got: %s\nwant: %s\n(run with -update after checking the change)", path, i+1, g, w)
			}
		}
	}
}

// recipient returns the audience's recipient with that email.
func (r *rig) recipient(email string) (store.Recipient, bool) {
	r.t.Helper()
	ctx := context.Background()
	org, err := r.st.LookupOrg(ctx, r.org)
	if err != nil {
		return store.Recipient{}, false
	}
	_, key, err := schema.NormalizeEmail(email)
	if err != nil {
		r.t.Fatal(err)
	}
	rec, err := r.st.Recipient(ctx, org.ID, key)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return rec, false
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return rec, true
}

// groupsOf names the groups of a recipient ("source/group").
func (r *rig) groupsOf(rec store.Recipient) []string {
	r.t.Helper()
	gs, err := r.st.GroupsByID(context.Background(), rec.OrgID, rec.GroupIDs)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, id := range rec.GroupIDs {
		out = append(out, gs[id].Name)
	}
	slices.Sort(out)
	return out
}

// wantRecipient checks a recipient's status and groups.
func (r *rig) wantRecipient(email string, status store.RecipientStatus, groups ...string) {
	r.t.Helper()
	rec, ok := r.recipient(email)
	if !ok {
		r.t.Fatalf("%s: no recipient, want %s", email, status)
	}
	if rec.Status != status {
		r.t.Fatalf("%s: status %s, want %s", email, rec.Status, status)
	}
	if got := r.groupsOf(rec); !slices.Equal(got, groups) && !(len(got) == 0 && len(groups) == 0) {
		r.t.Fatalf("%s: groups %v, want %v", email, got, groups)
	}
}

func (r *rig) wantNoRecipient(email string) {
	r.t.Helper()
	if rec, ok := r.recipient(email); ok && rec.Status == store.StatusActive {
		r.t.Fatalf("%s: is an active recipient, want none", email)
	}
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}
