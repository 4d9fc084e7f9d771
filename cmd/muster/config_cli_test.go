package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"muster/store"
)

// cliConfig writes a config into a fresh folder: data in data/, the hr
// source's drop folder in drop/ (both relative to the file, as an operator
// writes them), and extra appended. It returns the config's path.
func cliConfig(t testing.TB, extra string) string {
	t.Helper()
	root := t.TempDir()
	return MustWrite(t, root, "muster.toml", `data_dir = "data"
log_level = "warn"
[watch]
debounce = "20ms"
[attributes]
enabled = ["job_title", "employment_start_date", "department_name"]
[[sources]]
name = "hr"
kind = "folder"
folder = "drop"
priority = 7
max_invalid_percent = 30
delimiter = ";"
day_first = true
[sources.columns]
"Kontakt" = "email"
"Eintritt" = "employment_start_date"
"Funktion" = "job_title"
"Abteilung" = "ignore"
`+extra)
}

// hrSemicolon is an export only hr's settings read right: the email is in
// a column the alias dictionary does not know ("Kontakt"), values hold
// commas, dates are day first, and "Abteilung" (department_name, which the
// allowlist keeps) is ignored by the source's override. Manager Email is
// read but not kept: the allowlist does not enable it.
const hrSemicolon = `Kontakt;Vorname;Nachname;Eintritt;Funktion;Abteilung;Manager Email;Groups
ann@example.com;Ann;Lee;03/04/2024;Head, Sales;Vertrieb;boss@example.com;Sales
bob@example.com;Bob;Ng;13/05/2023;Clerk;Lager;ann@example.com;Ops|Sales
cy@example.com;Cy;Oh;01/02/2022;Clerk, Night;Lager;ann@example.com;Ops
`

