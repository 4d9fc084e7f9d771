package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"muster/cmd/muster/api"
	"muster/ingest"
	"muster/store"
)

func cmdDrops(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, "drops list|show|approve|reject [flags] ...")
	}
	switch args[0] {
	case "list":
		return dropsList(ctx, e, args[1:])
	case "show":
		return dropsShow(ctx, e, args[1:])
	case "approve", "reject":
		return dropsDecide(ctx, e, args[0], args[1:])
	}
	return usagef("unknown drops command %q: list, show, approve or reject", args[0])
}

func dropsList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "drops list", "")
	sf := addStoreFlags(fs, e)
	source := fs.String("source", "", "only this source's drops")
	status := fs.String("status", "", "only drops with this status: received, applied, held, rejected, duplicate, superseded")
	before := fs.Int64("before", 0, "cursor: drops older than this id")
	limit := fs.Int("limit", 50, "at most this many")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f := store.DropFilter{Before: *before, Limit: *limit}
	var err error
	if f.Status, err = api.ParseDropStatus(*status); err != nil {
		return usagef("-%v", err)
	}
	if err := checkLimit(*limit); err != nil {
		return err
	}
	if err := sf.setup(*source); err != nil {
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
	if *source != "" {
		src, err := st.LookupSource(ctx, org.ID, *source)
		if err != nil {
			return err
		}
		f.SourceID = src.ID
	}
	drops, next, err := st.Drops(ctx, org.ID, f)
	if err != nil {
		return err
	}
	if sf.json {
		for i := range drops {
			drops[i].Report = nil
		}
		return writeJSON(e.stdout, map[string]any{"drops": nonNil(drops), "next": next})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSOURCE\tSTATUS\tRECEIVED\tNAME")
	for _, d := range drops {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", d.ID, d.SourceName, d.Status, localTime(d.ReceivedAt), d.Name)
	}
	if next != 0 {
		fmt.Fprintf(tw, "(more: -before %d)\n", next)
	}
	return tw.Flush()
}

func dropsShow(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "drops show", "ID")
	sf := addStoreFlags(fs, e)
	changes := fs.Bool("changes", false, "list every change the drop made")
	after := fs.String("after", "", "with -changes: cursor, keys after this one")
	limit := fs.Int("limit", 100, "with -changes: at most this many")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id, err := dropID(fs.Args())
	if err != nil {
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
	d, err := st.Drop(ctx, org.ID, id)
	if err != nil {
		return err
	}
	rep, err := ingest.ParseReport(d.Report)
	if err != nil {
		return err
	}
	var list []store.Change
	var next string
	if *changes {
		if list, next, err = st.DropChanges(ctx, d, *after, *limit); err != nil {
			return err
		}
	}
	if sf.json {
		out := map[string]any{"drop": d, "report": rep}
		if *changes {
			out["changes"], out["next"] = changeLines(list), next
		}
		return writeJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "drop %d of source %s: %s (received %s", d.ID, d.SourceName, d.Status, localTime(d.ReceivedAt))
	if d.DecidedAt != "" {
		fmt.Fprintf(e.stdout, ", decided %s", localTime(d.DecidedAt))
		if d.DecidedBy != "" {
			fmt.Fprintf(e.stdout, " by %s", d.DecidedBy)
		}
	}
	fmt.Fprintf(e.stdout, ")\n  content %s\n", d.ContentHash)
	if d.Report != nil {
		shown := *rep
		if *changes {
			shown.Sample = nil // every change follows: the sample would print them twice
		}
		if err := shown.WriteText(e.stdout); err != nil {
			return err
		}
	}
	if *changes {
		fmt.Fprintf(e.stdout, "  changes (%d):\n", len(list))
		for _, c := range changeLines(list) {
			fmt.Fprintf(e.stdout, "  %-8s %s line %d\n", c.Op, c.Key, c.Line)
		}
		if next != "" {
			fmt.Fprintf(e.stdout, "  (more: -after %s)\n", next)
		}
	}
	return nil
}

func changeLines(cs []store.Change) []ingest.ChangeLine {
	out := make([]ingest.ChangeLine, 0, len(cs))
	for _, c := range cs {
		out = append(out, ingest.ChangeLine{Op: c.Op.String(), Key: c.Key, Line: c.Line})
	}
	return out
}

func dropsDecide(ctx context.Context, e *env, verb string, args []string) error {
	fs := newFlagSet(e, "drops "+verb, "ID")
	sf := addStoreFlags(fs, e)
	reasonHelp := "why (kept with the decision)"
	if verb == "reject" {
		reasonHelp = "why it is refused (required; kept with the decision and told to the uploader's report)"
	}
	reason := fs.String("reason", "", reasonHelp)
	dry := fs.Bool("dry-run", false, "say what would happen; write nothing")
	by := fs.String("by", cliUser(e), "who decides (kept with the decision)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	id, err := dropID(fs.Args())
	if err != nil {
		return err
	}
	if verb == "reject" && strings.TrimSpace(*reason) == "" {
		return usagef("drops reject needs -reason \"...\": it is kept with the decision and written into the uploader's report")
	}
	in, err := sf.ingester(ctx, e, false)
	if err != nil {
		return err
	}
	defer in.Store.Close()
	opt := ingest.Options{DryRun: *dry, By: *by}
	var rep *ingest.Report
	if verb == "approve" {
		rep, err = in.Approve(ctx, sf.org, id, opt)
	} else {
		rep, err = in.Reject(ctx, sf.org, id, *reason, opt)
	}
	if err != nil {
		return err
	}
	if verb == "reject" {
		// rejecting is what was asked: success
		if sf.json {
			return writeJSON(e.stdout, rep)
		}
		return rep.WriteText(e.stdout)
	}
	return printReport(e, sf, rep)
}

func dropID(args []string) (int64, error) {
	if len(args) != 1 {
		return 0, usagef("need one drop ID")
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("drop ID %q is not a number", args[0])
	}
	return id, nil
}

// nonNil makes an empty list print as [] rather than null.
// checkLimit refuses a page size under 1, which the store would silently
// turn into its default page.
func checkLimit(n int) error {
	if n < 1 {
		return usagef("-limit %d must be at least 1", n)
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
