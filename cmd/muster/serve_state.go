package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeKnownHosts writes <data>/known_hosts with the SFTP server's host
// keys for its address, so `sftp -o UserKnownHostsFile=...` connects
// without asking and without trusting blindly.
func (m *Main) writeKnownHosts() error {
	host, port := m.sftpClientAddr()
	name := host
	if port != "22" {
		name = "[" + host + "]:" + port
	}
	var b strings.Builder
	for _, k := range m.SFTP.HostKeys() {
		fmt.Fprintf(&b, "%s %s\n", name, k.AuthorizedKey)
	}
	p := filepath.Join(m.Config.DataDir, "known_hosts")
	if err := writeFileAtomic(p, []byte(b.String()), 0o644); err != nil {
		return err
	}
	m.KnownHosts = p
	return nil
}

// sftpClientAddr is the host and port a client on this machine connects to.
func (m *Main) sftpClientAddr() (host, port string) {
	host, port, _ = net.SplitHostPort(m.SFTP.Addr().String())
	return hostForClients(host), port
}

// State is what <data_dir>/serve.json says about a running daemon, for
// scripts and tests: its pid and the addresses it actually listens on
// (port 0 in the config picks a free one).
type State struct {
	PID         int       `json:"pid"`
	Version     string    `json:"version"`
	Started     time.Time `json:"started"`
	DataDir     string    `json:"data_dir"`
	SFTPAddr    string    `json:"sftp_addr,omitempty"`
	HTTPAddr    string    `json:"http_addr,omitempty"`
	WebhookAddr string    `json:"webhook_addr,omitempty"`
	SCIMAddr    string    `json:"scim_addr,omitempty"`
	DropFolders []string  `json:"drop_folders"`
}

// StateFile is the name of the state file in the data dir.
const StateFile = "serve.json"

func (m *Main) statePath() string { return filepath.Join(m.Config.DataDir, StateFile) }

