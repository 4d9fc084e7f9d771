package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"muster/schema"
	"muster/sftpserver"
)

// cmdSftp groups the SFTP drop box's helper commands.
func cmdSftp(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, "sftp passwd | muster sftp hostkeys [-config FILE] [-data DIR] [-dir DIR] | "+
			"muster sftp bans [lift ADDRESS [ACCOUNT]] [-config FILE] [-data DIR] [-dir DIR] [-json]")
	}
	switch args[0] {
	case "passwd":
		return cmdSftpPasswd(e, args[1:])
	case "hostkeys":
		return cmdSftpHostKeys(e, args[1:])
	case "bans":
		return cmdSftpBans(e, args[1:])
	}
	return usagef("unknown sftp command %q (passwd, hostkeys, bans)", args[0])
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
	dir := addSftpDirFlags(fs, e)
	asJSON := fs.Bool("json", false, "print JSON: each key's type, fingerprint and authorized_keys line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("sftp hostkeys takes no arguments")
	}
	d, err := dir()
	if err != nil {
		return err
	}
	keys, err := sftpserver.HostKeys(d)
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

// addSftpDirFlags adds -config, -data and -dir, and returns what finds the
// SFTP server's state directory from them.
func addSftpDirFlags(fs *flag.FlagSet, e *env) func() (string, error) {
	sf := addDataFlags(fs, e)
	dir := fs.String("dir", "", "the SFTP server's state directory (default: sftp/ in the shared folder, the data directory unless [store] shared_dir, where muster serve keeps it)")
	return func() (string, error) {
		if *dir != "" {
			return *dir, nil
		}
		if err := sf.setup(""); err != nil {
			return "", err
		}
		if sf.cfg != nil {
			return filepath.Join(sf.cfg.sharedDir(), "sftp"), nil
		}
		return filepath.Join(sf.data, "sftp"), nil
	}
}

// cmdSftpBans lists the SFTP server's bans in force, or lifts those of an
// address (of one account, or all). It works on the server's state
// directory, whether the daemon runs or not; a running daemon sees a lift
// within a second or so.
func cmdSftpBans(e *env, args []string) error {
	lift := len(args) > 0 && args[0] == "lift"
	if lift {
		args = args[1:]
	}
	name := "sftp bans"
	if lift {
		name = "sftp bans lift"
	}
	fs := newFlagSet(e, name, "")
	dir := addSftpDirFlags(fs, e)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case !lift && fs.NArg() != 0:
		return usagef("muster sftp bans lists the bans; muster sftp bans lift ADDRESS [ACCOUNT] lifts them")
	case lift && (fs.NArg() < 1 || fs.NArg() > 2):
		return usagef("muster sftp bans lift ADDRESS [ACCOUNT]: the address, and the account to lift only its ban")
	}
	d, err := dir()
	if err != nil {
		return err
	}
	var bans []sftpserver.Ban
	if lift {
		account := "*"
		if fs.NArg() == 2 {
			account = fs.Arg(1)
		}
		bans, err = sftpserver.LiftBans(d, fs.Arg(0), account)
	} else {
		bans, err = sftpserver.ListBans(d)
	}
	if err != nil {
		return err
	}
	if bans == nil {
		bans = []sftpserver.Ban{}
	}
	if *asJSON {
		key := "bans"
		if lift {
			key = "lifted"
		}
		return writeJSON(e.stdout, map[string]any{key: bans})
	}
	if len(bans) == 0 {
		if lift {
			return schema.Errorf(schema.ENotFound, "no ban of %s to lift", strings.Join(fs.Args(), " "))
		}
		fmt.Fprintln(e.stdout, "no bans")
		return nil
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if lift {
		fmt.Fprintln(w, "LIFTED\tADDRESS\tACCOUNT\tUNTIL\tFAILURES\tREASON")
	} else {
		fmt.Fprintln(w, "ADDRESS\tACCOUNT\tUNTIL\tFAILURES\tREASON")
	}
	for _, b := range bans {
		account := b.Account
		if account == "" {
			account = "(every account)"
		}
		if lift {
			fmt.Fprint(w, "lifted\t")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", b.Address, account, b.Until.Local().Format(time.RFC3339), b.Failures, b.Reason)
	}
	return w.Flush()
}
