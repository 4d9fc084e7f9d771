package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// MustRun runs one muster command line in-process and returns its exit code,
// stdout and stderr.
func MustRun(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	code := run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	code, _, stderr := MustRun(t, "frobnicate")
	if code != exitUsage {
		t.Fatalf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("stderr does not name the command: %q", stderr)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, stdout, _ := MustRun(t, "help")
	if code != exitOK || !strings.Contains(stdout, "commands:") {
		t.Fatalf("help: code %d, stdout %q", code, stdout)
	}
}

// The help says "Run 'muster COMMAND -h'": for a verb made of subcommands
// that is its usage (exit 0), not an unknown subcommand "-h" (exit 2).
func TestDashHOfEveryVerbShowsItsUsage(t *testing.T) {
	for _, c := range commands() {
		if c.name == "help" {
			continue
		}
		for _, h := range []string{"-h", "--help"} {
			code, _, stderr := MustRun(t, c.name, h)
			if code != exitOK || !strings.Contains(stderr, "usage: muster "+c.name) {
				t.Errorf("muster %s %s: exit %d, stderr %q; want exit 0 and its usage", c.name, h, code, stderr)
			}
			if strings.Contains(stderr, "unknown") {
				t.Errorf("muster %s %s: stderr %q takes %s for a subcommand", c.name, h, stderr, h)
			}
		}
	}
	// Without a subcommand it is still a wrong command line.
	if code, _, _ := MustRun(t, "drops"); code != exitUsage {
		t.Errorf("muster drops: exit %d, want %d", code, exitUsage)
	}
}

func TestUsageLineHasNoTrailingSpace(t *testing.T) {
	_, _, stderr := MustRun(t, "serve", "-h")
	if !strings.HasPrefix(stderr, "usage: muster serve [flags]\n") {
		t.Fatalf("serve -h usage line: %q", strings.SplitN(stderr, "\n", 2)[0])
	}
}
