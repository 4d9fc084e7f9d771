package main

import (
	"encoding/json"
	"strings"
	"testing"

	"muster/ingest/workos/workostest"
	"muster/store"
)

func TestSourcesSyncPullsNowAndPrintsTheReport(t *testing.T) {
	dt := mustDirTest(t, 120, 3, "")
	vars := map[string]string{"WORKOS_API_KEY": dt.fake.APIKey()}
	code, out, errs := runEnv(t, vars, "sources", "sync", "okta", "-config", dt.path, "-json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Decision string
		Source   string
		Counts   struct{ Added int }
		Pull     struct {
			Requests int64
			Users    int
			Groups   int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.Decision != "applied" || rep.Source != "okta" || rep.Counts.Added != 120 || rep.Pull.Users != 120 || rep.Pull.Groups != 3 ||
		rep.Pull.Requests == 0 {
		t.Fatalf("report = %+v", rep)
	}
	if n := dt.counts()[store.StatusActive]; n != 120 {
		t.Fatalf("%d active recipients, want 120", n)
	}
	// Text, and a directory unchanged since: a duplicate, exit 0.
	dt.fake.DeactivateUser(dt.seed.UserIDs[0])
	code, out, errs = runEnv(t, vars, "sources", "sync", "-config", dt.path, "-dry-run", "okta")
	if code != exitOK || !strings.Contains(out, "pull: directory "+dt.seed.Directory.ID) || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	dt.mustBe(email(0), store.StatusActive, "okta/Engineering")
	if code, _, errs = runEnv(t, vars, "sources", "sync", "-config", dt.path, "nope"); code != exitError || !strings.Contains(errs, `no workos source "nope"`) {
		t.Fatalf("unknown source: exit %d %s", code, errs)
	}
	if code, _, errs = runEnv(t, nil, "sources", "sync", "-config", dt.path, "okta"); code != exitError || !strings.Contains(errs, "WORKOS_API_KEY") {
		t.Fatalf("no key: exit %d %s", code, errs)
	}

	// A pull that fails before any drop: exit 1, and -json still prints
	// one object, with the error and the requests made.
	dt.fake.AddFault(workostest.Fault{Path: "/directories/*", Status: 500})
	code, out, errs = runEnv(t, vars, "sources", "sync", "okta", "-config", dt.path, "-json")
	var failed struct {
		Decision, Error string
		Pull            struct{ Requests, Retries int64 }
	}
	if err := json.Unmarshal([]byte(out), &failed); err != nil || code != exitError || failed.Decision != "failed" ||
		!strings.Contains(failed.Error, "500") || failed.Pull.Requests < 2 || failed.Pull.Retries < 1 || !strings.Contains(errs, "nothing applied") {
		t.Fatalf("failed pull: exit %d %v\n%s%s", code, err, out, errs)
	}
	// One that fails part-way: an interrupted pull, exit 1, nothing applied.
	dt.fake.ClearFaults()
	dt.fake.AddFault(workostest.Fault{Path: "/directory_users", Query: "directory=", Skip: 1, Status: 500})
	code, out, errs = runEnv(t, vars, "sources", "sync", "okta", "-config", dt.path)
	if code != exitError || !strings.Contains(out, "interrupted: the pull failed after 100 records") || !strings.Contains(errs, "interrupted") {
		t.Fatalf("interrupted pull: exit %d\n%s%s", code, out, errs)
	}
	dt.mustBe(email(0), store.StatusActive, "okta/Engineering")
}
