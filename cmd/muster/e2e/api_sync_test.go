package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"muster/ingest/workos/workostest"
)

// TestAPISyncAndReadinessWithWorkOS runs the real binary against the fake
// WorkOS, pulled hourly (once on start) with no events poll: a user added
// in the directory arrives only when an admin asks for a sync through the
// API, recorded with the token's name; a failing pull makes /readyz answer
// 503 and shows in the metrics, and the next good pull clears it.
func TestAPISyncAndReadinessWithWorkOS(t *testing.T) {
	fake := workostest.Start(t, workostest.Options{})
	seed := fake.MustSeed(t, workostest.SeedSpec{Users: 40, Groups: 2})
	root := t.TempDir()
	data := filepath.Join(root, "data")
	admin := mustToken(t, "ops-admin", "default", "admin")
	viewer := mustToken(t, "dash", "default", "viewer")
	extra := "\n[http]\nlisten = \"127.0.0.1:0\"\n\n" + admin.table + "\n" + viewer.table
	cfg := workosConfig(t, fake, seed.Directory.ID, data, "@every 1h", "0", extra)
	MustServe(t, data, root, workosEnv(fake), "-config", cfg)
	var st struct {
		HTTPAddr string `json:"http_addr"`
	}
	b, _ := os.ReadFile(filepath.Join(data, "serve.json"))
	if err := json.Unmarshal(b, &st); err != nil || st.HTTPAddr == "" {
		t.Fatalf("serve.json: %s", b)
	}
	c := &client{t: t, base: "http://" + st.HTTPAddr}
	okta := func() []dropView {
		var list struct{ Drops []dropView }
		c.want(200, "GET", "/v1/drops?source=okta", &viewer, "", &list)
		return list.Drops
	}
	waitFor(t, "the pull on start", func() bool { ds := okta(); return len(ds) == 1 && ds[0].Status == "applied" })
	// A sync asked for while a pull still finishes is a conflict (409):
	// ask until it is taken.
	syncNow := func() {
		t.Helper()
		waitFor(t, "a sync taken", func() bool {
			code, body := c.do("POST", "/v1/sources/okta/sync", &admin, "")
			if code != http.StatusAccepted && code != http.StatusConflict {
				t.Fatalf("sync: %d %s", code, body)
			}
			return code == http.StatusAccepted
		})
	}
	var src struct {
		Source struct {
			CanSync bool `json:"can_sync"`
			People  int
			State   string
		}
	}
	c.want(200, "GET", "/v1/sources/okta", &viewer, "", &src)
	if !src.Source.CanSync || src.Source.People != 40 || src.Source.State != "ok" {
		t.Fatalf("source okta: %+v", src)
	}

	if _, err := fake.CreateUser(seed.Directory.ID, workostest.UserSpec{Email: "new.hire@example.com", FirstName: "New", LastName: "Hire"}); err != nil {
		t.Fatal(err)
	}
	c.want(403, "POST", "/v1/sources/okta/sync", &viewer, "", nil)
	c.want(400, "POST", "/v1/sources/hr/sync", &admin, "", nil)
	c.want(404, "POST", "/v1/sources/nosuch/sync", &admin, "", nil)
	syncNow()
	var ds []dropView
	waitFor(t, "the pull asked for", func() bool { ds = okta(); return len(ds) == 2 && ds[0].Status != "received" })
	if ds[0].Status != "applied" || ds[0].DecidedBy != "api:ops-admin" {
		t.Fatalf("synced drop: %+v", ds[0])
	}
	var ex struct {
		Recipient struct{ Status string }
		History   []struct{ By string }
	}
	c.want(200, "GET", "/v1/recipients/new.hire@example.com", &viewer, "", &ex)
	if ex.Recipient.Status != "active" || len(ex.History) == 0 || ex.History[0].By != "api:ops-admin" {
		t.Fatalf("new hire: %+v", ex)
	}
	var ready struct {
		Ready  bool
		Checks []struct {
			Name string
			OK   bool
		}
	}
	c.want(200, "GET", "/readyz", nil, "", &ready)
	if !strings.Contains(fmt.Sprint(ready.Checks), "schedule") {
		t.Fatalf("readyz has no schedule check: %+v", ready)
	}
	if c.metric(nil, "muster_workos_requests_total") < 4 || c.metric(nil, "muster_scheduled_run_failing", "source", "okta") != 0 {
		t.Fatal("WorkOS requests or runs not in the metrics")
	}

	// WorkOS fails: the pull asked for fails, readiness says so.
	fake.AddFault(workostest.Fault{Path: "/directory_users", Status: http.StatusBadRequest})
	syncNow()
	waitFor(t, "readyz failing", func() bool {
		code, _ := c.do("GET", "/readyz", nil, "")
		return code == http.StatusServiceUnavailable
	})
	if c.metric(nil, "muster_scheduled_run_failing", "source", "okta") != 1 {
		t.Fatal("the failing pull is not in the metrics")
	}
	fake.ClearFaults()
	syncNow()
	waitFor(t, "readyz ready again", func() bool {
		code, _ := c.do("GET", "/readyz", nil, "")
		return code == http.StatusOK
	})
}
