package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestZeroConfigPrintedCommandUploads starts `muster serve` with no config,
// as the README's quick start does, runs the sftp command it prints, and
// sees the sample's people in the store, the report in the account's
// reports/ folder and the file in the archive. A file copied into the
// printed drop folder is ingested too.
func TestZeroConfigPrintedCommandUploads(t *testing.T) {
	needSFTP(t)
	data := filepath.Join(t.TempDir(), "data")
	d := MustServe(t, data, repo, nil, "-sftp", "127.0.0.1:0")
	out := d.stdout.String()
	line := regexp.MustCompile(`(?m)^Upload a sample:\n\s*(.*)$`).FindStringSubmatch(out)
	if line == nil {
		t.Fatalf("no sftp command printed:\n%s", out)
	}
	if !strings.Contains(line[1], "put samples/workday.csv") || !strings.Contains(line[1], "upload_key") {
		t.Fatalf("printed command: %s", line[1])
	}
	// A POSIX shell runs it: the reader's shell may not be bash.
	cmd := exec.Command("sh", "-c", line[1])
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the printed command failed: %v\n%s", err, b)
	}
	ds := waitDecided(t, data, 1)
	if ds[0].Source != "upload" || ds[0].Status != "applied" || activeCount(t, data) != 17 { // 18 rows, one of them inactive
		t.Fatalf("drop %+v, %d active", ds[0], activeCount(t, data))
	}
	reports := filepath.Join(data, "sftp", "home", "default", "upload", "reports")
	waitFor(t, "the report in reports/", func() bool {
		_, err := os.Stat(filepath.Join(reports, "workday.csv.report.json")) // written after the errors CSV
		return err == nil
	})
	var rep struct {
		Decision string
		Counts   struct{ Added int }
	}
	b, _ := os.ReadFile(filepath.Join(reports, "workday.csv.report.json"))
	if err := json.Unmarshal(b, &rep); err != nil || rep.Decision != "applied" || rep.Counts.Added != 18 {
		t.Fatalf("report: %v %s", err, b)
	}
	if got := files(filepath.Join(data, "drops", "default", "upload", "archive")); len(got) != 2 {
		t.Fatalf("archive holds %v, want the file and its report", got)
	}
	// The printed drop folder.
	folder := regexp.MustCompile(`drop folder\s+(\S+)`).FindStringSubmatch(out)
	if folder == nil {
		t.Fatalf("no drop folder printed:\n%s", out)
	}
	copyInto(t, "google-workspace.csv", folder[1], "google.csv")
	ds = waitDecided(t, data, 2)
	if ds[1].Source != "drop" || ds[1].Status != "applied" {
		t.Fatalf("folder drop: %+v", ds[1])
	}
	d.stop()
	if _, err := os.Stat(filepath.Join(data, "serve.json")); err == nil {
		t.Fatal("serve.json left after a clean stop")
	}
}

// config writes a config with two SFTP sources and a folder source, the
// client key authorised for both accounts, SFTP on a free port.
func config(t testing.TB, data string, extra string) string {
	t.Helper()
	pub, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(pub))
	cfg := fmt.Sprintf(`data_dir = %q
log_level = "debug"
[sftp]
listen = "127.0.0.1:0"
[[sftp.accounts]]
name = "workday"
source = "workday"
keys = [%q]
[[sftp.accounts]]
name = "bamboo"
source = "bamboo"
keys = [%q]
[[sources]]
name = "workday"
kind = "sftp"
priority = 20
[[sources]]
name = "bamboo"
kind = "sftp"
priority = 10
[[sources]]
name = "admin"
kind = "folder"
folder = %q
[attributes]
enabled = ["job_title"]
[watch]
debounce = "200ms"
%s`, data, key, key, filepath.Join(data, "admin-drop"), extra)
	p := filepath.Join(t.TempDir(), "muster.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSeveralSourcesDuplicateAndDropWhileStopped uploads to two accounts
// and drops into a folder at once, uploads the same file again (a
// duplicate, reported back), stops muster, drops a file while it is down,
// and sees it ingested once on restart.
func TestSeveralSourcesDuplicateAndDropWhileStopped(t *testing.T) {
	needSFTP(t)
	data := t.TempDir()
	cfg := config(t, data, "")
	d := MustServe(t, data, t.TempDir(), nil, "-config", cfg)
	samples := filepath.Join(repo, "samples")
	done := make(chan string, 2)
	go func() { done <- d.sftpQuiet("workday", samples, "put workday.csv") }()
	go func() { done <- d.sftpQuiet("bamboo", samples, "put bamboohr.csv") }()
	copyInto(t, "google-workspace.csv", filepath.Join(data, "admin-drop"), "google.csv")
	for range 2 {
		if msg := <-done; msg != "" {
			t.Fatal(msg)
		}
	}
	ds := waitDecided(t, data, 3)
	bySource := map[string]drop{}
	for _, x := range ds {
		bySource[x.Source] = x
		if x.Status != "applied" {
			t.Fatalf("drop %+v not applied", x)
		}
	}
	if len(bySource) != 3 {
		t.Fatalf("drops by source: %+v", bySource)
	}
	// The same file again: a duplicate, and the uploader can read so.
	d.sftp("workday", samples, "put workday.csv")
	ds = waitDecided(t, data, 4)
	if ds[3].Status != "duplicate" || ds[3].Source != "workday" {
		t.Fatalf("second upload: %+v", ds[3])
	}
	local := t.TempDir()
	waitFor(t, "the duplicate's report", func() bool {
		d.sftp("workday", local, "get reports/workday.csv.report.json")
		b, _ := os.ReadFile(filepath.Join(local, "workday.csv.report.json"))
		return strings.Contains(string(b), `"decision": "duplicate"`)
	})
	// Dropped while muster is down: taken on the next start, once.
	d.stop()
	copyInto(t, "hibob-excel.csv", filepath.Join(data, "admin-drop"), "hibob.csv")
	MustServe(t, data, t.TempDir(), nil, "-config", cfg)
	ds = waitDecided(t, data, 5)
	if ds[4].Name != "hibob.csv" || ds[4].Source != "admin" {
		t.Fatalf("drop while stopped: %+v", ds[4])
	}
	if left := files(filepath.Join(data, "admin-drop")); len(left) != 0 {
		t.Fatalf("left in the drop folder: %v", left)
	}
	archived := strings.Join(files(filepath.Join(data, "drops")), " ")
	for _, want := range []string{"workday/archive/", "-workday.csv.report.json", "bamboo/archive/", "admin/archive/", "-hibob.csv"} {
		if !strings.Contains(archived, want) {
			t.Fatalf("archive lacks %s: %s", want, archived)
		}
	}
}

// sftpQuiet is sftp for goroutines: it returns a failure message.
func (d *daemon) sftpQuiet(account, dir string, commands ...string) string {
	cmd := exec.Command("sftp", "-b", "-", "-P", d.port(), "-i", keyFile, "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(d.data, "known_hosts"), account+"@127.0.0.1")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(commands, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("sftp %s: %v\n%s", account, err, out)
	}
	return ""
}
