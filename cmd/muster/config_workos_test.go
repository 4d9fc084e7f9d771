package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"muster/ingest"
	"muster/ingest/workos"
)

func TestWorkOSConfigErrorsNameTheField(t *testing.T) {
	src := "[[sources]]\nname = \"okta\"\nkind = \"workos\"\ndirectory_id = \"directory_1\"\n"
	key := "[workos]\napi_key_env = \"K\"\n"
	checkConfigErrors(t, []configCase{
		{src, []string{"workos.api_key_env: required for workos sources"}},
		{src + "[workos]\napi_key_env = \"K\"\napi_key_file = \"k.txt\"\n", []string{"workos.api_key_env: set api_key_env or api_key_file, not both"}},
		{src + "schedule = \"every tuesday\"\n" + key + "base_url = \"api.workos.com\"\nevents_poll = \"500ms\"\nreconcile = \"nightly\"\n",
			[]string{"sources[0].schedule: \"every tuesday\"", "workos.base_url: \"api.workos.com\"", "workos.events_poll: 500ms",
				"workos.reconcile: \"nightly\""}},
		{src + "groups = [\" \"]\n" + key + "[workos.webhook]\nlisten = \"8089\"\npath = \"hooks\"\n",
			[]string{"sources[0].groups[0]: empty group name", "workos.webhook.listen: \"8089\"", "workos.webhook.secret_env", "workos.webhook.path: \"hooks\""}},
		{src + "mode = \"delta\"\n" + key, []string{"sources[0].mode: a workos source is pulled as full snapshots"}},
		// The API key is a bearer secret: plain http only to this machine
		// (the fake), never across a network.
		{src + key + "base_url = \"http://api.workos.com\"\n", []string{"workos.base_url: \"http://api.workos.com\": use https"}},
		{src + key + "base_url = \"http://10.1.2.3:8080\"\n", []string{"workos.base_url: \"http://10.1.2.3:8080\": use https"}},
		{"[[sources]]\nname = \"f\"\nkind = \"folder\"\nfolder = \"x\"\norganization_id = \"org_1\"\n",
			[]string{"sources[0].organization_id: only a workos source has one"}},
		{"[[orgs]]\nname = \"acme\"\nworkos_organization_id = \"org_1\"\n[[orgs]]\nname = \"globex\"\nworkos_organization_id = \"org_1\"\n",
			[]string{"orgs[1].workos_organization_id: \"org_1\" is also the WorkOS organization of acme"}},
		{"[[orgs]]\nname = \"acme\"\nworkos_organization_id = \"org_1\"\n[[orgs]]\nname = \"globex\"\n" + src + "org = \"globex\"\norganization_id = \"org_1\"\n" + key,
			[]string{"sources[0].org: \"globex\", but WorkOS organization org_1 is configured for organisation acme"}},
	})
}

// configCase is a config file and the field-named errors it must give.
type configCase = struct {
	toml string
	want []string
}

