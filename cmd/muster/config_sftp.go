package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"muster/schema"
	"muster/sftpserver"
)

// SFTPConfig is the embedded SFTP drop box. It runs when an account is
// configured.
type SFTPConfig struct {
	// Listen is host:port; port 0 picks a free port (the address is
	// written to <data_dir>/serve.json). Default 127.0.0.1:2022.
	Listen   string        `toml:"listen"`
	Accounts []AccountConf `toml:"accounts"`
	// MinFreeSpace: uploads are refused while the disk holding the data
	// directory has less free. Default 256 MiB.
	MinFreeSpace ByteSize `toml:"min_free_space"`
	// Settle is how long a committed upload stays in its inbox, untouched,
	// while its session goes on, before it is taken. Default 10s.
	Settle Duration `toml:"settle"`

	// Limits; 0 (or absent) keeps the default (sftpserver.Limits).
	MaxConnections           int      `toml:"max_connections"`
	MaxConnectionsPerAddress int      `toml:"max_connections_per_address"`
	MaxUnauthenticated       int      `toml:"max_unauthenticated"`
	MaxSessionsPerAccount    int      `toml:"max_sessions_per_account"`
	MaxOpenFiles             int      `toml:"max_open_files"`
	BanThreshold             int      `toml:"ban_threshold"`
	BanAddressThreshold      int      `toml:"ban_address_threshold"`
	BanWindow                Duration `toml:"ban_window"`
	BanDuration              Duration `toml:"ban_duration"`
	Safelist                 []string `toml:"safelist"`
	MaxFolderDepth           int      `toml:"max_folder_depth"`
	MaxFolders               int      `toml:"max_folders"`
}

// AccountConf is one SFTP login, feeding one source of kind sftp.
type AccountConf struct {
	Name   string `toml:"name"`
	Org    string `toml:"org"`
	Source string `toml:"source"`
	// Keys are public keys in authorized_keys form (not secrets), and/or
	// AuthorizedKeysFile names a file of them.
	Keys               []string `toml:"keys"`
	AuthorizedKeysFile string   `toml:"authorized_keys_file"`
	// PasswordHashEnv or PasswordHashFile give an argon2id/bcrypt hash from
	// `muster sftp passwd` (a secret: never inline).
	PasswordHashEnv  string   `toml:"password_hash_env"`
	PasswordHashFile string   `toml:"password_hash_file"`
	AllowNetworks    []string `toml:"allow_networks"`
	MaxFileSize      ByteSize `toml:"max_file_size"`
	ReadBack         bool     `toml:"read_back"`
}

// limits are the SFTP server's limits as the config says.
func (c *SFTPConfig) limits() sftpserver.Limits {
	return sftpserver.Limits{MaxConns: c.MaxConnections, MaxConnsPerAddr: c.MaxConnectionsPerAddress,
		MaxUnauthenticated: c.MaxUnauthenticated, MaxSessionsPerAccount: c.MaxSessionsPerAccount,
		MaxOpenFiles: c.MaxOpenFiles, BanThreshold: c.BanThreshold, BanAddressThreshold: c.BanAddressThreshold,
		BanWindow: time.Duration(c.BanWindow), BanDuration: time.Duration(c.BanDuration), Safelist: c.Safelist,
		MaxFolderDepth: c.MaxFolderDepth, MaxFolders: c.MaxFolders}
}

// limitsConf is the [sftp] table's limit keys, for a reload to name what
// changed.
func (c *SFTPConfig) limitsConf() SFTPConfig {
	return SFTPConfig{MaxConnections: c.MaxConnections, MaxConnectionsPerAddress: c.MaxConnectionsPerAddress,
		MaxUnauthenticated: c.MaxUnauthenticated, MaxSessionsPerAccount: c.MaxSessionsPerAccount, MaxOpenFiles: c.MaxOpenFiles,
		BanThreshold: c.BanThreshold, BanAddressThreshold: c.BanAddressThreshold, BanWindow: c.BanWindow,
		BanDuration: c.BanDuration, Safelist: c.Safelist, MaxFolderDepth: c.MaxFolderDepth, MaxFolders: c.MaxFolders}
}

// validate checks the [sftp] table's own keys (the accounts are checked
// one by one by the caller).
func (c *SFTPConfig) validate(bad func(string, string, ...any)) {
	if c.MinFreeSpace < 0 {
		bad("sftp.min_free_space", "must not be negative")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("sftp.listen", "%q is not host:port", c.Listen)
	}
	if c.Settle < 0 {
		bad("sftp.settle", "must not be negative")
	}
	if c.MaxFolderDepth < -1 {
		bad("sftp.max_folder_depth", "%d: a depth of folders, or -1 for none", c.MaxFolderDepth)
	}
	if _, err := sftpserver.ValidateLimits(c.limits()); err != nil {
		// The message names its key: "sftp.ban_threshold: -1 is negative".
		field, msg, _ := strings.Cut(schema.ErrorMessageOf(err), ": ")
		bad(field, "%s", msg)
	}
}

func (a *AccountConf) validate(f string, bad func(string, string, ...any)) {
	if !schema.ValidName(a.Name) {
		bad(f+".name", "%q: use letters, digits, '.', '_', '-', '@' (at most 64, not starting with '.' or '-')", a.Name)
	}
	if len(a.Keys) == 0 && a.AuthorizedKeysFile == "" && a.PasswordHashEnv == "" && a.PasswordHashFile == "" {
		bad(f, "no way to log in: set keys, authorized_keys_file, password_hash_env or password_hash_file")
	}
	if a.PasswordHashEnv != "" && a.PasswordHashFile != "" {
		bad(f+".password_hash_env", "set password_hash_env or password_hash_file, not both")
	}
	if a.MaxFileSize < 0 {
		bad(f+".max_file_size", "must not be negative")
	}
	for j, k := range a.Keys {
		if err := checkKey(k); err != nil {
			bad(fmt.Sprintf("%s.keys[%d]", f, j), "%v", err)
		}
	}
	for j, n := range a.AllowNetworks {
		if err := checkNetwork(n); err != nil {
			bad(fmt.Sprintf("%s.allow_networks[%d]", f, j), "%v", err)
		}
	}
}
