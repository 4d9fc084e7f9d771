package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// apiToken is a token made by `muster token new`, with its config table.
type apiToken struct {
	name, secret, table string
}

// mustToken runs the binary's `muster token new` and reads what it prints.
func mustToken(t testing.TB, name, org, role string) apiToken {
	t.Helper()
	out := muster(t, "token", "new", "-name", name, "-org", org, "-role", role)
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(strings.TrimSpace(lines[2]), "mst_") {
		t.Fatalf("token new printed:\n%s", out)
	}
	i := strings.Index(out, "[[http.tokens]]")
	if i < 0 {
		t.Fatalf("no config table in:\n%s", out)
	}
	return apiToken{name: name, secret: strings.TrimSpace(lines[2]), table: out[i:]}
}

// client speaks to a running daemon's admin API.
type client struct {
	t    testing.TB
	base string
}

func (c *client) do(method, path string, tok *apiToken, body string) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != nil {
		req.Header.Set("Authorization", "Bearer "+tok.secret)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, b
}

// want sends a request and wants the status; on 2xx it decodes into out.
func (c *client) want(status int, method, path string, tok *apiToken, body string, out any) {
	c.t.Helper()
	got, b := c.do(method, path, tok, body)
	if got != status {
		who := "no token"
		if tok != nil {
			who = tok.name
		}
		c.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, who, got, b, status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
}

// metric returns a sample's value from /metrics (scraped with tok), -1
// when it is not exposed. labels are name=value pairs, all required.
func (c *client) metric(tok *apiToken, name string, labels ...string) float64 {
	c.t.Helper()
	_, b := c.do("GET", "/metrics", tok, "")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		c.t.Fatalf("parse /metrics: %v\n%s", err, b)
	}
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		if hasLabels(m, labels) {
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i < len(labels); i += 2 {
		found := false
		for _, l := range m.Label {
			found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
		}
		if !found {
			return false
		}
	}
	return true
}

// writeCSV writes n people of domain into dir/name, atomically.
func writeCSV(t testing.TB, dir, name, domain string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("email,first_name,last_name,groups\n")
	for i := range n {
		groups := "Staff"
		if i%2 == 1 {
			groups = "Staff|Odd"
		}
		fmt.Fprintf(&b, "p%05d@%s,First%d,Person,%s\n", i, domain, i, groups)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// dropView is a drop as GET /v1/drops lists it.
type dropView struct {
	ID        int64  `json:"id"`
	Source    string `json:"source"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	DecidedBy string `json:"decided_by"`
}

// waitDrops waits until the token's organisation has n drops, none of them
// still being processed, and returns them newest first.
func (c *client) waitDrops(tok *apiToken, n int) []dropView {
	c.t.Helper()
	var list struct{ Drops []dropView }
	waitFor(c.t, fmt.Sprintf("%d decided drops for %s", n, tok.name), func() bool {
		list.Drops = nil
		c.want(200, "GET", "/v1/drops", tok, "", &list)
		if len(list.Drops) < n {
			return false
		}
		for _, d := range list.Drops {
			if d.Status == "received" {
				return false
			}
		}
		return true
	})
	if len(list.Drops) != n {
		c.t.Fatalf("%d drops, want %d: %+v", len(list.Drops), n, list.Drops)
	}
	return list.Drops
}

// TestAdminAPIWithTheBinary runs `muster serve` with two organisations,
// tokens made by `muster token new`, and drives its admin API: every role,
// organisations kept apart, paging over 10,000 recipients, a held drop
// approved through the API and applied, bad tokens and bodies, metrics and
// readiness; with OpenSSH installed, SFTP uploads and a failed login show
// in the metrics.
func TestAdminAPIWithTheBinary(t *testing.T) {
	work := t.TempDir()
	data := filepath.Join(work, "data")
	acmeDrop, globexDrop := filepath.Join(work, "acme-drop"), filepath.Join(work, "globex-drop")
	viewer := mustToken(t, "acme-viewer", "acme", "viewer")
	admin := mustToken(t, "acme-admin", "acme", "admin")
	globex := mustToken(t, "globex-admin", "globex", "admin")
	ops := mustToken(t, "ops", "*", "viewer")
	withSFTP := keyFile != ""
	if _, err := exec.LookPath("sftp"); err != nil {
		withSFTP = false
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "data_dir = %q\n\n[[orgs]]\nname = \"acme\"\n[[orgs]]\nname = \"globex\"\n\n", data)
	// The same source name in both organisations: nothing crosses.
	fmt.Fprintf(&cfg, "[[sources]]\nname = \"hr\"\norg = \"acme\"\nkind = \"folder\"\nfolder = %q\n\n", acmeDrop)
	fmt.Fprintf(&cfg, "[[sources]]\nname = \"hr\"\norg = \"globex\"\nkind = \"folder\"\nfolder = %q\n\n", globexDrop)
	if withSFTP {
		pub, err := os.ReadFile(keyFile + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, "[[sources]]\nname = \"upload\"\norg = \"acme\"\nkind = \"sftp\"\n\n")
		fmt.Fprintf(&cfg, "[sftp]\nlisten = \"127.0.0.1:0\"\n[[sftp.accounts]]\nname = \"acme-hris\"\norg = \"acme\"\nsource = \"upload\"\nkeys = [%q]\n\n",
			strings.TrimSpace(string(pub)))
	}
	fmt.Fprintf(&cfg, "[http]\nlisten = \"127.0.0.1:0\"\nmetrics = \"operator\"\n\n")
	for _, tok := range []apiToken{viewer, admin, globex, ops} {
		cfg.WriteString(tok.table + "\n")
	}
	cfgPath := filepath.Join(work, "muster.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o640); err != nil {
		t.Fatal(err)
	}
	d := MustServe(t, data, work, nil, "-config", cfgPath)
	var st struct {
		HTTPAddr string `json:"http_addr"`
	}
	b, _ := os.ReadFile(filepath.Join(data, "serve.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.HTTPAddr == "" {
		t.Fatalf("serve.json has no http_addr: %s", b)
	}
	if !strings.Contains(d.stdout.String(), "http://"+st.HTTPAddr) {
		t.Fatalf("the start message does not say where the API is:\n%s", d.stdout)
	}
	c := &client{t: t, base: "http://" + st.HTTPAddr}

	c.want(200, "GET", "/healthz", nil, "", nil)
	var ready struct {
		Ready  bool
		Checks []struct{ Name string }
	}
	c.want(200, "GET", "/readyz", nil, "", &ready)
	if !ready.Ready || (withSFTP && fmt.Sprint(ready.Checks) != "[{store} {store_file} {sftp} {drops} {watch} {schedule}]") {
		t.Fatalf("readyz: %+v", ready)
	}

	// 10,000 people for acme, 5 for globex.
	writeCSV(t, acmeDrop, "acme.csv", "acme.example", 10000)
	writeCSV(t, globexDrop, "globex.csv", "globex.example", 5)
	first := c.waitDrops(&viewer, 1)[0]
	globexFirst := c.waitDrops(&globex, 1)[0]
	if first.Status != "applied" || globexFirst.Status != "applied" {
		t.Fatalf("first drops: %+v %+v", first, globexFirst)
	}

	// Paging: every recipient exactly once.
	seen := map[string]int{}
	after := ""
	for pages := 0; ; pages++ {
		var page struct {
			Recipients []struct{ Key string }
			Next       string
		}
		c.want(200, "GET", "/v1/recipients?limit=1000&after="+url.QueryEscape(after), &viewer, "", &page)
		for _, r := range page.Recipients {
			seen[r.Key]++
			if !strings.HasSuffix(r.Key, "@acme.example") {
				t.Fatalf("acme's list holds %s", r.Key)
			}
		}
		if page.Next == "" {
			break
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		after = page.Next
	}
	if len(seen) != 10000 {
		t.Fatalf("paged over %d recipients, want 10000", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times", k, n)
		}
	}

	// Every read, for the viewer and (naming acme) the operator.
	reads := []string{"/v1/sources", "/v1/sources/hr", "/v1/drops", fmt.Sprintf("/v1/drops/%d", first.ID),
		fmt.Sprintf("/v1/drops/%d/changes?limit=5", first.ID), "/v1/recipients?group=odd&search=p0000",
		"/v1/recipients/p00042@acme.example", "/v1/groups", "/v1/export?group=staff&format=json"}
	for _, p := range reads {
		c.want(200, "GET", p, &viewer, "", nil)
		c.want(200, "GET", strings.Replace(p, "/v1/", "/v1/orgs/acme/", 1), &ops, "", nil)
		// globex sees nothing of acme: acme named, or acme's ids in its own.
		c.want(404, "GET", strings.Replace(p, "/v1/", "/v1/orgs/acme/", 1), &globex, "", nil)
	}
	c.want(404, "GET", fmt.Sprintf("/v1/drops/%d", first.ID), &globex, "", nil)
	c.want(404, "GET", "/v1/recipients/p00042@acme.example", &globex, "", nil)
	var gl struct{ Recipients []struct{ Key string } }
	c.want(200, "GET", "/v1/recipients", &globex, "", &gl)
	if len(gl.Recipients) != 5 {
		t.Fatalf("globex lists %d recipients", len(gl.Recipients))
	}

	// A truncated export (half the people) is held; the viewer may not
	// approve it, nor may globex's admin; acme's admin does.
	writeCSV(t, acmeDrop, "acme-truncated.csv", "acme.example", 5000)
	held := c.waitDrops(&viewer, 2)[0]
	if held.Status != "held" {
		t.Fatalf("truncated export: %+v", held)
	}
	approve := fmt.Sprintf("/v1/drops/%d/approve", held.ID)
	c.want(403, "POST", approve, &viewer, "", nil)
	c.want(403, "POST", "/v1/sources/hr/rollback", &viewer, fmt.Sprintf(`{"to": %d}`, first.ID), nil)
	c.want(404, "POST", approve, &globex, "", nil)
	c.want(404, "POST", strings.Replace(approve, "/v1/", "/v1/orgs/acme/", 1), &globex, "", nil)
	c.want(401, "POST", approve, &apiToken{name: "forged", secret: "mst_" + strings.Repeat("A", 43)}, "", nil)
	c.want(401, "POST", approve, nil, "", nil)
	c.want(400, "POST", approve, &admin, `{"dry_run": true, "force": true}`, nil)
	c.want(400, "POST", approve, &admin, `{"dry_run": `, nil)
	if got := c.metric(&ops, "muster_held_drops", "org", "acme", "source", "hr"); got != 1 {
		t.Fatalf("muster_held_drops = %g before approval", got)
	}
	var rep struct {
		Decision string
		Counts   struct{ Removed int }
	}
	c.want(200, "POST", approve, &admin, "", &rep)
	if rep.Decision != "applied" || rep.Counts.Removed != 5000 {
		t.Fatalf("approve: %+v", rep)
	}
	c.want(409, "POST", approve, &admin, "", nil)
	c.want(409, "POST", fmt.Sprintf("/v1/drops/%d/reject", held.ID), &admin, `{"reason": "too late"}`, nil)
	c.want(403, "POST", fmt.Sprintf("/v1/drops/%d/reject", held.ID), &viewer, "", nil)
	c.want(403, "POST", "/v1/sources/hr/sync", &viewer, "", nil)
	c.want(400, "POST", "/v1/sources/hr/sync", &admin, "", nil) // a folder source is not pulled
	var dry struct {
		DryRun bool `json:"dry_run"`
		Counts struct{ Added int }
	}
	c.want(200, "POST", "/v1/sources/hr/rollback", &admin, fmt.Sprintf(`{"to": %d, "dry_run": true}`, first.ID), &dry)
	if !dry.DryRun || dry.Counts.Added != 5000 {
		t.Fatalf("rollback dry run: %+v", dry)
	}

	// Applied: the CLI reading the store agrees, and says who approved.
	out := muster(t, "recipients", "list", "-data", data, "-org", "acme", "-json", "-limit", "10000")
	var listed struct{ Recipients []struct{ Key string } }
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Recipients) != 5000 {
		t.Fatalf("%d active after approval, want 5000", len(listed.Recipients))
	}
	out = muster(t, "drops", "show", "-data", data, "-org", "acme", fmt.Sprint(held.ID))
	if !strings.Contains(out, "applied") || !strings.Contains(out, "by api:acme-admin") {
		t.Fatalf("drops show:\n%s", out)
	}
	out = muster(t, "recipients", "explain", "-data", data, "-org", "acme", "p09999@acme.example")
	if !strings.Contains(out, "removed") || !strings.Contains(out, "by api:acme-admin") {
		t.Fatalf("explain does not say who approved:\n%s", out)
	}

	// Metrics (an operator token: they name every organisation).
	c.want(401, "GET", "/metrics", nil, "", nil)
	c.want(403, "GET", "/metrics", &admin, "", nil)
	for _, m := range []struct {
		name   string
		want   float64
		labels []string
	}{
		{"muster_drops_total", 1, []string{"org", "acme", "source", "hr", "decision", "applied"}},
		{"muster_drops_total", 1, []string{"org", "acme", "source", "hr", "decision", "held"}},
		{"muster_drops_total", 1, []string{"org", "globex", "source", "hr", "decision", "applied"}},
		{"muster_held_drops_decided_total", 1, []string{"org", "acme", "source", "hr", "decision", "approved"}},
		{"muster_held_drops", 0, []string{"org", "acme", "source", "hr"}},
		{"muster_rows_total", 10000, []string{"org", "acme", "source", "hr", "change", "added"}},
		{"muster_rows_total", 5000, []string{"org", "acme", "source", "hr", "change", "removed"}},
		{"muster_source_people", 5, []string{"org", "globex", "source", "hr"}},
	} {
		if got := c.metric(&ops, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %g, want %g", m.name, m.labels, got, m.want)
		}
	}
	if c.metric(&ops, "muster_http_auth_failures_total") < 2 {
		t.Error("auth failures not counted")
	}

	if withSFTP {
		sftpMetrics(t, d, c, &ops, &viewer, work)
	}
	d.stop()
}

// sftpMetrics uploads an export over SFTP and tries a login with a key the
// account does not have: both show in /metrics, and the upload as a drop.
func sftpMetrics(t *testing.T, d *daemon, c *client, ops, viewer *apiToken, work string) {
	up := filepath.Join(work, "up")
	if err := os.MkdirAll(up, 0o750); err != nil {
		t.Fatal(err)
	}
	writeCSV(t, up, "export.csv", "acme.example", 50)
	before := c.metric(ops, "muster_sftp_received_bytes_total")
	d.sftp("acme-hris", up, "put export.csv")
	c.waitDrops(viewer, 3)
	size, _ := os.Stat(filepath.Join(up, "export.csv"))
	if got := c.metric(ops, "muster_sftp_received_bytes_total"); got-before != float64(size.Size()) {
		t.Errorf("sftp bytes received went from %g to %g, want +%d", before, got, size.Size())
	}
	if c.metric(ops, "muster_sftp_connections_total") < 1 || c.metric(ops, "muster_sftp_uploads_total", "outcome", "committed") != 1 {
		t.Error("the SFTP connection or upload is not counted")
	}
	if got := c.metric(ops, "muster_drops_total", "org", "acme", "source", "upload", "decision", "applied"); got != 1 {
		t.Errorf("upload drop counted %g times", got)
	}
	other := filepath.Join(work, "other_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	fails := c.metric(ops, "muster_sftp_auth_failures_total")
	cmd := exec.Command("sftp", "-b", "-", "-P", d.port(), "-i", other, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "acme-hris@127.0.0.1")
	cmd.Stdin = strings.NewReader("ls\n")
	if err := cmd.Run(); err == nil {
		t.Fatal("a login with a key the account does not have succeeded")
	}
	waitFor(t, "the failed login counted", func() bool {
		return c.metric(ops, "muster_sftp_auth_failures_total") > fails
	})
}
