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

	"muster/schema"
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
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		// SIGHUP re-reads the config (README, Live reload); for any other
		// command it keeps its default, ending the process.
		e.reload = hangups()
	}
	stopProfiles := startProfiles(os.Getenv)
	code := run(ctx, e, os.Args[1:])
	cancel()
	stopProfiles()
	os.Exit(code)
}

// hangups turns SIGHUP into reload requests; one pending is enough.
func hangups() <-chan struct{} {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	return reload
}

// env is what a command may touch of the outside world, so tests can run
// commands in-process with their own streams and environment.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// json is set when the command line asks for -json: errors are then
	// printed as JSON too ({"error": {...}}), and flag errors only so.
	json bool
	// help is set when the command line asks for -h or --help.
	help bool
	// reload, when set (by main), delivers SIGHUP to `muster serve`.
	reload <-chan struct{}
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
		{"version", "print the version, commit, build time and Go version", cmdVersion},
		{"serve", "run the daemon: SFTP drop box, watched folders, directories, admin API", cmdServe},
		{"health", "exit 0 when the running daemon is ready (its /readyz), for HEALTHCHECK", cmdHealth},
		{"config", "check a config file as serve would: muster config check [-config FILE]", cmdConfig},
		{"check", "show what muster makes of an HR export (never touches a store)", cmdCheck},
		{"ingest", "ingest a file from a source: diff, guards, apply, report", cmdIngest},
		{"drops", "list, show, approve or reject drops", cmdDrops},
		{"recipients", "list, show, explain, add, remove or lift recipients", cmdRecipients},
		{"groups", "list groups with their members", cmdGroups},
		{"export", "export a group's recipients as CSV or JSON", cmdExport},
		{"sources", "list sources, roll one back, remove one, or sync a WorkOS directory now", cmdSources},
		{"sftp", "SFTP drop box helpers: passwd (hash a password), hostkeys, bans (list, lift)", cmdSftp},
		{"token", "make an admin API token: muster token new -name NAME -role viewer|admin", cmdToken},
		{"notify", "notifications: log (what was told to whom), test (send a test to the targets now)", cmdNotify},
		{"store", "the store: status, migrate (explicit on PostgreSQL), copy a SQLite store into PostgreSQL", cmdStore},
	}
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, e *env, args []string) int {
	e.json, e.help = flagsAsked(args)
	if len(args) == 0 {
		usage(e.stdout)
		return exitOK
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return exitCodeOf(e, c.name, c.run(ctx, e, args[1:]))
		}
	}
	if e.json {
		return exitCodeOf(e, "", usagef("unknown command %q: run muster help", name))
	}
	fmt.Fprintf(e.stderr, "muster: unknown command %q\n\n", name)
	usage(e.stderr)
	return exitUsage
}

// flagsAsked reports whether the command line asks for -json and for help,
// before "--" ends the flags.
func flagsAsked(args []string) (asJSON, help bool) {
	for _, a := range args {
		switch a {
		case "--":
			return asJSON, help
		case "-json", "--json", "-json=true", "--json=true":
			asJSON = true
		case "-h", "-help", "--help":
			help = true
		}
	}
	return asJSON, help
}

func cmdHelp(_ context.Context, e *env, _ []string) error {
	if e.json {
		type verb struct {
			Name    string `json:"name"`
			Summary string `json:"summary"`
		}
		var out []verb
		for _, c := range commands() {
			out = append(out, verb{c.name, c.summary})
		}
		return writeJSON(e.stdout, map[string]any{"version": buildInfo().Version, "commands": out})
	}
	usage(e.stdout)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "%s: keeps an organisation's audience in step with its HR and directory systems.\n\n", buildInfo().Short())
	fmt.Fprintln(w, "usage: muster COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'muster COMMAND -h' for the flags of a command. Every command takes -json;")
	fmt.Fprintln(w, "exit codes: 0 done, 1 error, 2 wrong command line, 3 held, 4 refused (README, Exit codes).")
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
	code := exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &st):
		return int(st)
	case errors.As(err, new(usageError)):
		code = exitUsage
	}
	if e.json {
		printJSONError(e, err, code)
		return code
	}
	prefix := "muster"
	if name != "" {
		prefix += " " + name
	}
	fmt.Fprintf(e.stderr, "%s: %v\n", prefix, err)
	return code
}

// jsonError is how an error is printed under -json, on stderr:
// {"error": {"code": "not_found", "message": "...", "exit": 1}}. Code is
// the error vocabulary's (README, Admin API), or "usage" for a wrong
// command line; problems lists a config's problems field by field.
type jsonError struct {
	Error struct {
		Code     string         `json:"code"`
		Message  string         `json:"message"`
		Exit     int            `json:"exit"`
		Problems []FieldProblem `json:"problems,omitempty"`
	} `json:"error"`
}

func printJSONError(e *env, err error, exit int) {
	var out jsonError
	out.Error.Code, out.Error.Message, out.Error.Exit = string(schema.ErrorCodeOf(err)), err.Error(), exit
	if exit == exitUsage {
		out.Error.Code = "usage"
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		out.Error.Problems = ce.Problems
	}
	_ = writeJSON(e.stderr, out)
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
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
	}
	if e.json && !e.help {
		// The error comes back as JSON (exitCodeOf); the flag package's
		// own text would only be noise on stderr.
		fs.SetOutput(io.Discard)
		fs.Usage = func() {}
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
