// Command muster keeps an organisation's audience in step with its HR and
// directory systems. See README.md for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel() // first signal: stop taking new work and finish cleanly
		<-sigs
		fmt.Fprintln(os.Stderr, "muster: second signal, exiting now")
		os.Exit(exitInterrupted)
	}()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	stopProfiles := startProfiles(os.Getenv)
	code := run(ctx, e, os.Args[1:])
	cancel()
	stopProfiles()
	os.Exit(code)
}

// env is what a command may touch of the outside world, so tests can run
// commands in-process with their own streams and environment.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// command is one verb of the command line. Each lives in its own file.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands lists every verb in the order `muster help` shows them.
func commands() []command {
	return []command{
		{"help", "show this help", cmdHelp},
		{"serve", "run the daemon: SFTP drop box, watched folders, ingest", cmdServe},
		{"config", "check a config file: muster config check [-config FILE]", cmdConfig},
		{"check", "show what muster makes of an HR export (never touches a store)", cmdCheck},
		{"ingest", "ingest a file from a source: diff, guards, apply, report", cmdIngest},
		{"drops", "list, show, approve or reject drops", cmdDrops},
		{"recipients", "list, show, explain, add, remove or lift recipients", cmdRecipients},
		{"groups", "list groups with their members", cmdGroups},
		{"export", "export a group's recipients as CSV or JSON", cmdExport},
		{"sources", "list sources, roll one back, remove one, or sync a WorkOS directory now", cmdSources},
		{"sftp", "SFTP drop box helpers: passwd (hash a password), hostkeys, bans (list, lift)", cmdSftp},
		{"token", "make an admin API token: muster token new -name NAME -role viewer|admin", cmdToken},
		{"store", "the store: status, migrate (explicit on PostgreSQL), copy a SQLite store into PostgreSQL", cmdStore},
	}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	for _, c := range commands() {
		if c.name == name {
			return exitCodeOf(e, c.name, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(e.stderr, "muster: unknown command %q\n\n", name)
	usage(e.stderr)
	return exitUsage
}

func cmdHelp(_ context.Context, e *env, _ []string) error {
	usage(e.stdout)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: muster COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'muster COMMAND -h' for the flags of a command.")
}

// Exit codes, documented in README.md.
const (
	exitOK          = 0   // done; for a drop: applied (or a duplicate, a no-op)
	exitError       = 1   // something failed; the message says what
	exitUsage       = 2   // the command line was wrong
	exitHeld        = 3   // the drop was held for an admin to approve
	exitRejected    = 4   // the drop (or, for check, the file) was refused
	exitInterrupted = 130 // a second SIGINT or SIGTERM
)

// exitStatus is returned by a command that finished its work but must still
// exit non-zero (a held or rejected drop). It carries no message of its own.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

func exitCodeOf(e *env, name string, err error) int {
	var st exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &st):
		return int(st)
	case errors.As(err, new(usageError)):
		fmt.Fprintf(e.stderr, "muster %s: %v\n", name, err)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "muster %s: %v\n", name, err)
	return exitError
}

// usageError is a wrong command line: exit code 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// groupUsage answers a verb made of subcommands called without one (a wrong
// command line, exit 2) or with -h (its usage on stderr, exit 0, as a flag
// set's -h does). usage is the line after "usage: muster ".
func groupUsage(e *env, args []string, usage string) error {
	if len(args) == 0 {
		return usagef("usage: muster %s", usage)
	}
	verb, _, _ := strings.Cut(usage, " ")
	fmt.Fprintf(e.stderr, "usage: muster %s\nRun 'muster %s SUBCOMMAND -h' for its flags.\n", usage, verb)
	return flag.ErrHelp
}

// isHelp reports whether a verb's first argument asks for help rather than
// naming a subcommand.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// newFlagSet returns a flag set that reports errors instead of exiting, with
// its usage written to the command's stderr.
func newFlagSet(e *env, name, argsUsage string) *flag.FlagSet {
	fs := flag.NewFlagSet("muster "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, strings.TrimSpace(fmt.Sprintf("usage: muster %s [flags] %s", name, argsUsage)))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns a flag error into a usage error. Flags
// may follow the arguments (`muster drops reject 7 -reason "..."`), which
// the flag package alone would take as arguments; after "--" everything is
// an argument.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	// Parsing "--" alone leaves the arguments for Arg and NArg.
	return fs.Parse(append([]string{"--"}, pos...))
}