// checkConfigErrors runs `config check` on each case: it must fail, naming
// every wanted field.
func checkConfigErrors(t *testing.T, cases []configCase) {
	t.Helper()
	dir := t.TempDir()
	for i, c := range cases {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(c.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errs := runEnv(t, nil, "config", "check", "-config", p)
		if code != exitError {
			t.Errorf("case %d: exit %d, want %d", i, code, exitError)
		}
		for _, w := range c.want {
			if !strings.Contains(errs, w) {
				t.Errorf("case %d: error lacks %q:\n%s", i, w, errs)
			}
		}
	}
}

func TestWorkOSConfigDefaultsAndOrganisations(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.toml")
	os.WriteFile(p, []byte(`
[[orgs]]
name = "acme"
workos_organization_id = "org_acme"
[[orgs]]
name = "globex"
[[sources]]
name = "okta"
kind = "workos"
directory_id = "directory_1"
organization_id = "org_acme"
[[sources]]
name = "google"
kind = "workos"
org = "globex"
directory_id = "directory_2"
[workos]
api_key_file = "secrets/workos"
users_interval = "0"
[workos.webhook]
listen = "127.0.0.1:0"
secret_file = "secrets/webhook"
`), 0o600)
	e := &env{getenv: func(string) string { return "" }}
	c, err := loadConfig(e, p, "")
	if err != nil {
		t.Fatal(err)
	}
	w := c.WorkOS
	if w.BaseURL != workos.DefaultBaseURL || w.Schedule != "@every 30m" || time.Duration(*w.EventsPoll) != time.Minute ||
		w.Reconcile != "0 3 * * *" || w.Webhook.Path != "/webhooks/workos" || time.Duration(w.Webhook.Tolerance) != 3*time.Minute {
		t.Fatalf("defaults: %+v", w)
	}
	if w.APIKeyFile != filepath.Join(filepath.Dir(p), "secrets/workos") {
		t.Errorf("api_key_file not resolved from the config's folder: %s", w.APIKeyFile)
	}
	// organization_id picks the organisation configured for it.
	if c.Sources[0].Org != "acme" || c.Sources[1].Org != "globex" {
		t.Fatalf("orgs = %s, %s; want acme (mapped), globex (named)", c.Sources[0].Org, c.Sources[1].Org)
	}
	// The key is read from its file, never from the config; a missing file
	// is an error naming the field, not the content.
	if _, err := c.workosClient(e, nil); err == nil || !strings.Contains(err.Error(), "workos.api_key_file") {
		t.Fatalf("missing key file: %v", err)
	}
	os.MkdirAll(filepath.Join(filepath.Dir(p), "secrets"), 0o700)
	os.WriteFile(filepath.Join(filepath.Dir(p), "secrets/workos"), []byte("sk_test_abc\n"), 0o600)
	client, err := c.workosClient(e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join([]string{client.String(), c.WorkOS.APIKeyFile}, " "); strings.Contains(s, "sk_test_abc") {
		t.Fatal("the key shows")
	}
	_, sync, err := c.directories(e, ingest.New(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A directory of another WorkOS organization is refused at pull time.
	if err := sync.CheckDirectory("acme", "okta", workos.Directory{ID: "directory_1", OrganizationID: "org_other"}); err == nil ||
		!strings.Contains(err.Error(), "belongs to WorkOS organization org_other, not org_acme") {
		t.Fatalf("foreign directory: %v", err)
	}
	if err := sync.CheckDirectory("globex", "google", workos.Directory{ID: "directory_2", OrganizationID: "org_acme"}); err == nil ||
		!strings.Contains(err.Error(), "configured for organisation acme") {
		t.Fatalf("directory of another organisation's WorkOS organization: %v", err)
	}
	if err := sync.CheckDirectory("acme", "okta", workos.Directory{ID: "directory_1", OrganizationID: "org_acme"}); err != nil {
		t.Fatal(err)
	}
}

func TestWorkOSConfigPlainHTTPOnlyOnLoopback(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:4100", "http://localhost:4100", "http://[::1]:4100", "https://api.workos.com"} {
		p := filepath.Join(t.TempDir(), "m.toml")
		os.WriteFile(p, []byte("[[sources]]\nname = \"okta\"\nkind = \"workos\"\ndirectory_id = \"directory_1\"\n[workos]\napi_key_env = \"K\"\nbase_url = \""+u+"\"\n"), 0o600)
		if code, _, errs := runEnv(t, map[string]string{"K": "sk_test"}, "config", "check", "-config", p); code != exitOK {
			t.Errorf("%s refused: %s", u, errs)
		}
	}
}

// Schedules run in the daemon's local time zone unless CRON_TZ names one
// (README); a zone that does not exist is refused when the config loads.
func TestWorkOSSchedulesTimeZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	s, err := cronParser.Parse("CRON_TZ=Europe/Paris 0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	next := s.Next(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 7, 1, 3, 0, 0, 0, paris); !next.Equal(want) {
		t.Errorf("next run %v, want %v", next, want)
	}
	local, _ := cronParser.Parse("0 3 * * *")
	if got := local.Next(time.Date(2026, 7, 1, 0, 0, 0, 0, time.Local)); got.Hour() != 3 || got.Location() != time.Local {
		t.Errorf("no CRON_TZ: next run %v, want 03:00 local time", got)
	}
	if _, err := cronParser.Parse("CRON_TZ=Nowhere/City 0 3 * * *"); err == nil {
		t.Error("an unknown zone was accepted")
	}
}
