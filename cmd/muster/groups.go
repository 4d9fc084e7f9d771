package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

func cmdGroups(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, "groups list [flags]")
	}
	if args[0] != "list" {
		return usagef("unknown groups command %q: list", args[0])
	}
	fs := newFlagSet(e, "groups list", "")
	sf := addStoreFlags(fs, e)
	if err := parseFlags(fs, args[1:]); err != nil {
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
	groups, err := st.Groups(ctx, org.ID)
	if err != nil {
		return err
	}
	if sf.json {
		return writeJSON(e.stdout, map[string]any{"groups": nonNil(groups)})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSOURCE\tMEMBERS")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", g.Name, g.SourceName, g.Members)
	}
	return tw.Flush()
}