func (m *Main) writeState() error {
	s := State{PID: os.Getpid(), Version: buildInfo().Version, Started: time.Now().UTC(), DataDir: m.Config.DataDir, DropFolders: []string{}}
	if m.SFTP != nil {
		s.SFTPAddr = m.SFTP.Addr().String()
	}
	if m.HTTP != nil {
		s.HTTPAddr = m.HTTP.Addr().String()
	}
	if m.Webhook != nil {
		s.WebhookAddr = m.Webhook.Addr().String()
	}
	if m.SCIMListener != nil {
		s.SCIMAddr = m.SCIMListener.Addr().String()
	}
	for _, src := range m.Config.Sources {
		if src.Kind == "folder" {
			s.DropFolders = append(s.DropFolders, src.Folder)
		}
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return writeFileAtomic(m.statePath(), append(b, '\n'), 0o644)
}

// writeFileAtomic writes through a temporary file and a rename, so a reader
// never sees half of it.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".partial"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// printStarted tells the operator where everything is, the commands that
// reach the SFTP server with its host key checked (sftp, lftp, curl) and,
// with the built-in config, the exact command that uploads a sample. With
// -json it is one JSON object (started).
func (m *Main) printStarted(asJSON bool) {
	st := m.started()
	if asJSON {
		_ = writeJSON(m.env.stdout, st)
		return
	}
	w, c := m.env.stdout, m.Config
	fmt.Fprintf(w, "%s is running (data in %s)\n", buildInfo().Short(), shown(c.DataDir))
	for _, s := range c.Sources {
		if s.Kind == "folder" {
			fmt.Fprintf(w, "  drop folder  %s  -> source %s: copy CSV exports here\n", shown(s.Folder), s.Name)
		}
	}
	m.printHTTP(w)
	m.printDirectories(w)
	m.printSCIM(w)
	if sf := st.SFTP; sf != nil {
		if sf.KnownHosts != "" {
			fmt.Fprintf(w, "  sftp         %s, host keys pinned in %s:\n", sf.Addr, sf.KnownHosts)
		} else {
			fmt.Fprintf(w, "  sftp         %s, host keys (known_hosts not written: see the log):\n", sf.Addr)
		}
		for _, k := range sf.HostKeys {
			fmt.Fprintf(w, "               %s %s\n", k.Type, k.Fingerprint)
		}
		for _, a := range c.SFTP.Accounts {
			fmt.Fprintf(w, "  account      %s -> source %s; results in its reports/ folder\n", a.Name, a.Source)
		}
		if st.UploadKey != "" {
			fmt.Fprintf(w, "  upload key   %s (generated; no SSH public key found in ~/.ssh)\n", st.UploadKey)
		} else if c.zero() {
			fmt.Fprintf(w, "  upload key   your own SSH keys (from ~/.ssh)\n")
		}
		fmt.Fprintf(w, "Connect with the host key checked (ACCOUNT and KEY are the account's):\n")
		for _, k := range []string{"sftp", "lftp", "curl"} {
			fmt.Fprintf(w, "  %s\n", sf.Clients[k])
		}
		if st.UploadSample != "" {
			fmt.Fprintf(w, "Upload a sample:\n  %s\n", st.UploadSample)
		}
	}
	fmt.Fprintf(w, "See the audience:\n  %s\n", st.SeeAudience)
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}

// startedInfo is what the start banner says, and `serve -json` prints.
type startedInfo struct {
	Version      string       `json:"version"`
	Config       string       `json:"config"`
	DataDir      string       `json:"data_dir"`
	DropFolders  []string     `json:"drop_folders"`
	HTTPAddr     string       `json:"http_addr,omitempty"`
	WebhookAddr  string       `json:"webhook_addr,omitempty"`
	SFTP         *sftpStarted `json:"sftp,omitempty"`
	UploadKey    string       `json:"upload_key,omitempty"`
	UploadSample string       `json:"upload_sample,omitempty"`
	SeeAudience  string       `json:"see_audience"`
}

type hostKeyInfo struct {
	Type        string `json:"type"`
	Fingerprint string `json:"fingerprint"`
}

type sftpStarted struct {
	Addr       string            `json:"addr"`
	KnownHosts string            `json:"known_hosts"`
	HostKeys   []hostKeyInfo     `json:"host_keys"`
	Accounts   []string          `json:"accounts"`
	Clients    map[string]string `json:"clients"`
}

// started gathers the banner's facts.
func (m *Main) started() startedInfo {
	c := m.Config
	st := startedInfo{Version: buildInfo().Version, Config: cmp.Or(c.path, "built-in zero config"), DataDir: c.DataDir,
		DropFolders: []string{}}
	for _, s := range c.Sources {
		if s.Kind == "folder" {
			st.DropFolders = append(st.DropFolders, s.Folder)
		}
	}
	if m.HTTP != nil {
		st.HTTPAddr = m.HTTP.Addr().String()
	}
	if m.Webhook != nil {
		st.WebhookAddr = m.Webhook.Addr().String()
	}
	self := selfCommand()
	st.SeeAudience = fmt.Sprintf("%s recipients list -data %s", self, shellQuote(shown(c.DataDir)))
	if c.path != "" {
		st.SeeAudience = fmt.Sprintf("%s recipients list -config %s", self, shellQuote(shown(c.path)))
	}
	if m.SFTP == nil {
		return st
	}
	host, port := m.sftpClientAddr()
	// -o UserKnownHostsFile=..., unless known_hosts could not be written
	// (a full disk: serve starts anyway, and says so in the log).
	khOpt := ""
	sf := &sftpStarted{Addr: net.JoinHostPort(host, port), Accounts: []string{}}
	if m.KnownHosts != "" {
		khOpt = " -o UserKnownHostsFile=" + shellQuote(shown(m.KnownHosts))
		sf.KnownHosts = shown(m.KnownHosts)
	}
	for _, k := range m.SFTP.HostKeys() {
		sf.HostKeys = append(sf.HostKeys, hostKeyInfo{k.Type, k.Fingerprint})
	}
	for _, a := range c.SFTP.Accounts {
		sf.Accounts = append(sf.Accounts, a.Name)
	}
	account, key := "ACCOUNT", "KEY"
	if c.zero() {
		account, key = c.SFTP.Accounts[0].Name, "~/.ssh/id_ed25519"
		if m.UploadKey != "" {
			key = shellQuote(shown(m.UploadKey))
			st.UploadKey = shown(m.UploadKey)
		}
	}
	ed25519 := ""
	for _, k := range sf.HostKeys {
		if k.Type == "ssh-ed25519" {
			ed25519 = strings.TrimPrefix(k.Fingerprint, "SHA256:")
		}
	}
	sf.Clients = map[string]string{
		"sftp": fmt.Sprintf("sftp -P %s -i %s%s %s@%s", port, key, khOpt, account, host),
		"lftp": fmt.Sprintf(`lftp -e 'set sftp:connect-program "ssh -a -x -i %s%s"' -u %s, -p %s sftp://%s`,
			key, khOpt, account, port, host),
		"curl": fmt.Sprintf("curl --hostpubsha256 %s --key %s --pubkey %s.pub -u %s: -T export.csv sftp://%s:%s/",
			ed25519, key, key, account, host, port),
	}
	st.SFTP = sf
	if c.zero() && m.UploadKey != "" {
		sample := "samples/workday.csv"
		if _, err := os.Stat(sample); err != nil {
			sample = "export.csv"
		}
		st.UploadSample = fmt.Sprintf("echo 'put %s' | sftp -b - -P %s -i %s%s %s@%s", sample, port,
			key, khOpt, account, host)
	} else if c.zero() {
		sample := "samples/workday.csv"
		if _, err := os.Stat(sample); err != nil {
			sample = "export.csv"
		}
		st.UploadSample = fmt.Sprintf("echo 'put %s' | sftp -b - -P %s%s %s@%s", sample, port, khOpt, account, host)
	}
	return st
}

// selfCommand is how the user runs this binary again: "muster", or the
// go run line when it was started by go run (its executable then lives in
// a go-build temporary folder that is gone after it exits).
func selfCommand() string {
	exe, err := os.Executable()
	if err == nil && strings.Contains(filepath.ToSlash(exe), "/go-build") {
		if _, err := os.Stat("cmd/muster"); err == nil {
			return "go run ./cmd/muster"
		}
	}
	// Started by a path (./muster, bin/muster): that path again.
	if arg0 := os.Args[0]; strings.ContainsRune(arg0, filepath.Separator) {
		return shellQuote(arg0)
	}
	return "muster"
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
