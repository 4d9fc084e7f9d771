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

// sourcesList prints each source's sync health (ingest.SourceHealth):
// the daemon's runs are read from the store, so it answers beside it, and
// every configured source is listed, never synced before its first run.
func sourcesList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "sources list", "")
	sf := addStoreFlags(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	in, err := sf.ingester(ctx, e, false)
	if err != nil {
		return err
	}
	st := in.Store
	defer st.Close()
	var configured []ingest.ConfiguredSource
	if sf.cfg != nil {
		configured = sf.cfg.configuredSources()
	}
	hs, err := in.SourcesHealth(ctx, sf.org, configured)
	if err != nil {
		return err
	}
	scimStats := map[string]store.SCIMStats{}
	if org, err := st.LookupOrg(ctx, sf.org); err == nil {
		if scimStats, err = st.SCIMStatsByOrg(ctx, org.ID); err != nil {
			return err
		}
	}
	if sf.json {
		return writeJSON(e.stdout, map[string]any{"sources": hs, "scim": scimStats})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tMODE\tPRIORITY\tAUTHORITATIVE\tPEOPLE\tSTATE\tLAST SUCCESS\tLAST ATTEMPT\tNEXT RUN\tHELD")
	for _, h := range hs {
		state := h.State
		if h.ConsecutiveFailures > 1 {
			state += fmt.Sprintf(" (%d in a row)", h.ConsecutiveFailures)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%d\t%s\t%s\t%s\t%s\t%d\n", h.Name, h.Kind, h.Mode, h.Priority, h.Authoritative, h.People, state,
			when(h.LastSuccess), when(h.LastAttempt), when(h.NextRun), h.HeldDrops)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, h := range hs {
		switch {
		case h.LastError != "":
			fmt.Fprintf(e.stdout, "%s: last error: %s\n", h.Name, h.LastError)
		case h.RemovedAt != "":
			fmt.Fprintf(e.stdout, "%s: removed %s\n", h.Name, localTime(h.RemovedAt))
		}
		if h.QueuedBatches > 0 {
			fmt.Fprintf(e.stdout, "%s: %d batches of changes wait behind its held drop\n", h.Name, h.QueuedBatches)
		}
	}
	return printSCIMStats(e, hs, scimStats)
}

// when formats a time for a table, in local time: "-" for never.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
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
func printSCIMStats(e *env, srcs []ingest.SourceHealth, stats map[string]store.SCIMStats) error {
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
