package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"

	"muster/schema"
	"muster/store"
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
	w := bufio.NewWriterSize(e.stdout, 1<<16)
	f := store.RecipientFilter{Status: store.StatusActive, GroupIDs: ids}
	var each func(store.Recipient) error
	if *format == "json" {
		enc := json.NewEncoder(w)
		each = func(r store.Recipient) error {
			return enc.Encode(map[string]string{"email": r.Email, "first_name": r.FirstName, "last_name": r.LastName})
		}
	} else {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"email", "first_name", "last_name"}); err != nil {
			return err
		}
		each = func(r store.Recipient) error {
			return cw.Write([]string{neutralise(r.Email), neutralise(r.FirstName), neutralise(r.LastName)})
		}
		defer cw.Flush()
	}
	if err := st.EachRecipient(ctx, org.ID, f, 0, each); err != nil {
		return err
	}
	return w.Flush()
}

// neutralise keeps a spreadsheet from running a value as a formula: one
// that starts with = + - @, a tab or a carriage return gets a leading
// apostrophe (the OWASP advice for CSV injection).
func neutralise(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
