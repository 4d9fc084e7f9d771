package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"muster/sftpserver"
)

// sftpAccounts turns the accounts of the config into the SFTP server's,
// reading key files and password hashes (secrets, from the environment or a
// file).
func (c *Config) sftpAccounts(e *env) ([]sftpserver.Account, error) {
	var out []sftpserver.Account
	for i, a := range c.SFTP.Accounts {
		f := fmt.Sprintf("sftp.accounts[%d]", i)
		acc := sftpserver.Account{Name: a.Name, Org: a.Org, Source: a.Source, AuthorizedKeys: append([]string(nil), a.Keys...),
			AllowedNetworks: a.AllowNetworks, MaxFileSize: int64(a.MaxFileSize), ReadBack: a.ReadBack}
		if a.AuthorizedKeysFile != "" {
			keys, err := readKeyFile(f+".authorized_keys_file", a.AuthorizedKeysFile)
			if err != nil {
				return nil, err
			}
			acc.AuthorizedKeys = append(acc.AuthorizedKeys, keys)
		}
		hash, err := secret(e, f+".password_hash", a.PasswordHashEnv, a.PasswordHashFile)
		if err != nil {
			return nil, err
		}
		acc.PasswordHash = hash
		out = append(out, acc)
	}
	return out, nil
}

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
	s := State{PID: os.Getpid(), Started: time.Now().UTC(), DataDir: m.Config.DataDir, DropFolders: []string{}}
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

// printStarted tells the operator where everything is and, with the
// built-in config, the exact command that uploads a sample.
func (m *Main) printStarted() {
	w, c := m.env.stdout, m.Config
	fmt.Fprintf(w, "muster is running (data in %s)\n", shown(c.DataDir))
	for _, s := range c.Sources {
		if s.Kind == "folder" {
			fmt.Fprintf(w, "  drop folder  %s  -> source %s: copy CSV exports here\n", shown(s.Folder), s.Name)
		}
	}
	m.printHTTP(w)
	m.printDirectories(w)
	m.printSCIM(w)
	if m.SFTP != nil {
		host, port := m.sftpClientAddr()
		fmt.Fprintf(w, "  sftp         %s:%s\n", host, port)
		for _, k := range m.SFTP.HostKeys() {
			fmt.Fprintf(w, "               host key %s %s\n", k.Type, k.Fingerprint)
		}
		for _, a := range c.SFTP.Accounts {
			fmt.Fprintf(w, "  account      %s -> source %s; results in its reports/ folder\n", a.Name, a.Source)
		}
		if c.zero() {
			key := ""
			if m.UploadKey != "" {
				key = " -i " + shellQuote(shown(m.UploadKey))
				fmt.Fprintf(w, "  upload key   %s (generated; no SSH public key found in ~/.ssh)\n", shown(m.UploadKey))
			} else {
				fmt.Fprintf(w, "  upload key   your own SSH keys (from ~/.ssh)\n")
			}
			sample := "samples/workday.csv"
			if _, err := os.Stat(sample); err != nil {
				sample = "export.csv"
			}
			hosts := ""
			if m.KnownHosts != "" {
				hosts = " -o UserKnownHostsFile=" + shellQuote(shown(m.KnownHosts))
			}
			fmt.Fprintf(w, "\nUpload a sample:\n  sftp -P %s%s%s %s@%s <<< 'put %s'\n", port, key,
				hosts, c.SFTP.Accounts[0].Name, host, sample)
		}
	}
	fmt.Fprintf(w, "See the audience:\n  %s recipients list -data %s\n", selfCommand(), shellQuote(shown(c.DataDir)))
	fmt.Fprintln(w, "Stop with Ctrl-C.")
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
