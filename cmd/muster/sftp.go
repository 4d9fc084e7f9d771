package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"muster/sftpserver"
)

// cmdSftp groups the SFTP drop box's helper commands.
func cmdSftp(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, "sftp passwd | muster sftp hostkeys [-config FILE] [-data DIR] [-dir DIR]")
	}
	switch args[0] {
	case "passwd":
		return cmdSftpPasswd(e, args[1:])
	case "hostkeys":
		return cmdSftpHostKeys(e, args[1:])
	}
	return usagef("unknown sftp command %q (passwd, hostkeys)", args[0])
}

// cmdSftpPasswd reads a password (without echo from a terminal, else one
// line of stdin) and prints its argon2id hash for an account's
// password_hash. The password itself is never stored or printed.
func cmdSftpPasswd(e *env, args []string) error {
	fs := newFlagSet(e, "sftp passwd", "")
	asJSON := fs.Bool("json", false, "print JSON: {\"hash\": ...}")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("muster sftp passwd takes no arguments; it reads the password from stdin")
	}
	pw, err := readPassword(e)
	if err != nil {
		return err
	}
	hash, err := sftpserver.HashPassword(pw)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]string{"hash": hash})
	}
	fmt.Fprintln(e.stdout, hash)
	return nil
}

func readPassword(e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		if len(a) == 0 {
			return "", errors.New("empty password")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}

// cmdSftpHostKeys prints the server's host key fingerprints (generating
// the keys if this is the first start), for operators to give to the
// systems that connect.
func cmdSftpHostKeys(e *env, args []string) error {
	fs := newFlagSet(e, "sftp hostkeys", "")
	sf := addDataFlags(fs, e)
	dir := fs.String("dir", "", "the SFTP server's state directory (default: sftp/ in the data directory, where muster serve keeps it)")
	asJSON := fs.Bool("json", false, "print JSON: each key's type, fingerprint and authorized_keys line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("sftp hostkeys takes no arguments")
	}
	if *dir == "" {
		if err := sf.setup(""); err != nil {
			return err
		}
		*dir = filepath.Join(sf.data, "sftp")
	}
	keys, err := sftpserver.HostKeys(*dir)
	if err != nil {
		return err
	}
	if *asJSON {
		out := []map[string]string{}
		for _, k := range keys {
			out = append(out, map[string]string{"type": k.Type, "fingerprint": k.Fingerprint, "authorized_key": k.AuthorizedKey})
		}
		return writeJSON(e.stdout, map[string]any{"host_keys": out})
	}
	for _, k := range keys {
		fmt.Fprintf(e.stdout, "%s %s\n", k.Fingerprint, k.AuthorizedKey)
	}
	return nil
}
