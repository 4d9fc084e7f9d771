package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

func cmdSources(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, "sources list|rollback|remove|sync [flags] ...")
	}
	switch args[0] {
	case "list":
		return sourcesList(ctx, e, args[1:])
	case "rollback":
		return sourcesRollback(ctx, e, args[1:])
	case "remove":
		return sourcesRemove(ctx, e, args[1:])
	case "sync":
		return sourcesSync(ctx, e, args[1:])
	}
	return usagef("unknown sources command %q: list, rollback, remove or sync", args[0])
}

func sourcesList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "sources list", "")
	sf := addStoreFlags(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := sf.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	org, err := st.LookupOrg(ctx, sf.org)
	if err != nil {
		return err
	}
	srcs, err := st.Sources(ctx, org.ID)
	if err != nil {
		return err
	}
	scimStats, err := st.SCIMStatsByOrg(ctx, org.ID)
	if err != nil {
		return err
	}
	if sf.json {
		return writeJSON(e.stdout, map[string]any{"sources": nonNil(srcs), "scim": scimStats})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tMODE\tPRIORITY\tAUTHORITATIVE\tPEOPLE\tSTATE")
	for _, s := range srcs {
		state := "active"
		if s.RemovedAt != "" {
			state = "removed " + localTime(s.RemovedAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%d\t%s\n", s.Name, s.Kind, s.Mode, s.Priority, s.Authoritative, s.Rows, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printSCIMStats(e, srcs, scimStats)
}

func sourcesRollback(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "sources rollback", "NAME -to DROP")
	sf := addStoreFlags(fs, e)
	to := fs.String("to", "", "the earlier applied drop whose snapshot to restore (required)")
	dry := fs.Bool("dry-run", false, "print what would change; write nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *to == "" {
		return usagef("need a source NAME and -to DROP")
	}
	id, err := strconv.ParseInt(*to, 10, 64)
	if err != nil {
		return usagef("-to %q is not a drop id", *to)
	}
	if err := sf.setup(fs.Arg(0)); err != nil {
		return err
	}
	in, err := sf.ingester(ctx, e, false)
	if err != nil {
		return err
	}
	defer in.Store.Close()
	rep, err := in.Rollback(ctx, sf.org, fs.Arg(0), id, ingest.Options{DryRun: *dry, By: cliUser(e)})
	if err != nil {
		return err
	}
	return printReport(e, sf, rep)
}

func sourcesRemove(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "sources remove", "NAME")
	sf := addStoreFlags(fs, e)
	dry := fs.Bool("dry-run", false, "print what would change; write nothing")
	yes := fs.Bool("yes", false, "remove without asking (what it removes is printed first)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("need a source NAME")
	}
	if err := sf.setup(fs.Arg(0)); err != nil {
		return err
	}
	in, err := sf.ingester(ctx, e, false)
	if err != nil {
		return err
	}
	defer in.Store.Close()
	opt := ingest.Options{DryRun: true, By: cliUser(e)}
	preview, err := in.RemoveSource(ctx, sf.org, fs.Arg(0), opt)
	if err != nil {
		return err
	}
	if *dry {
		return printReport(e, sf, preview)
	}
	if !*yes {
		if err := confirmRemoval(e, sf, preview); err != nil {
			return err
		}
	}
	opt.DryRun = false
	rep, err := in.RemoveSource(ctx, sf.org, fs.Arg(0), opt)
	if err != nil {
		return err
	}
	if rep.Decision == ingest.Held && !sf.json {
		fmt.Fprintf(e.stdout, "held as drop %d: %s; an admin approves it with `muster drops approve %d` (or rejects it)\n",
			rep.DropID, rep.Reason, rep.DropID)
	}
	err = printReport(e, sf, rep) // exit 3 when held
	if conf := sf.source(fs.Arg(0)); conf != nil && !sf.json {
		// The daemon would bring it back with its next drop.
		fmt.Fprintf(e.stdout, "note: source %s is still in %s: remove it there too, or its next drop brings it back\n", conf.Name, sf.cfg.path)
	}
	return err
}

// confirmRemoval shows what removing the source withdraws and asks, on a
// terminal; elsewhere (a script) it refuses without -yes.
func confirmRemoval(e *env, sf *storeFlags, preview *ingest.Report) error {
	what := fmt.Sprintf("removing source %s withdraws what it asserts of %d people (people other sources list stay in the audience)",
		preview.Source, preview.Counts.Removed)
	if preview.Decision == ingest.Held {
		what += "; " + preview.Reason + ", so it will be held for an admin to approve"
	}
	f, ok := e.stdin.(*os.File)
	if sf.json || !ok || !term.IsTerminal(int(f.Fd())) {
		return usagef("%s: add -yes to do it (or -dry-run to see the changes)", what)
	}
	fmt.Fprintf(e.stderr, "%s.\nRemove it? [y/N] ", what)
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return schema.Errorf(schema.EInvalid, "not removed")
	}
	return nil
}

// printSCIMStats adds what each scim source's requests did (kept by the
// daemon every few seconds).
func printSCIMStats(e *env, srcs []store.Source, stats map[string]store.SCIMStats) error {
	first := true
	for _, s := range srcs {
		if s.Kind != store.KindSCIM {
			continue
		}
		if first {
			fmt.Fprintln(e.stdout, "\nSCIM requests:")
			first = false
		}
		st, ok := stats[s.Name]
		if !ok {
			fmt.Fprintf(e.stdout, "  %s: no request yet\n", s.Name)
			continue
		}
		fmt.Fprintf(e.stdout, "  %s: last request %s (status %d), %d requests, %d errors", s.Name,
			st.LastRequest.Format(time.RFC3339), st.LastStatus, st.Requests, st.Errors)
		if st.LastError != "" {
			fmt.Fprintf(e.stdout, "; last error %s: %s", st.LastErrorAt.Format(time.RFC3339), st.LastError)
		}
		fmt.Fprintln(e.stdout)
	}
	return nil
}
