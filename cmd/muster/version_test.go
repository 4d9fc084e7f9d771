package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// `muster`, -h, --help and help all exit 0 and list the verbs on stdout;
// version and --version print the version, commit, build time and Go.
func TestTopLevelHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{}, {"-h"}, {"--help"}, {"-help"}, {"help"}} {
		code, out, errs := MustRun(t, args...)
		if code != exitOK || !strings.Contains(out, "commands:") || !strings.Contains(out, "  serve ") ||
			!strings.Contains(out, "  version ") || errs != "" {
			t.Errorf("muster %v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
	}
	version, commit, buildTime = "1.4.0", "0123456789abcdef0123", "2026-01-31T10:00:00Z"
	defer func() { version, commit, buildTime = "", "", "" }()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, _ := MustRun(t, args...)
		if code != exitOK || !strings.HasPrefix(out, "muster 1.4.0\n") || !strings.Contains(out, "commit  0123456789abcdef0123") ||
			!strings.Contains(out, "built   2026-01-31T10:00:00Z") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("muster %v: exit %d:\n%s", args, code, out)
		}
	}
	code, out, _ := MustRun(t, "version", "-json")
	var b BuildInfo
	if err := json.Unmarshal([]byte(out), &b); err != nil || code != exitOK || b.Version != "1.4.0" || b.Commit != "0123456789abcdef0123" ||
		b.GoVersion != runtime.Version() {
		t.Fatalf("version -json: %v %s", err, out)
	}
	if s := buildInfo().Short(); s != "muster 1.4.0 (0123456789ab, "+runtime.Version()+")" {
		t.Fatalf("short form %q", s)
	}
}

// Under -json every error is JSON on stderr, a wrong command line too;
// without it, a plain line.
func TestErrorsAreJSONUnderJSON(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code string
		exit int
	}{
		{[]string{"drops", "list", "-json", "-data", t.TempDir()}, "not_found", exitError},
		{[]string{"drops", "list", "-json", "-bogus"}, "usage", exitUsage},
		{[]string{"frobnicate", "-json"}, "usage", exitUsage},
		{[]string{"config", "check", "-json", "-config", "/nonexistent/muster.toml"}, "not_found", exitError},
		{[]string{"token", "new", "-json", "-name", "a/b"}, "usage", exitUsage},
	} {
		code, out, errs := MustRun(t, tc.args...)
		var je jsonError
		if err := json.Unmarshal([]byte(errs), &je); err != nil || code != tc.exit || je.Error.Code != tc.code ||
			je.Error.Exit != tc.exit || je.Error.Message == "" || out != "" {
			t.Errorf("muster %v: exit %d, stdout %q, stderr %q", tc.args, code, out, errs)
		}
	}
	code, _, errs := MustRun(t, "drops", "list", "-data", t.TempDir())
	if code != exitError || !strings.HasPrefix(errs, "muster drops: no store at ") {
		t.Errorf("without -json: exit %d, %q", code, errs)
	}
}

// Every command takes -json: what it prints on stdout, and its error on
// stderr, is JSON (here, mostly errors: no store, no daemon, no config).
func TestEveryCommandTakesJSON(t *testing.T) {
	data := t.TempDir()
	lines := [][]string{{"help"}, {"version"}, {"health"}, {"config", "check"}, {"check", "../../samples/workday.csv"},
		{"ingest", "-source", "hr", "../../samples/workday.csv"}, {"drops", "list"}, {"drops", "show", "1"},
		{"drops", "approve", "1"}, {"drops", "reject", "-reason", "x", "1"}, {"recipients", "list"},
		{"recipients", "show", "a@example.com"}, {"recipients", "explain", "a@example.com"},
		{"recipients", "add", "a@example.com"}, {"recipients", "remove", "a@example.com"}, {"recipients", "lift", "a@example.com"},
		{"groups", "list"}, {"export", "-group", "x"}, {"sources", "list"}, {"sources", "rollback", "-to", "1", "x"},
		{"sources", "remove", "x"}, {"sources", "sync", "x"}, {"sftp", "passwd"}, {"sftp", "hostkeys"},
		{"token", "new", "-name", "x"}, {"notify", "log"}, {"notify", "test"}, {"store", "status"}}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l[0]] = true
		args := append(append([]string{}, l...), "-json")
		if l[0] != "help" && l[0] != "version" && l[0] != "token" && l[0] != "check" && l[0] != "notify" || l[0] == "notify" && l[1] == "log" || l[0] == "store" {
			args = append(args, "-data", data)
		}
		_, out, errs := MustRun(t, args...)
		for name, s := range map[string]string{"stdout": out, "stderr": errs} {
			if strings.TrimSpace(s) == "" {
				continue
			}
			dec := json.NewDecoder(strings.NewReader(s))
			for dec.More() {
				var v any
				if err := dec.Decode(&v); err != nil {
					t.Errorf("muster %s: %s is not JSON: %v\n%s", strings.Join(args, " "), name, err, s)
					break
				}
			}
		}
	}
	for _, c := range commands() {
		if c.name != "serve" && !seen[c.name] {
			t.Errorf("command %s is not tried with -json", c.name)
		}
	}
}