// mustDaemon runs `muster serve` in-process on the config at path until
// the test ends.
func mustDaemon(t testing.TB, path string) *Main {
	t.Helper()
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	c, err := loadConfig(e, path, "")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(c, e)
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// dropInto puts a file into a watched folder the way a careful admin does:
// written aside, then renamed into place.
func dropInto(t testing.TB, folder, name, content string) {
	t.Helper()
	tmp := MustWrite(t, folder, "."+name+".tmp", content)
	if err := os.Rename(tmp, filepath.Join(folder, name)); err != nil {
		t.Fatal(err)
	}
}

// waitDrop waits until the daemon has decided drop id of the default
// organisation and returns its status.
func waitDrop(t testing.TB, m *Main, id int64) store.DropStatus {
	t.Helper()
	ctx := context.Background()
	var d store.Drop
	waitUntil(t, "the daemon's drop", func() bool {
		org, err := m.Store.LookupOrg(ctx, "default")
		if err != nil {
			return false
		}
		d, err = m.Store.Drop(ctx, org.ID, id)
		return err == nil && d.Status != store.DropReceived
	})
	return d.Status
}

// dropView is what must not differ between the daemon's and the CLI's
// handling of a file: the decision, counts, problems and the decoder's
// account of the file.
type dropView struct {
	Report struct {
		Source   string          `json:"source"`
		Mode     string          `json:"mode"`
		Decision string          `json:"decision"`
		Counts   json.RawMessage `json:"counts"`
		Problems json.RawMessage `json:"problems"`
		File     json.RawMessage `json:"file"`
	} `json:"report"`
}

// personView is a recipient as the audience sees them.
type personView struct {
	Recipient struct {
		Email     string `json:"email"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Status    string `json:"status"`
	} `json:"recipient"`
	Attrs  map[string]string `json:"attrs"`
	Groups []struct{ Source, Name string }
}

func showPerson(t testing.TB, vars map[string]string, args ...string) personView {
	t.Helper()
	code, out, errs := runEnv(t, vars, append([]string{"recipients", "show", "-json"}, args...)...)
	if code != exitOK {
		t.Fatalf("recipients show %v: exit %d %s", args, code, errs)
	}
	var p personView
	mustJSON(t, out, &p)
	return p
}

func TestCLIIngestWithConfigReadsTheFileAsTheDaemon(t *testing.T) {
	cfg := cliConfig(t, "")
	root := filepath.Dir(cfg)
	file := MustWrite(t, t.TempDir(), "hr.csv", hrSemicolon)

	// Without the config the file is refused: no email column.
	if code, out, _ := MustRunIn(t, t.TempDir(), "ingest", "-source", "hr", file); code != exitRejected || !strings.Contains(out, "no_email_column") {
		t.Fatalf("without the config: exit %d\n%s", code, out)
	}

	// The daemon takes the file from hr's folder ...
	m := mustDaemon(t, cfg)
	dropInto(t, filepath.Join(root, "drop"), "hr.csv", hrSemicolon)
	if st := waitDrop(t, m, 1); st != store.DropApplied {
		t.Fatalf("daemon: drop 1 is %s", st)
	}
	// ... and the CLI, with the same config and another data directory
	// (-data given explicitly wins over data_dir).
	cliData := t.TempDir()
	code, out, errs := runEnv(t, nil, "ingest", "-config", cfg, "-data", cliData, "-source", "hr", file)
	if code != exitOK {
		t.Fatalf("cli: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(root, "data", store.FileName)); err != nil {
		t.Fatalf("the daemon's store: %v", err)
	}

	views := map[string]dropView{}
	for who, data := range map[string]string{"daemon": filepath.Join(root, "data"), "cli": cliData} {
		code, out, errs := runEnv(t, nil, "drops", "show", "-config", cfg, "-data", data, "-json", "1")
		if code != exitOK {
			t.Fatalf("%s: drops show: exit %d %s", who, code, errs)
		}
		var v dropView
		mustJSON(t, out, &v)
		views[who] = v
	}
	if !reflect.DeepEqual(views["daemon"], views["cli"]) {
		t.Fatalf("reports differ:\ndaemon %+v\ncli    %+v", views["daemon"], views["cli"])
	}
	v := views["cli"]
	var counts struct{ Rows, Added, Invalid int }
	mustJSON(t, string(v.Report.Counts), &counts)
	if v.Report.Decision != "applied" || counts.Rows != 3 || counts.Added != 3 || counts.Invalid != 0 {
		t.Fatalf("report: %+v", v.Report)
	}
	var info struct {
		DelimiterFrom string `json:"delimiter_from"`
		Columns       []struct{ Name, Field, Note string }
	}
	mustJSON(t, string(v.Report.File), &info)
	if c := info.Columns; info.DelimiterFrom != "setting" || len(c) != 8 || c[0].Field != "email" || c[5].Name != "Abteilung" || c[5].Field != "" {
		t.Errorf("file info: %+v", info)
	}

	// Every person, with every kept value, is the same in both stores.
	for _, email := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
		d := showPerson(t, nil, "-config", cfg, email) // the config's data_dir: the daemon's store
		c := showPerson(t, nil, "-config", cfg, "-data", cliData, email)
		if !reflect.DeepEqual(d, c) {
			t.Errorf("%s differs:\ndaemon %+v\ncli    %+v", email, d, c)
		}
	}
	ann := showPerson(t, nil, "-config", cfg, "-data", cliData, "ann@example.com")
	want := map[string]string{"employment_start_date": "2024-04-03", "job_title": "Head, Sales"}
	if !reflect.DeepEqual(ann.Attrs, want) || ann.Recipient.FirstName != "Ann" || len(ann.Groups) != 1 || ann.Groups[0].Name != "Sales" {
		t.Errorf("ann = %+v, want attrs %v (no department: ignored by the override; no manager: not allowed)", ann, want)
	}
	// The source's settings are the config's, stored for later drops.
	code, out, _ = runEnv(t, nil, "sources", "list", "-config", cfg, "-data", cliData, "-json")
	if code != exitOK || !strings.Contains(out, `"priority": 7`) || !strings.Contains(out, `"kind": "folder"`) || !strings.Contains(out, `"max_invalid_percent": 30`) {
		t.Errorf("sources list: exit %d\n%s", code, out)
	}
}

func TestCLIIngestFlagsWinOverTheConfig(t *testing.T) {
	cfg := cliConfig(t, `[[sources]]
name = "okta"
kind = "workos"
directory_id = "directory_01"
[workos]
api_key_env = "WORKOS_API_KEY"
`)
	files := t.TempDir()
	file := MustWrite(t, files, "hr.csv", hrSemicolon)
	code, out, errs := runEnv(t, nil, "ingest", "-config", cfg, "-source", "hr", "-day-first=false", "-priority", "3", "-attrs", "employment_start_date", file)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	ann := showPerson(t, nil, "-config", cfg, "ann@example.com")
	if want := map[string]string{"employment_start_date": "2024-03-04"}; !reflect.DeepEqual(ann.Attrs, want) {
		t.Errorf("-day-first=false and -attrs: attrs %v, want %v", ann.Attrs, want)
	}
	code, out, _ = runEnv(t, nil, "sources", "list", "-config", cfg)
	if code != exitOK || !strings.Contains(out, "hr      folder  full  3 ") {
		t.Errorf("-priority 3 over the config's 7:\n%s", out)
	}
	// An explicit -delimiter wins too: a comma splits nothing here.
	if code, out, _ := runEnv(t, nil, "ingest", "-config", cfg, "-source", "hr", "-delimiter", "comma", "-dry-run", file); code != exitOK ||
		!strings.Contains(out, "would be rejected") || !strings.Contains(out, "no_email_column") {
		t.Errorf("-delimiter comma: exit %d\n%s", code, out)
	}

	// A source the config does not list keeps the CLI's own ways: flags or
	// defaults when new (the file is detected and read month first), the
	// stored settings later.
	plain := MustWrite(t, files, "plain.csv", "Email,First Name,Start Date\nann@example.com,Ann,03/04/2024\n")
	if code, out, errs := runEnv(t, nil, "ingest", "-config", cfg, "-source", "extra", "-priority", "4", plain); code != exitOK {
		t.Fatalf("extra: exit %d\n%s%s", code, out, errs)
	}
	plain2 := MustWrite(t, files, "plain2.csv", "Email,First Name\nann@example.com,Annie\n")
	if code, _, errs := runEnv(t, nil, "ingest", "-config", cfg, "-source", "extra", plain2); code != exitOK {
		t.Fatalf("extra again: exit %d %s", code, errs)
	}
	code, out, _ = runEnv(t, nil, "sources", "list", "-config", cfg)
	if code != exitOK || !strings.Contains(out, "extra   csv     full  4 ") {
		t.Errorf("extra keeps its stored priority 4 and kind csv:\n%s", out)
	}

	// A directory source is pulled, never fed a file.
	code, _, errs = runEnv(t, nil, "ingest", "-config", cfg, "-source", "okta", plain)
	if code != exitError || !strings.Contains(errs, "default/okta is a WorkOS directory") {
		t.Errorf("okta: exit %d %s", code, errs)
	}
	// A config that does not load says which field is wrong.
	bad := MustWrite(t, t.TempDir(), "bad.toml", "[[sources]]\nname = \"hr\"\nkind = \"folder\"\n")
	code, _, errs = runEnv(t, nil, "ingest", "-config", bad, "-source", "hr", plain)
	if code != exitError || !strings.Contains(errs, "sources[0].folder: required") {
		t.Errorf("bad config: exit %d %s", code, errs)
	}
}

func TestCheckWithConfigAppliesTheSourceSettings(t *testing.T) {
	cfg := cliConfig(t, `[[sources]]
name = "strict"
kind = "sftp"
mode = "delta"
delimiter = ";"
[sources.columns]
"Kontakt" = "email"
[[sources]]
name = "lenient"
kind = "sftp"
delimiter = ";"
max_invalid_percent = -1
[sources.columns]
"Kontakt" = "email"
`)
	// One row in four is invalid: 25%, under hr's 30%, over the default 2%.
	file := MustWrite(t, t.TempDir(), "hr.csv", hrSemicolon+"not-an-email;Di;Po;01/01/2020;X;Y;;Ops\n")
	code, out, _ := MustRun(t, "check", "-source", "hr", "-records", file)
	if code != exitRejected || !strings.Contains(out, "no config: built-in settings") {
		t.Fatalf("without a config: exit %d\n%s", code, out)
	}
	code, out, _ = runEnv(t, map[string]string{"MUSTER_CONFIG": cfg}, "check", "-source", "hr", "-records", file)
	if code != exitOK {
		t.Fatalf("with the config: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"source      hr (org default, settings from " + cfg + ": delimiter ';', day first, 4 column override(s), at most 30% invalid rows)",
		"delimiter   semicolon ';' (setting)",
		"Kontakt       -> email",
		"Abteilung        (ignored: ignored by column setting)",
		`employment_start_date="2024-04-03"`,
		"rows        4 (3 valid, 1 invalid)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// strict keeps the default 2%: refused, saying so; and its files are
	// deltas.
	code, out, _ = runEnv(t, nil, "check", "-config", cfg, "-source", "strict", "-json", file)
	var res checkOutput
	mustJSON(t, out, &res)
	if code != exitRejected || res.Settings == nil || res.Settings.MaxInvalidPercent != 2 || res.Settings.Delimiter != ";" ||
		res.Settings.DayFirst || res.Settings.Mode != "delta" || !strings.Contains(res.Reasons[0].Message, "more than the 2% allowed") {
		t.Errorf("strict: exit %d %+v", code, res)
	}
	if _, out, _ = runEnv(t, nil, "check", "-config", cfg, "-source", "strict", file); !strings.Contains(out, "kind        delta: the source is configured so") {
		t.Errorf("strict is a delta source:\n%s", out)
	}
	// -1: never refused for invalid rows.
	code, out, _ = runEnv(t, nil, "check", "-config", cfg, "-source", "lenient", file)
	if code != exitOK || !strings.Contains(out, "no invalid-row limit") {
		t.Errorf("lenient: exit %d\n%s", code, out)
	}
	// Flags given win: month first.
	_, out, _ = runEnv(t, nil, "check", "-config", cfg, "-source", "hr", "-day-first=false", "-records", file)
	if !strings.Contains(out, `employment_start_date="2024-03-04"`) {
		t.Errorf("-day-first=false:\n%s", out)
	}
	// A config named that does not load says so, source or not.
	if code, _, errs := runEnv(t, nil, "check", "-config", cfg+".missing", file); code != exitError || !strings.Contains(errs, "muster.toml.missing") {
		t.Errorf("missing config: exit %d %s", code, errs)
	}
	// A source the config does not list: built-in settings, said so.
	code, out, _ = runEnv(t, nil, "check", "-config", cfg, "-source", "nope", file)
	if code != exitRejected || !strings.Contains(out, "nope (not in "+cfg+": built-in settings)") {
		t.Errorf("unknown source: exit %d\n%s", code, out)
	}
}

func TestStoreVerbsUseTheConfigDataDir(t *testing.T) {
	cfg := cliConfig(t, "")
	data := filepath.Join(filepath.Dir(cfg), "data")
	// MUSTER_CONFIG names the config; MUSTER_DATA elsewhere loses to its
	// data_dir, as for muster serve.
	vars := map[string]string{"MUSTER_CONFIG": cfg, "MUSTER_DATA": t.TempDir()}
	file := MustWrite(t, t.TempDir(), "hr.csv", hrSemicolon)
	if code, out, errs := runEnv(t, vars, "ingest", "-source", "hr", file); code != exitOK {
		t.Fatalf("ingest: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(data, store.FileName)); err != nil {
		t.Fatalf("the store is not in data_dir: %v", err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"drops", "list"}, "hr.csv"},
		{[]string{"drops", "show", "1"}, "applied"},
		{[]string{"recipients", "list", "-group", "Ops"}, "bob@example.com"},
		{[]string{"recipients", "explain", "cy@example.com"}, "hr (priority 7)"},
		{[]string{"groups", "list"}, "Sales"},
		{[]string{"export", "-group", "Sales", "-source", "hr"}, "ann@example.com"},
		{[]string{"sources", "list"}, "hr"},
		{[]string{"sources", "rollback", "-dry-run", "-to", "1", "hr"}, "dry run"},
	} {
		code, out, errs := runEnv(t, vars, c.args...)
		if code != exitOK || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want %q\n%s%s", c.args, code, c.want, out, errs)
		}
	}
	// SFTP host keys are in data_dir's sftp/, where serve keeps them.
	if code, out, _ := runEnv(t, vars, "sftp", "hostkeys"); code != exitOK || !strings.Contains(out, "SHA256:") {
		t.Errorf("sftp hostkeys: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "sftp", "hostkeys")); err != nil {
		t.Errorf("host keys not in data_dir: %v", err)
	}
	// -data given explicitly wins over data_dir.
	empty := t.TempDir()
	code, _, errs := runEnv(t, vars, "drops", "list", "-data", empty)
	if code != exitError || !strings.Contains(errs, "no store at "+filepath.Join(empty, store.FileName)) {
		t.Errorf("-data: exit %d %s", code, errs)
	}
}

func TestOrganisationFromTheConfig(t *testing.T) {
	cfg := MustWrite(t, t.TempDir(), "muster.toml", `data_dir = "data"
[[orgs]]
name = "acme"
[[orgs]]
name = "globex"
[[sources]]
name = "hr"
org = "acme"
kind = "sftp"
[[sources]]
name = "shared"
org = "acme"
kind = "sftp"
[[sources]]
name = "shared"
org = "globex"
kind = "sftp"
priority = 9
`)
	file := MustWrite(t, t.TempDir(), "hr.csv", hrDay0)
	if code, out, errs := runEnv(t, nil, "ingest", "-config", cfg, "-source", "hr", file); code != exitOK || !strings.Contains(out, "source hr") {
		t.Fatalf("hr: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := runEnv(t, nil, "recipients", "list", "-config", cfg, "-org", "acme"); code != exitOK || !strings.Contains(out, "ann@example.com") {
		t.Errorf("hr's people are in acme: exit %d\n%s", code, out)
	}
	code, _, errs := runEnv(t, nil, "ingest", "-config", cfg, "-source", "shared", file)
	if code != exitUsage || !strings.Contains(errs, `source "shared" is in several organisations of `+cfg+" (acme, globex): name one with -org") {
		t.Errorf("ambiguous source: exit %d %s", code, errs)
	}
	if code, _, errs := runEnv(t, nil, "ingest", "-config", cfg, "-source", "shared", "-org", "globex", file); code != exitOK {
		t.Errorf("shared in globex: exit %d %s", code, errs)
	}
	code, out, _ := runEnv(t, nil, "sources", "list", "-config", cfg, "-org", "globex")
	if !strings.Contains(out, "shared  sftp  full  9 ") {
		t.Errorf("globex's shared has its config's priority 9: exit %d\n%s", code, out)
	}
	// Naming no source, a config of several organisations needs -org.
	code, _, errs = runEnv(t, nil, "drops", "list", "-config", cfg)
	if code != exitUsage || !strings.Contains(errs, "has several organisations (acme, globex): name one with -org") {
		t.Errorf("drops list: exit %d %s", code, errs)
	}
	code, _, errs = runEnv(t, nil, "check", "-config", cfg, "-source", "shared", file)
	if code != exitUsage || !strings.Contains(errs, "name one with -org") {
		t.Errorf("check: exit %d %s", code, errs)
	}
	// With one organisation, it is the default.
	one := MustWrite(t, t.TempDir(), "one.toml", "data_dir = \"data\"\n[[orgs]]\nname = \"acme\"\n")
	if code, out, errs := runEnv(t, nil, "ingest", "-config", one, "-source", "walkin", file); code != exitOK {
		t.Fatalf("one org: exit %d %s%s", code, out, errs)
	}
	if code, out, _ := runEnv(t, nil, "drops", "list", "-config", one, "-json"); code != exitOK || !strings.Contains(out, `"source": "walkin"`) {
		t.Errorf("one org: exit %d\n%s", code, out)
	}
}

func TestRecipientsAddUsesTheConfiguredManualSource(t *testing.T) {
	cfg := cliConfig(t, `[[sources]]
name = "hand"
kind = "manual"
priority = 50
`)
	code, out, errs := runEnv(t, nil, "recipients", "add", "-config", cfg, "-first", "Ada", "-groups", "Board", "ada@example.com")
	if code != exitOK || !strings.Contains(out, "source hand (delta)") {
		t.Fatalf("add: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runEnv(t, nil, "sources", "list", "-config", cfg)
	if code != exitOK || !strings.Contains(out, "hand    manual  delta  50 ") {
		t.Errorf("hand has the config's settings:\n%s", out)
	}
	if code, out, _ := runEnv(t, nil, "config", "check", "-config", cfg); code != exitOK || !strings.Contains(out, "default/hand: manual, delta, priority 50") {
		t.Errorf("a manual source is a delta by default:\n%s", out)
	}
	// A file source would drop the person with its next full file.
	code, _, errs = runEnv(t, nil, "recipients", "add", "-config", cfg, "-source", "hr", "bo@example.com")
	if code != exitError || !strings.Contains(errs, "source default/hr is of kind folder in "+cfg+", not manual") {
		t.Errorf("add to hr: exit %d %s", code, errs)
	}
	two := cliConfig(t, "[[sources]]\nname = \"a\"\nkind = \"manual\"\n[[sources]]\nname = \"b\"\nkind = \"manual\"\n")
	code, _, errs = runEnv(t, nil, "recipients", "remove", "-config", two, "ada@example.com")
	if code != exitUsage || !strings.Contains(errs, "several manual sources (default/a, default/b): name one with -source") {
		t.Errorf("two manual sources: exit %d %s", code, errs)
	}
	// Removing a source the config still lists says it will come back.
	code, out, _ = runEnv(t, nil, "sources", "remove", "-yes", "-config", cfg, "hand")
	if code != exitHeld || !strings.Contains(out, "note: source hand is still in "+cfg) {
		t.Errorf("sources remove: exit %d\n%s", code, out)
	}
}

func TestCLIApprovesADropHeldByTheRunningDaemon(t *testing.T) {
	cfg := cliConfig(t, "")
	drop := filepath.Join(filepath.Dir(cfg), "drop")
	m := mustDaemon(t, cfg)
	dropInto(t, drop, "day0.csv", hrSemicolon)
	if st := waitDrop(t, m, 1); st != store.DropApplied {
		t.Fatalf("day 0: %s", st)
	}
	// Two of three people gone: over the 20% guard, held by the daemon.
	lines := strings.SplitAfter(hrSemicolon, "\n")
	dropInto(t, drop, "day1.csv", lines[0]+lines[1])
	if st := waitDrop(t, m, 2); st != store.DropHeld {
		t.Fatalf("day 1: %s", st)
	}
	// The CLI approves it on the daemon's store while the daemon runs.
	code, out, errs := runEnv(t, nil, "drops", "approve", "-config", cfg, "2")
	if code != exitOK || !strings.Contains(out, "applied") {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errs)
	}
	_, out, _ = runEnv(t, nil, "recipients", "list", "-config", cfg, "-json")
	if !strings.Contains(out, "ann@example.com") || strings.Contains(out, "bob@example.com") {
		t.Errorf("after approval:\n%s", out)
	}
	// And the daemon goes on with the next drop.
	dropInto(t, drop, "day2.csv", hrSemicolon)
	if st := waitDrop(t, m, 3); st != store.DropApplied {
		t.Fatalf("day 2: %s", st)
	}
}

func TestDataDirGivenOutsideTheFileIsRelativeToTheWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	with := MustWrite(t, dir, "with.toml", "data_dir = \"data\"\n")
	without := MustWrite(t, dir, "without.toml", "log_level = \"warn\"\n")
	for _, c := range []struct {
		path, flag, envData, want string
	}{
		{with, "", "", filepath.Join(dir, "data")},           // the file's: relative to the file
		{with, "rel", "", "rel"},                             // -data: relative to the working directory
		{with, "", "env", filepath.Join(dir, "data")},        // the file's data_dir wins over MUSTER_DATA
		{without, "", "env", "env"},                          // MUSTER_DATA: relative to the working directory
		{without, "", "", filepath.Join(dir, "muster-data")}, // the default: beside the file
	} {
		e := &env{getenv: func(k string) string { return map[string]string{"MUSTER_DATA": c.envData}[k] }}
		cfg, err := loadConfig(e, c.path, c.flag)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DataDir != c.want {
			t.Errorf("%s -data %q MUSTER_DATA %q: data_dir %s, want %s", filepath.Base(c.path), c.flag, c.envData, cfg.DataDir, c.want)
		}
	}
}
