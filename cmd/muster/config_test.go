package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runEnv runs a command line in-process with the given environment.
func runEnv(t testing.TB, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	code := run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

// sampleSecrets are the secrets samples/muster.toml names, as an operator
// sets them in serve's environment.
func sampleSecrets(extra ...string) map[string]string {
	vars := map[string]string{"MUSTER_BAMBOOHR_PASSWORD_HASH": "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$c2VjcmV0LWhhc2gtdmFsdWU",
		"WORKOS_API_KEY": "sk_test_sample", "WORKOS_WEBHOOK_SECRET": "whsec_sample",
		"MUSTER_SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/x", "MUSTER_WEBHOOK_SECRET": "whsec_comms",
		"MUSTER_SMTP_PASSWORD": "smtp-sample"}
	for i := 0; i+1 < len(extra); i += 2 {
		vars[extra[i]] = extra[i+1]
	}
	return vars
}

func TestSampleConfigChecksWithoutShowingSecrets(t *testing.T) {
	code, out, errs := runEnv(t, sampleSecrets(), "config", "check", "-config", "../../samples/muster.toml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"default/workday: sftp, full, priority 20, authoritative true", "default/admin: folder, delta",
		"listen 127.0.0.1:2022; uploads refused under 1073741824 bytes free on disk", "account bamboohr", "$MUSTER_BAMBOOHR_PASSWORD_HASH (set)", "job_title, department_name, manager_email",
		"archive 90d, reports 30d", "default/okta: workos, full, priority 30, authoritative true directory directory_01HZ8Q4N7V2Y3K5M6P9R0S1T2U",
		"workos:    1 directory source(s), https://api.workos.com, key from $WORKOS_API_KEY (set); pulls @every 30m, events every 1m0s, reconcile 0 3 * * *",
		"webhook:   listen 127.0.0.1:8089 path /webhooks/workos, secret from $WORKOS_WEBHOOK_SECRET (set)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"notify hr-ops-slack: slack URL from $MUSTER_SLACK_WEBHOOK_URL (set), org default: drop.held, drop.rejected, source.failing, source.recovered; failing after 3",
		"notify it-mail: email smtp.example.com:587 (starttls) to it-ops@example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errs, "c2VjcmV0") || strings.Contains(out+errs, "sk_test_sample") || strings.Contains(out+errs, "whsec_sample") ||
		strings.Contains(out+errs, "hooks.slack.example") || strings.Contains(out+errs, "smtp-sample") || strings.Contains(out+errs, "whsec_comms") {
		t.Fatal("the summary shows a secret")
	}
	// Relative paths are taken from the config file's folder.
	abs, _ := filepath.Abs("../../muster-data/drop")
	if !strings.Contains(out, "folder "+abs) && !strings.Contains(out, "folder ../../muster-data/drop") {
		t.Fatalf("folder not resolved from the config's folder:\n%s", out)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	checkConfigErrors(t, []configCase{
		{"bogus = 1\n", []string{"unknown key bogus"}},
		{"[sftp]\nlisten = 2022\n", []string{"sftp.listen"}},
		{"log_format = \"xml\"\nlog_level = \"loud\"\n", []string{"log_format: \"xml\"", "log_level: \"loud\""}},
		{"[[sources]]\nname = \"a\"\nkind = \"ftp\"\n[[sources]]\nname = \"b\"\nkind = \"folder\"\npriority = -1\n",
			[]string{"sources[0].kind: \"ftp\"", "sources[1].priority: must be >= 0", "sources[1].folder: required"}},
		{"[[sources]]\nname = \"a/b\"\nkind = \"sftp\"\nmax_remove_percent = 150\nmax_remove_count = 0\n",
			[]string{"sources[0].name", "sources[0].max_remove_percent: 150", "sources[0].max_remove_count: 0"}},
		{"[[sources]]\nname = \"a\"\nkind = \"sftp\"\n[[sources]]\nname = \"a\"\nkind = \"sftp\"\n", []string{"sources[1].name: \"a\" is given twice"}},
		{"[[sources]]\nname = \"a\"\nkind = \"folder\"\nfolder = \"x\"\ndelimiter = \"ab\"\n[sources.columns]\n\"Mail\" = \"e-mail\"\n",
			[]string{"sources[0].delimiter", "sources[0].columns: \"Mail\" = \"e-mail\""}},
		// The decoder splits on one byte: a delimiter it would refuse on
		// every file is refused here.
		{"[[sources]]\nname = \"a\"\nkind = \"sftp\"\ndelimiter = \"§\"\n", []string{"sources[0].delimiter: \"§\": one ASCII character"}},
		{"[[sources]]\nname = \"w\"\nkind = \"workos\"\n", []string{"sources[0].directory_id: required"}},
		{"[[sftp.accounts]]\nname = \"hr\"\nsource = \"nope\"\n", []string{"sftp.accounts[0]: no way to log in", "sftp.accounts[0].source: no source \"nope\""}},
		{"[[sources]]\nname = \"d\"\nkind = \"folder\"\nfolder = \"x\"\n[[sftp.accounts]]\nname = \"hr\"\nsource = \"d\"\nkeys = [\"ssh-dss AAAA\"]\n",
			[]string{"sftp.accounts[0].source: source \"d\" is of kind folder", "sftp.accounts[0].keys[0]"}},
		{"[attributes]\nenabled = [\"shoe_size\"]\n", []string{"attributes.enabled[0]: \"shoe_size\""}},
		{"[[orgs]]\nname = \"acme\"\n[[sources]]\nname = \"a\"\nkind = \"sftp\"\norg = \"globex\"\n", []string{"sources[0].org: \"globex\""}},
		{"[retention]\narchive = \"ninety days\"\n", []string{"ninety days"}},
		{"[[sftp.accounts]]\nname = \"x\"\nmax_file_size = \"lots\"\n", []string{"lots"}},
		// A network the SFTP server would refuse at start is refused here too,
		// named as in the file.
		{"[[sources]]\nname = \"s\"\nkind = \"sftp\"\n[[sftp.accounts]]\nname = \"hr\"\nsource = \"s\"\npassword_hash_env = \"H\"\nallow_networks = [\"10.0.0.0/8\", \"10.0.0.0/33\", \"bogus\"]\n",
			[]string{"sftp.accounts[0].allow_networks[1]: \"10.0.0.0/33\" is not a CIDR network", "sftp.accounts[0].allow_networks[2]: \"bogus\" is not an address"}},
	})
}

func TestConfigDefaultsAndUnits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.toml")
	os.WriteFile(p, []byte(`
[[sources]]
name = "w"
kind = "workos"
directory_id = "directory_01"
schedule = "0 2 * * *"
[[sources]]
name = "hr"
kind = "sftp"
authoritative = true
max_remove_percent = -1
[[sftp.accounts]]
name = "hr"
source = "hr"
password_hash_file = "hash.txt"
max_file_size = "2MiB"
[watch]
debounce = "250ms"
[retention]
archive = "7d"
[workos]
api_key_env = "WORKOS_API_KEY"
`), 0o600)
	c, err := loadConfig(&env{getenv: func(string) string { return "" }}, p, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(p), "muster-data"); c.DataDir != want {
		t.Errorf("data_dir = %s, want %s", c.DataDir, want)
	}
	if c.SFTP.Listen != defaultSFTPListen || c.LogFormat != "text" || c.LogLevel != "info" {
		t.Errorf("defaults: %+v", c)
	}
	if c.SFTP.Accounts[0].MaxFileSize != 2<<20 || c.SFTP.Accounts[0].PasswordHashFile != filepath.Join(filepath.Dir(p), "hash.txt") {
		t.Errorf("account: %+v", c.SFTP.Accounts[0])
	}
	if time.Duration(c.Watch.Debounce) != 250*time.Millisecond || time.Duration(c.Retention.Archive) != 7*24*time.Hour ||
		c.Retention.Reports != c.Retention.Archive {
		t.Errorf("durations: %+v %+v", c.Watch, c.Retention)
	}
	w, hr := c.sourceConfig(&c.Sources[0]), c.sourceConfig(&c.Sources[1])
	if !w.Authoritative || !hr.Authoritative || hr.MaxRemovePercent != -1 || w.MaxRemovePercent != 20 {
		t.Errorf("source configs: %+v %+v", w, hr)
	}
	// The password hash is a secret: read from its file, and a missing one
	// is an error naming the field.
	var errs ConfigError
	if c.prepareAccounts(&env{getenv: func(string) string { return "" }}, &errs); errs.err() == nil ||
		!strings.Contains(errs.Error(), "sftp.accounts[0].password_hash_file") {
		t.Fatalf("missing hash file: %v", errs.err())
	}
	os.WriteFile(filepath.Join(filepath.Dir(p), "hash.txt"), []byte("$2a$10$abc\n"), 0o600)
	errs = ConfigError{}
	accs := c.prepareAccounts(&env{getenv: func(string) string { return "" }}, &errs)
	if accs[0].PasswordHash != "$2a$10$abc" {
		t.Fatalf("hash from file: %v %q", errs.err(), accs[0].PasswordHash)
	}
}

func TestZeroConfigUsesTheUsersKeysOrGeneratesOne(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	data := filepath.Join(t.TempDir(), "data")
	getenv := func(k string) string { return map[string]string{"HOME": home}[k] }
	c, err := loadConfig(&env{getenv: getenv}, "", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SFTP.Accounts[0].Keys) != 0 || c.SFTP.Accounts[0].AuthorizedKeysFile != filepath.Join(data, "upload_key.pub") {
		t.Fatalf("no user key: %+v", c.SFTP.Accounts[0])
	}
	priv, err := ensureUploadKey(c)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(priv + ".pub")
	if err != nil || !acceptedKey(strings.TrimSpace(string(pub))) {
		t.Fatalf("generated key not accepted: %v %q", err, pub)
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", fi.Mode())
	}
	if c.SFTP.Listen != "127.0.0.1:2022" || c.Sources[0].Folder != filepath.Join(data, "drop") {
		t.Fatalf("zero config: %+v", c)
	}
	// With keys in ~/.ssh, those are used; unsupported ones are skipped.
	os.WriteFile(filepath.Join(home, ".ssh", "id_test.pub"), pub, 0o644)
	os.WriteFile(filepath.Join(home, ".ssh", "authorized_keys"), []byte("# mine\nssh-dss AAAAB3NzaC1kc3M= old\n"+
		"from=\"10.0.0.1\" "+string(pub)+string(pub)), 0o600)
	c, err = loadConfig(&env{getenv: getenv}, "", data)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.SFTP.Accounts[0]; len(a.Keys) != 1 || a.AuthorizedKeysFile != "" {
		t.Fatalf("user keys: %+v", a)
	}
}

// A watched folder takes every file in it: one that is the data directory
// (or inside its drops/ or sftp/ trees) would take muster's own database,
// state and filed drops. The zero config's data_dir/drop stays valid.
func TestConfigRefusesAFolderOverMustersOwnFiles(t *testing.T) {
	src := "[[sources]]\nname = \"a\"\nkind = \"folder\"\nfolder = %q\n"
	checkConfigErrors(t, []configCase{
		{"data_dir = \"d\"\n" + fmt.Sprintf(src, "d"), []string{"sources[0].folder: ", "is the data directory"}},
		{"data_dir = \"d\"\n" + fmt.Sprintf(src, "./d/"), []string{"sources[0].folder: ", "is the data directory"}},
		{"data_dir = \"d\"\n" + fmt.Sprintf(src, "d/drops/default/a/archive"), []string{"sources[0].folder: ", "a/archive is inside the data directory's drops/"}},
		{"data_dir = \"d\"\n" + fmt.Sprintf(src, "d/sftp/upload/inbox"), []string{"sources[0].folder: ", "upload/inbox is inside the data directory's sftp/"}},
	})
	p := filepath.Join(t.TempDir(), "ok.toml")
	os.WriteFile(p, []byte("data_dir = \"d\"\n"+fmt.Sprintf(src, "d/drop")), 0o600)
	if code, _, errs := runEnv(t, nil, "config", "check", "-config", p); code != exitOK {
		t.Fatalf("a drop folder inside the data directory is refused: %s", errs)
	}
	// -data overrides data_dir: the check is against the directory used.
	p2 := filepath.Join(t.TempDir(), "flag.toml")
	os.WriteFile(p2, []byte(fmt.Sprintf(src, filepath.Join(filepath.Dir(p2), "x"))), 0o600)
	if code, _, errs := runEnv(t, nil, "config", "check", "-config", p2, "-data", filepath.Join(filepath.Dir(p2), "x")); code != exitError ||
		!strings.Contains(errs, "is the data directory") {
		t.Fatalf("-data onto the watched folder: exit %d: %s", code, errs)
	}
}

// TestRetentionZeroKeepsForEver: "0" is documented as keeping archives or
// reports for ever; it must not fall back to the 90-day default, and a
// reports "0" must not fall back to the archive's retention.
func TestRetentionZeroKeepsForEver(t *testing.T) {
	dir := t.TempDir()
	load := func(retention string) *Config {
		t.Helper()
		p := filepath.Join(dir, "m.toml")
		os.WriteFile(p, []byte("[retention]\n"+retention), 0o600)
		c, err := loadConfig(&env{getenv: func(string) string { return "" }}, p, "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := load("archive = \"0\"\n"); c.Retention.Archive != 0 || c.Retention.Reports != 0 {
		t.Errorf("archive \"0\": %+v, want both kept for ever", c.Retention)
	}
	if c := load("archive = \"10d\"\nreports = \"0\"\n"); c.Retention.Archive != Duration(10*24*time.Hour) || c.Retention.Reports != 0 {
		t.Errorf("reports \"0\": %+v, want archive 10d, reports for ever", c.Retention)
	}
	if c := load(""); c.Retention.Archive != Duration(defaultRetention) || c.Retention.Reports != Duration(defaultRetention) {
		t.Errorf("defaults: %+v", c.Retention)
	}
	m := NewMain(load("archive = \"10d\"\nreports = \"0\"\n"), &env{stderr: io.Discard, getenv: func(string) string { return "" }})
	if f := m.files(m.Config); f.Retention != 10*24*time.Hour || f.ReportRetention >= 0 {
		t.Errorf("drops: retention %s, reports %s; want 10d and negative (kept for ever)", f.Retention, f.ReportRetention)
	}
}

func TestConfigCheckShowsRetentionForEver(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.toml")
	os.WriteFile(p, []byte("[retention]\narchive = \"30d\"\nreports = \"0\"\n"), 0o600)
	code, out, errs := runEnv(t, nil, "config", "check", "-config", p)
	if code != exitOK || !strings.Contains(out, "retention: archive 30d, reports for ever") {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
}

// TestConfigCheckRefusesABadPasswordHash: `config check` checks a password
// hash it can read as the SFTP server would at start, names the field and
// where the hash came from, and never prints the value.
func TestConfigCheckRefusesABadPasswordHash(t *testing.T) {
	for name, hash := range map[string]string{
		"plain password": "hunter2-not-a-hash",
		"short argon2id": "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$c2hvcnQ",
	} {
		code, out, errs := runEnv(t, sampleSecrets("MUSTER_BAMBOOHR_PASSWORD_HASH", hash),
			"config", "check", "-config", "../../samples/muster.toml")
		if code != exitError || !strings.Contains(errs, "sftp.accounts[1].password_hash_env: $MUSTER_BAMBOOHR_PASSWORD_HASH: ") {
			t.Errorf("%s: exit %d: %s", name, code, errs)
		}
		if strings.Contains(out+errs, "hunter2") || strings.Contains(out+errs, "c2hvcnQ") {
			t.Errorf("%s: the hash is shown:\n%s%s", name, out, errs)
		}
	}
}

// TestConfigCheckSaysOkOnlyWhenItIs: a refused password hash is not preceded
// by "config ok" and a summary, which would contradict the exit code.
func TestConfigCheckSaysOkOnlyWhenItIs(t *testing.T) {
	code, out, errs := runEnv(t, sampleSecrets("MUSTER_BAMBOOHR_PASSWORD_HASH", "not-a-hash"),
		"config", "check", "-config", "../../samples/muster.toml")
	if code != exitError || strings.Contains(out, "config ok") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want exit 1 and no \"config ok\"", code, out, errs)
	}
}

// TestAuthorizedKeysFileIsCheckedOfflineInConfigTerms: a key the SFTP server
// would refuse in authorized_keys_file fails `config check` as it fails
// `serve`, naming the config's field, the file's line and the config's key
// for networks (allow_networks), not the server's internal names.
func TestAuthorizedKeysFileIsCheckedOfflineInConfigTerms(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.pub")
	os.WriteFile(keys, []byte("# senders\n"+anyPublicKey+" ok\nfrom=\"10.0.0.1\" "+anyPublicKey+" restricted\n"), 0o600)
	cfg := filepath.Join(dir, "m.toml")
	os.WriteFile(cfg, []byte("data_dir = \"data\"\n[sftp]\nlisten = \"127.0.0.1:0\"\n[[sources]]\nname = \"s\"\nkind = \"sftp\"\n"+
		"[[sftp.accounts]]\nname = \"hr\"\nsource = \"s\"\nauthorized_keys_file = \"keys.pub\"\n"), 0o600)
	for _, args := range [][]string{{"config", "check", "-config", cfg}, {"serve", "-config", cfg}} {
		code, out, errs := runEnv(t, nil, args...)
		want := "sftp.accounts[0].authorized_keys_file: " + keys + " line 3: key options"
		if code != exitError || !strings.Contains(errs, want) || !strings.Contains(errs, "use allow_networks") ||
			strings.Contains(errs, "allowed_networks") || strings.Contains(out, "config ok") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q ... use allow_networks", args, code, out, errs, want)
		}
	}
	// Each key given inline is refused in the same words.
	os.WriteFile(cfg, []byte("[[sources]]\nname = \"s\"\nkind = \"sftp\"\n[[sftp.accounts]]\nname = \"hr\"\nsource = \"s\"\n"+
		"keys = ['from=\"10.0.0.1\" "+anyPublicKey+"']\n"), 0o600)
	code, _, errs := runEnv(t, nil, "config", "check", "-config", cfg)
	if code != exitError || !strings.Contains(errs, "sftp.accounts[0].keys[0]: key options") || strings.Contains(errs, "allowed_networks") {
		t.Errorf("inline key: exit %d, stderr %q", code, errs)
	}
}
