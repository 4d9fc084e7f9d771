package main

import (
	"strings"
	"testing"

	"muster/store"
)

// Configured organisations and sources exist from the daemon's first start
// (issue 11): before anything arrives every command answers with empty
// lists and the sources never synced, not with `no organisation`. Then
// `recipients list -source S` lists S's people with their sources and
// groups.
func TestConfiguredSourcesFromTheFirstStart(t *testing.T) {
	cfg := cliConfig(t, `[[orgs]]
name = "default"
[[orgs]]
name = "acme"
[[sources]]
name = "acme-hr"
org = "acme"
kind = "folder"
folder = "acme-drop"
`)
	m := mustDaemon(t, cfg)
	for _, args := range [][]string{
		{"sources", "list", "-org", "acme"},
		{"recipients", "list", "-org", "acme"},
		{"recipients", "list", "-org", "acme", "-source", "acme-hr"},
		{"drops", "list", "-org", "acme"},
	} {
		code, out, errs := runEnv(t, nil, append(args, "-config", cfg)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d %s", args, code, errs)
		}
		if args[0] == "sources" && (!strings.Contains(out, "acme-hr") || !strings.Contains(out, "never synced")) {
			t.Fatalf("%v:\n%s", args, out)
		}
	}
	dropInto(t, m.Config.Sources[0].Folder, "day1.csv", hrSemicolon)
	if st := waitDrop(t, m, 1); st != store.DropApplied {
		t.Fatalf("day1: %s", st)
	}
	code, out, errs := runEnv(t, nil, "recipients", "list", "-config", cfg, "-source", "hr", "-group", "Sales")
	if code != exitOK || !strings.Contains(out, "SOURCES") || !strings.Contains(out, "bob@example.com") ||
		!strings.Contains(out, "hr/Ops, hr/Sales") || strings.Contains(out, "cy@example.com") {
		t.Fatalf("recipients list -source hr -group Sales: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runEnv(t, nil, "sources", "list", "-config", cfg)
	if code != exitOK || !strings.Contains(out, " ok ") {
		t.Fatalf("sources list:\n%s", out)
	}
	if code, _, errs := runEnv(t, nil, "recipients", "list", "-config", cfg, "-source", "nosuch"); code == exitOK || !strings.Contains(errs, `no source "nosuch"`) {
		t.Fatalf("an unknown source: exit %d %s", code, errs)
	}
}
