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
