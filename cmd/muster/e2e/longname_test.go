package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLongNamesNeverStallASource: an SFTP upload whose name is too long for
// its reports is refused at once, saying why (in the status message, which
// OpenSSH's client shows as "Failure", and in the log); a folder drop with a name as
// long as the file system holds is filed under a shortened name. Either
// way the source's next drop is applied straight after, and /readyz stays
// ready.
func TestLongNamesNeverStallASource(t *testing.T) {
	needSFTP(t)
	data, work := t.TempDir(), t.TempDir()
	folder := filepath.Join(data, "in")
	pub, _ := os.ReadFile(keyFile + ".pub")
	cfg := fmt.Sprintf(`[sftp]
listen = "127.0.0.1:0"
[[sources]]
name = "up"
kind = "sftp"
[[sftp.accounts]]
name = "acme"
source = "up"
keys = [%q]
[[sources]]
name = "hr"
kind = "folder"
folder = %q
[watch]
debounce = "100ms"
[http]
listen = "127.0.0.1:0"
`, strings.TrimSpace(string(pub)), folder)
	p := filepath.Join(work, "muster.toml")
	os.WriteFile(p, []byte(cfg), 0o600)
	d := MustServe(t, data, work, nil, "-config", p)
	api := apiClient(t, data)

	long := strings.Repeat("Export of the whole company, all fields ", 6)[:226] + ".csv"
	os.WriteFile(filepath.Join(work, "a.csv"), cumulative("long", 0), 0o644)
	cmd := exec.Command("sftp", "-b", "-", "-P", d.port(), "-i", keyFile, "-o", "BatchMode=yes",
		"-o", "UserKnownHostsFile="+filepath.Join(data, "known_hosts"), "acme@127.0.0.1")
	cmd.Dir, cmd.Stdin = work, strings.NewReader("put a.csv \""+long+"\"\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Failure") {
		t.Fatalf("upload of a %d-byte name: %v\n%s", len(long), err, out)
	}
	waitFor(t, "the refusal logged", func() bool {
		return strings.Contains(d.stderr.String(), `msg="upload refused"`) &&
			strings.Contains(d.stderr.String(), "file name too long: at most 200 bytes (this one has 230)")
	})
	d.sftp("acme", work, "put a.csv normal.csv")
	ds := waitDecided(t, data, 1)
	if ds[0].Name != "normal.csv" || ds[0].Status != "applied" {
		t.Fatalf("the next upload: %+v", ds[0])
	}

	longer := strings.Repeat("Quarterly headcount for the board ", 8)[:246] + ".csv"
	copyInto(t, "workday.csv", folder, longer)
	copyInto(t, "workday.csv", folder, "normal.csv")
	ds = waitDecided(t, data, 3)
	if ds[1].Name != longer || ds[1].Status != "applied" || ds[2].Name != "normal.csv" {
		t.Fatalf("folder drops: %+v", ds[1:])
	}
	archived := files(filepath.Join(data, "drops", "default", "hr", "archive"))
	if len(archived) != 4 {
		t.Errorf("archive holds %v, want two files and their reports", archived)
	}
	api.want(200, "GET", "/readyz", nil, "", nil)
}
