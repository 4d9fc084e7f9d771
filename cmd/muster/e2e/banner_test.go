package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// With a config, the start banner prints the lines that reach the SFTP
// server with its host key checked against <data>/known_hosts, for sftp,
// lftp and curl. Each of them, run as printed (the account and key filled
// in), uploads a file; with another host key in known_hosts (or another
// fingerprint for curl) they refuse to connect, so the pinning is real.
// serve -json prints the same facts as one object.
func TestConfigBannerClientLinesPinTheHostKey(t *testing.T) {
	needSFTP(t)
	for _, tool := range []string{"lftp", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	data, work := t.TempDir(), t.TempDir()
	cfg := config(t, data, "")
	d := MustServe(t, data, work, nil, "-config", cfg)
	out := d.stdout.String()
	lines := map[string]string{}
	for _, tool := range []string{"sftp", "lftp", "curl"} {
		m := regexp.MustCompile(`(?m)^  (` + tool + ` -.*)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the banner has no %s line:\n%s", tool, out)
		}
		lines[tool] = strings.NewReplacer("ACCOUNT", "workday", "KEY", keyFile).Replace(m[1])
	}
	if !strings.Contains(out, "host keys pinned in "+filepath.Join(data, "known_hosts")) {
		t.Fatalf("the banner does not name known_hosts:\n%s", out)
	}
	for i, name := range []string{"a.csv", "b.csv", "c.csv"} {
		os.WriteFile(filepath.Join(work, name), []byte("email,first name\nann"+string(rune('a'+i))+"@example.com,Ann\n"), 0o600)
	}
	cmds := map[string]string{
		"sftp": "echo 'put a.csv' | " + strings.Replace(lines["sftp"], "sftp ", "sftp -b - ", 1),
		"lftp": strings.Replace(lines["lftp"], `"' -u`, `"; set net:max-retries 1; put b.csv; bye' -u`, 1),
		"curl": strings.Replace(lines["curl"], "-T export.csv", "-T c.csv", 1) + " -sS",
	}
	run := func(cmdline string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
		cmd.Dir = work
		cmd.Stdin = strings.NewReader("")
		if b, err := cmd.CombinedOutput(); err != nil {
			return &cmdErr{err, string(b)}
		}
		return nil
	}
	for _, tool := range []string{"sftp", "lftp", "curl"} {
		if err := run(cmds[tool]); err != nil {
			t.Fatalf("%s as printed: %v\n%s", tool, err, cmds[tool])
		}
	}
	waitDecided(t, data, 3)
	// Another server's key in known_hosts: sftp and lftp refuse to go on.
	kh := filepath.Join(data, "known_hosts")
	good, _ := os.ReadFile(kh)
	other := regexp.MustCompile(`ssh-ed25519 \S+`).ReplaceAllString(string(good),
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAPpEG8iJ/WNWNovv6Nq2lpLNz1UPdKo7EQ2ey0c48v6")
	other = regexp.MustCompile(`(?m)^.*ssh-rsa.*\n`).ReplaceAllString(other, "")
	os.WriteFile(kh, []byte(other), 0o644)
	for _, tool := range []string{"sftp", "lftp"} {
		if err := run(cmds[tool]); err == nil {
			t.Errorf("%s connected with another host key in known_hosts", tool)
		}
	}
	wrong := regexp.MustCompile(`--hostpubsha256 \S+`).ReplaceAllString(cmds["curl"], "--hostpubsha256 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if err := run(wrong); err == nil {
		t.Error("curl connected with another host key's fingerprint")
	}
	os.WriteFile(kh, good, 0o644)
	d.stop()
	// serve -json: the same facts, one object.
	d2 := MustServe(t, data, work, nil, "-config", cfg, "-json")
	var st struct {
		Version string `json:"version"`
		SFTP    struct {
			KnownHosts string            `json:"known_hosts"`
			HostKeys   []json.RawMessage `json:"host_keys"`
			Clients    map[string]string `json:"clients"`
		} `json:"sftp"`
	}
	if err := json.NewDecoder(strings.NewReader(d2.stdout.String())).Decode(&st); err != nil || st.Version == "" ||
		len(st.SFTP.HostKeys) != 2 || st.SFTP.Clients["curl"] == "" {
		t.Fatalf("serve -json: %v\n%s", err, d2.stdout.String())
	}
	d2.stop()
}

type cmdErr struct {
	err error
	out string
}

func (e *cmdErr) Error() string { return e.err.Error() + ": " + e.out }
