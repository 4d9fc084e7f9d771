package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/cmd/muster/api"
	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
)

// scimCall sends one SCIM request to the daemon's listener and returns the
// status and the decoded answer.
func scimCall(t testing.TB, m *Main, source, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	url := "http://" + m.SCIMListener.Addr().String() + "/scim/v2/default/" + source + path
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func scimUser(email, first string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,
 "name":{"givenName":%q,"familyName":"Scim"},"emails":[{"primary":true,"value":%q,"type":"work"}],"active":true}`, email, first, email)
}

// recipientName returns the recipient's first name and status.
func recipientName(t testing.TB, m *Main, email string) (string, store.RecipientStatus) {
	t.Helper()
	ctx := context.Background()
	org, err := m.Store.LookupOrg(ctx, schema.DefaultOrg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Store.Recipient(ctx, org.ID, email)
	if err != nil {
		t.Fatalf("%s: %v", email, err)
	}
	return r.FirstName, r.Status
}

func storedPriority(t testing.TB, m *Main, source string) int {
	t.Helper()
	ctx := context.Background()
	org, _ := m.Store.LookupOrg(ctx, schema.DefaultOrg)
	src, err := m.Store.LookupSource(ctx, org.ID, source)
	if err != nil {
		t.Fatal(err)
	}
	return src.Priority
}

// One directory engine holds the WorkOS and SCIM sources for the daemon's
// life. A reload that adds a WorkOS directory, removes another and raises
// the SCIM source's priority keeps it: SCIM writes (real HTTP to the SCIM
// listener) still apply, the new priority decides who wins a name (at
// once, and after later writes), the new directory is pulled at once and
// the unchanged one is not, and the removed one is no longer pulled.
func TestReloadKeepsOneDirectoryEngineForWorkOSAndSCIM(t *testing.T) {
	ctx := context.Background()
	fake := workostest.Start(t, workostest.Options{})
	okta := fake.MustSeed(t, workostest.SeedSpec{Users: 6, Groups: 2, Domain: "a.example.com"})
	google := fake.MustSeed(t, workostest.SeedSpec{Users: 6, Groups: 2, Domain: "b.example.com"})
	azure := fake.MustSeed(t, workostest.SeedSpec{Users: 6, Groups: 2, Domain: "c.example.com"})
	const token = "mst_reload_scim"
	root := t.TempDir()
	r := &reloadRig{t: t, root: root, path: filepath.Join(root, "muster.toml"), fake: fake, vars: map[string]string{"K": fake.APIKey()}}
	dir := func(name, id, schedule string) string {
		return fmt.Sprintf("[[sources]]\nname = %q\nkind = \"workos\"\ndirectory_id = %q\nschedule = %q\n", name, id, schedule)
	}
	scimConf := func(priority int) string {
		// (A tiny source: its guard thresholds off.)
		return fmt.Sprintf("[scim]\nlisten = \"127.0.0.1:0\"\n[[sources]]\nname = \"scim\"\nkind = \"scim\"\ntoken_hash = %q\npriority = %d\nmax_remove_percent = -1\n",
			api.HashToken(token), priority)
	}
	r.write(scimConf(0) + dir("okta", okta.Directory.ID, "@every 1h") + dir("google", google.Directory.ID, "@every 1s"))
	m := r.start()
	waitUntil(t, "the start pulls", func() bool {
		return len(sourceDropStatuses(t, m, "okta")) == 1 && len(sourceDropStatuses(t, m, "google")) >= 2
	})
	eng := m.dirs()
	shared := workostest.SeedEmail(1, "a.example.com") // okta lists them; the IdP too
	oktaName, _ := recipientName(t, m, shared)
	if code, _ := scimCall(t, m, "scim", token, "POST", "/Users", scimUser(shared, "Scimmy")); code != http.StatusCreated {
		t.Fatalf("SCIM POST before the reload: %d", code)
	}
	if first, _ := recipientName(t, m, shared); first != oktaName {
		t.Fatalf("same priority: %q won, want okta's %q (the fixed order)", first, oktaName)
	}

	r.write(scimConf(10) + dir("okta", okta.Directory.ID, "@every 1h") + dir("azure", azure.Directory.ID, "@every 1h"))
	res, err := m.Reload(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"source default/azure added", "source default/google removed", "source default/scim: priority changed"} {
		if !slices.Contains(res.Changed, w) {
			t.Errorf("the reload did not say %q: %q", w, res.Changed)
		}
	}
	if m.dirs() != eng {
		t.Fatal("the reload replaced the directory engine")
	}
	var names []string
	for _, s := range eng.Sources() {
		names = append(names, s.Key())
	}
	slices.Sort(names)
	if want := []string{"default/azure", "default/okta", "default/scim"}; !slices.Equal(names, want) {
		t.Fatalf("the engine's sources after the reload: %v, want %v", names, want)
	}
	// The changed priority is in force at once: the IdP's name wins now.
	if first, _ := recipientName(t, m, shared); first != "Scimmy" || storedPriority(t, m, "scim") != 10 {
		t.Fatalf("after the reload: %q won, stored priority %d", first, storedPriority(t, m, "scim"))
	}
	// The new directory is pulled at once; the unchanged one is not.
	waitUntil(t, "the new directory's pull", func() bool {
		return slices.Equal(sourceDropStatuses(t, m, "azure"), []store.DropStatus{store.DropApplied})
	})
	if n := len(sourceDropStatuses(t, m, "okta")); n != 1 {
		t.Fatalf("the unchanged directory was pulled again: %d drops", n)
	}
	// SCIM writes reach the engine in force: a new user, then a PATCH.
	code, created := scimCall(t, m, "scim", token, "POST", "/Users", scimUser("new.hire@d.example.com", "Nina"))
	if code != http.StatusCreated {
		t.Fatalf("SCIM POST after the reload: %d %v", code, created)
	}
	if first, st := recipientName(t, m, "new.hire@d.example.com"); first != "Nina" || st != store.StatusActive {
		t.Fatalf("the POSTed user: %q %s", first, st)
	}
	id, _ := created["id"].(string)
	patch := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.givenName","value":"Nora"}]}`
	if code, body := scimCall(t, m, "scim", token, "PATCH", "/Users/"+id, patch); code != http.StatusOK {
		t.Fatalf("SCIM PATCH after the reload: %d %v", code, body)
	}
	if first, _ := recipientName(t, m, "new.hire@d.example.com"); first != "Nora" {
		t.Fatalf("the PATCHed user: %q", first)
	}
	// A later write keeps the new priority (it does not write the old one
	// back), and the IdP's name still wins over okta's.
	if code, _ := scimCall(t, m, "scim", token, "POST", "/Users", scimUser(workostest.SeedEmail(2, "a.example.com"), "Scotty")); code != http.StatusCreated {
		t.Fatalf("second SCIM POST: %d", code)
	}
	if first, _ := recipientName(t, m, workostest.SeedEmail(2, "a.example.com")); first != "Scotty" || storedPriority(t, m, "scim") != 10 {
		t.Fatalf("after a later write: %q won, stored priority %d", first, storedPriority(t, m, "scim"))
	}
	// The removed directory (pulled every second before) is pulled no more,
	// and cannot be synced.
	n := len(sourceDropStatuses(t, m, "google"))
	time.Sleep(2500 * time.Millisecond)
	if got := len(sourceDropStatuses(t, m, "google")); got != n {
		t.Fatalf("the removed directory was pulled after the reload: %d drops, then %d", n, got)
	}
	if err := eng.SyncNow(ctx, schema.DefaultOrg, "google", "test"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("sync of the removed directory: %v", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for the daemon's log and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The reconciliation runs while any directory source is configured, a
// SCIM source alone included.
func TestReconciliationRunsForSCIMAlone(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "muster.toml")
	cfg := fmt.Sprintf("data_dir = \"data\"\n[workos]\nreconcile = \"@every 1s\"\n[scim]\nlisten = \"127.0.0.1:0\"\n"+
		"[[sources]]\nname = \"scim\"\nkind = \"scim\"\ntoken_hash = %q\n", api.HashToken("mst_alone"))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	m := mustDaemonWith(t, path, func(m *Main) { m.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	if code, _ := scimCall(t, m, "scim", "mst_alone", "POST", "/Users", scimUser("ann@example.com", "Ann")); code != http.StatusCreated {
		t.Fatalf("SCIM POST: %d", code)
	}
	waitUntil(t, "a reconciliation", func() bool { return strings.Contains(logs.String(), "reconciliation done") })
	if !strings.Contains(logs.String(), "recipients match their sources") {
		t.Fatalf("the reconciliation did not check the organisation:\n%s", logs.String())
	}
}
