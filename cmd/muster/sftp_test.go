package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	return run(context.Background(), e, args), out.String(), errb.String()
}

func TestSftpPasswd(t *testing.T) {
	code, out, stderr := runWithStdin(t, "s3cret pass\n", "sftp", "passwd")
	if code != exitOK || !strings.HasPrefix(out, "$argon2id$v=19$") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if strings.Contains(out+stderr, "s3cret") {
		t.Errorf("the password was echoed")
	}
	if code, _, stderr := runWithStdin(t, "", "sftp", "passwd"); code != exitError || !strings.Contains(stderr, "no password") {
		t.Errorf("empty stdin: exit %d, %q", code, stderr)
	}
	if code, _, _ := runWithStdin(t, "", "sftp", "frob"); code != exitUsage {
		t.Errorf("unknown sub-command: exit %d", code)
	}
}

func TestSftpHostKeys(t *testing.T) {
	dir := t.TempDir()
	code, first, stderr := runWithStdin(t, "", "sftp", "hostkeys", "-dir", dir)
	if code != exitOK || strings.Count(first, "SHA256:") != 2 || !strings.Contains(first, "ssh-ed25519 ") || !strings.Contains(first, "ssh-rsa ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, first, stderr)
	}
	if _, again, _ := runWithStdin(t, "", "sftp", "hostkeys", "-dir", dir); again != first {
		t.Errorf("host keys changed between runs")
	}
	// Without -dir: sftp/ in the data directory, as muster serve keeps it.
	data := t.TempDir()
	code, inData, _ := runWithStdin(t, "", "sftp", "hostkeys", "-data", data)
	if _, err := os.Stat(filepath.Join(data, "sftp", "hostkeys")); code != exitOK || err != nil || strings.Count(inData, "SHA256:") != 2 {
		t.Errorf("-data: exit %d, %v\n%s", code, err, inData)
	}
	if code, _, _ := runWithStdin(t, "", "sftp", "hostkeys", "extra"); code != exitUsage {
		t.Errorf("an argument: exit %d", code)
	}
}
