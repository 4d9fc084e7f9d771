package main

import (
	"context"

	"muster/ingest"
	"muster/schema"
)

func cmdExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "export", "-group GROUP")
	sf := addStoreFlags(fs, e)
	group := fs.String("group", "", "the group to export (every source's group of that name)")
	source := fs.String("source", "", "only the group of this source")
	format := fs.String("format", "csv", "csv or json (one object per line)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *group == "" || fs.NArg() != 0 {
		return usagef("need -group GROUP")
	}
	if *format != "csv" && *format != "json" {
		return usagef("-format must be csv or json")
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
	ids, err := st.FindGroups(ctx, org.ID, *group, *source)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return schema.Errorf(schema.ENotFound, "no group %q", *group)
	}
	_, err = ingest.ExportAudience(ctx, st, org.ID, ids, *format, e.stdout)
	return err
}
