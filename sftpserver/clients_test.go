package sftpserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// curl (libssh2) uploads with sftp://, checking the host key by its SHA-256
// fingerprint. libssh2 1.10 negotiates aes128-ctr/hmac-sha2-256, which the
// default cipher list must keep.
func TestCurlUpload(t *testing.T) {
	needBinary(t, "curl")
	if out, _ := exec.Command("curl", "-V").Output(); !strings.Contains(string(out), "sftp") {
		t.Skip("curl is built without sftp support")
	}
	ts := MustServer(t, nil)
	data := csvData("curl", 700_000)
	mustFile(t, ts.clientDir, "export.csv", data)
	fp := strings.TrimPrefix(ts.HostKeys()[0].Fingerprint, "SHA256:")
	// The fingerprint is really checked: a wrong one fails.
	wrong := strings.TrimPrefix(ts.HostKeys()[1].Fingerprint, "SHA256:")
	if out, code := run(t, ts.clientDir, "curl", "-sS", "--fail", "-u", acme+":", "--key", ts.acmeKey.private,
		"--pubkey", ts.acmeKey.private+".pub", "--hostpubsha256", wrong,
		"-T", "export.csv", "sftp://127.0.0.1:"+ts.port+"/wrong.csv"); code == 0 {
		t.Fatalf("curl accepted a wrong host key fingerprint:\n%s", out)
	}
	out, code := run(t, ts.clientDir, "curl", "-sS", "--fail",
		"-u", acme+":", "--key", ts.acmeKey.private, "--pubkey", ts.acmeKey.private+".pub",
		"--hostpubsha256", fp,
		"-T", "export.csv", "sftp://127.0.0.1:"+ts.port+"/export.csv")
	if code != 0 {
		t.Fatalf("curl exit %d:\n%s", code, out)
	}
	// curl's own temp-then-rename: upload under a temporary name and rename
	// with a quote command after the transfer.
	out, code = run(t, ts.clientDir, "curl", "-sS", "--fail",
		"-u", acme+":", "--key", ts.acmeKey.private, "--pubkey", ts.acmeKey.private+".pub",
		"--hostpubsha256", fp, "-Q", "-rename /second.csv.tmp /second.csv",
		"-T", "export.csv", "sftp://127.0.0.1:"+ts.port+"/second.csv.tmp")
	if code != 0 {
		t.Fatalf("curl with rename: exit %d:\n%s", code, out)
	}
	ups := ts.finalUploads()
	if len(ups) != 2 {
		t.Fatalf("got %d announcements, want 2: %+v", len(ups), ups)
	}
	checkUpload(t, byName(ups, "export.csv")[0], "export.csv", data)
	checkUpload(t, byName(ups, "second.csv")[0], "second.csv", data)
}

// lftp drives OpenSSH's ssh as its transport; it sets size and times on
// the open handle.
func TestLftpUpload(t *testing.T) {
	needBinary(t, "lftp", "ssh")
	ts := MustServer(t, nil)
	data := csvData("lftp", 900_000)
	mustFile(t, ts.clientDir, "export.csv", data)
	connect := "ssh -a -x " + strings.Join(ts.sshOpts(ts.acmeKey.private), " ")
	script := strings.Join([]string{
		"set sftp:connect-program \"" + connect + "\"",
		"set net:max-retries 1",
		"open -u " + acme + ", -p " + ts.port + " sftp://127.0.0.1",
		"put export.csv -o lftp.csv",
		"ls",
	}, "; ")
	out, code := run(t, ts.clientDir, "lftp", "-c", script)
	if code != 0 {
		t.Fatalf("lftp exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "lftp.csv") {
		t.Errorf("lftp ls does not show the upload:\n%s", out)
	}
	ups := ts.finalUploads()
	if len(ups) != 1 {
		t.Fatalf("got %d announcements, want 1: %+v", len(ups), ups)
	}
	checkUpload(t, ups[0], "lftp.csv", data)
	ts.checkInbox(acme, "lftp.csv", data)
}

// rclone sets the modification time after closing and stats the file; if
// either failed it would upload again. --retries 1 makes any failure show.
func TestRcloneUpload(t *testing.T) {
	needBinary(t, "rclone")
	ts := MustServer(t, nil)
	data := csvData("rclone", 1_500_000)
	src := mustFile(t, ts.clientDir, "export.csv", data)
	conf := filepath.Join(ts.clientDir, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	remote := ":sftp,host=127.0.0.1,port=" + ts.port + ",user=" + acme +
		",key_file=" + ts.acmeKey.private + ",known_hosts_file=" + ts.knownHosts + ",set_modtime=true:"
	out, code := run(t, ts.clientDir, "rclone", "--config", conf, "--retries", "1", "--low-level-retries", "1",
		"copyto", src, remote+"rclone.csv")
	if code != 0 {
		t.Fatalf("rclone exit %d:\n%s", code, out)
	}
	ups := ts.finalUploads()
	if len(ups) != 1 {
		t.Fatalf("got %d announcements, want 1: %+v", len(ups), ups)
	}
	checkUpload(t, ups[0], "rclone.csv", data)
	ts.checkInbox(acme, "rclone.csv", data)
	fi, err := os.Stat(filepath.Join(ts.inbox(acme), "rclone.csv"))
	srcInfo, _ := os.Stat(src)
	if err != nil || !fi.ModTime().Truncate(1e9).Equal(srcInfo.ModTime().Truncate(1e9)) {
		t.Errorf("modification time not kept: %v vs %v (%v)", fi, srcInfo.ModTime(), err)
	}
}
