package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"muster/cmd/muster/api"
	"muster/ingest"
	"muster/schema"
	"muster/store"
)

func cmdRecipients(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, "recipients list|show|explain|add|remove|lift [flags] ...")
	}
	switch args[0] {
	case "list":
		return recipientsList(ctx, e, args[1:])
	case "show", "explain":
		return recipientsExplain(ctx, e, args[0], args[1:])
	case "add", "remove":
		return recipientsEdit(ctx, e, args[0], args[1:])
	case "lift":
		return recipientsLift(ctx, e, args[1:])
	}
	return usagef("unknown recipients command %q: list, show, explain, add, remove or lift", args[0])
}

// recipientRow is a recipient as `recipients list` shows it: with the
// sources that list them now and their groups ("source/group").
type recipientRow struct {
	store.Recipient
	Sources []string `json:"sources"`
	Groups  []string `json:"groups"`
}

func recipientsList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "recipients list", "")
	sf := addStoreFlags(fs, e)
	status := fs.String("status", "active", "only this status: active, offboarded, inactive, gone, or all")
	group := fs.String("group", "", "only members of groups with this name (of -source's only, with -source)")
	source := fs.String("source", "", "only the people this source lists now (any of its statuses with -status all)")
	search := fs.String("search", "", "only those whose email or name contains this")
	after := fs.String("after", "", "cursor: emails after this key")
	limit := fs.Int("limit", 100, "at most this many")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f := store.RecipientFilter{Search: *search, After: *after, Limit: *limit}
	var err error
	if f.Status, err = api.ParseRecipientStatus(*status); err != nil {
		return usagef("-%v", err)
	}
	if err := checkLimit(*limit); err != nil {
		return err
	}
	st, err := sf.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	var rows []recipientRow
	next := ""
	org, err := st.LookupOrg(ctx, sf.org)
	switch {
	case schema.ErrorCodeOf(err) == schema.ENotFound && sf.orgKnown():
		// Configured, nothing of it ingested yet: nobody.
	case err != nil:
		return err
	default:
		if rows, next, err = listRecipients(ctx, st, org, f, *source, *group, sf); err != nil {
			return err
		}
	}
	// What the status filter leaves out, in the organisation: said, so an
	// admin looking for someone who left knows to ask for -status all.
	counts, err := st.RecipientCounts(ctx, org.ID)
	if err != nil {
		return err
	}
	hidden := map[string]int64{}
	var parts []string
	for _, s := range []store.RecipientStatus{store.StatusActive, store.StatusInactive, store.StatusOffboarded, store.StatusGone} {
		if f.Status != "" && s != f.Status && counts[s] > 0 {
			hidden[string(s)] = counts[s]
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if sf.json {
		return writeJSON(e.stdout, map[string]any{"recipients": nonNil(rows), "next": next, "hidden_by_status": hidden})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tSTATUS\tSOURCES\tGROUPS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\n", r.Email, r.FirstName, r.LastName, r.Status, strings.Join(r.Sources, ", "),
			strings.Join(r.Groups, ", "))
	}
	if next != "" {
		fmt.Fprintf(tw, "(more: -after %s)\n", next)
	}
	if len(parts) > 0 {
		fmt.Fprintf(tw, "(not listed, of another status than %s: %s; -status all lists everyone)\n", f.Status, strings.Join(parts, ", "))
	}
	return tw.Flush()
}

// orgKnown says the organisation of the command is one a command may name
// before anything was ingested into it: the default one, or the config's.
func (sf *storeFlags) orgKnown() bool {
	if sf.org == schema.DefaultOrg {
		return true
	}
	return sf.cfg != nil && slices.Contains(sf.cfg.orgNames(), sf.org)
}

// listRecipients lists a page of the organisation's recipients, each with
// its sources and groups.
func listRecipients(ctx context.Context, st *store.Store, org store.Org, f store.RecipientFilter, source, group string,
	sf *storeFlags) ([]recipientRow, string, error) {
	if source != "" {
		src, err := st.LookupSource(ctx, org.ID, source)
		switch {
		case schema.ErrorCodeOf(err) == schema.ENotFound && sf.source(source) != nil:
			return nil, "", nil // configured, never synced
		case err != nil:
			return nil, "", err
		}
		f.SourceID = src.ID
	}
	if group != "" {
		ids, err := st.FindGroups(ctx, org.ID, group, source)
		if err != nil {
			return nil, "", err
		}
		if len(ids) == 0 {
			if source != "" {
				return nil, "", schema.Errorf(schema.ENotFound, "no group %q in source %s", group, source)
			}
			return nil, "", schema.Errorf(schema.ENotFound, "no group %q", group)
		}
		f.GroupIDs = ids
	}
	recs, next, err := st.Recipients(ctx, org.ID, f)
	if err != nil {
		return nil, "", err
	}
	srcs, err := st.Sources(ctx, org.ID)
	if err != nil {
		return nil, "", err
	}
	names := map[int64]string{}
	for _, s := range srcs {
		names[s.ID] = s.Name
	}
	var ids []int64
	for _, r := range recs {
		ids = append(ids, r.GroupIDs...)
	}
	groups, err := st.GroupsByID(ctx, org.ID, ids)
	if err != nil {
		return nil, "", err
	}
	rows := make([]recipientRow, 0, len(recs))
	for _, r := range recs {
		row := recipientRow{Recipient: r, Sources: []string{}, Groups: []string{}}
		as, err := st.Assertions(ctx, org.ID, r.Key)
		if err != nil {
			return nil, "", err
		}
		for _, a := range as {
			row.Sources = append(row.Sources, names[a.SourceID])
		}
		slices.Sort(row.Sources)
		for _, id := range r.GroupIDs {
			row.Groups = append(row.Groups, groups[id].SourceName+"/"+groups[id].Name)
		}
		slices.Sort(row.Groups)
		rows = append(rows, row)
	}
	return rows, next, nil
}

func recipientsExplain(ctx context.Context, e *env, verb string, args []string) error {
	fs := newFlagSet(e, "recipients "+verb, "EMAIL")
	sf := addStoreFlags(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("need one EMAIL")
	}
	k, err := key(fs.Arg(0))
	if err != nil {
		return err
	}
	in, err := sf.ingester(ctx, e, false)
	if err != nil {
		return err
	}
	defer in.Store.Close()
	ex, err := in.Explain(ctx, sf.org, k)
	if err != nil {
		return err
	}
	if verb == "show" {
		ex.Assertions, ex.History, ex.Winners = nil, nil, nil
	}
	if sf.json {
		return writeJSON(e.stdout, ex)
	}
	return writeExplanation(e, ex, verb == "explain")
}

func writeExplanation(e *env, ex *ingest.Explanation, full bool) error {
	w := e.stdout
	r := ex.Recipient
	fmt.Fprintf(w, "%s  %s %s  (%s)\n", r.Email, r.FirstName, r.LastName, r.Status)
	for _, name := range slices.Sorted(maps.Keys(ex.Attrs)) {
		fmt.Fprintf(w, "  %s: %s\n", name, ex.Attrs[name])
	}
	var groups []string
	for _, g := range ex.Groups {
		groups = append(groups, g.Source+"/"+g.Name)
	}
	fmt.Fprintf(w, "  groups: %s\n", strings.Join(groups, ", "))
	for _, o := range ex.Offboarding {
		fmt.Fprintf(w, "  %s\n", o)
	}
	if !full {
		return nil
	}
	fmt.Fprintln(w, "sources:")
	for _, a := range ex.Assertions {
		won := a.Wins
		if len(won) == 0 {
			won = []string{"nothing"}
		}
		counts := ""
		if !a.Counts {
			counts = " (inactive: does not count)"
		}
		fmt.Fprintf(w, "  %s (priority %d%s)%s: %s %s <%s> status %s, groups %s\n", a.Source, a.Priority,
			map[bool]string{true: ", authoritative"}[a.Authoritative], counts, a.Assertion.FirstName, a.Assertion.LastName,
			a.Assertion.Email, a.Assertion.Status, strings.Join(a.Assertion.Groups, "; "))
		from := fmt.Sprintf("%q", a.Drop)
		if a.Assertion.Line > 0 {
			from += fmt.Sprintf(" line %d", a.Assertion.Line)
		}
		fmt.Fprintf(w, "    from %s (drop %d); wins: %s\n", from, a.Assertion.DropID, strings.Join(won, ", "))
	}
	fmt.Fprintln(w, "history (newest first):")
	for _, h := range ex.History {
		fmt.Fprintf(w, "  %s %-10s %s", localTime(h.At), h.Kind, h.Source)
		if h.DropID != 0 {
			fmt.Fprintf(w, " drop %d %q", h.DropID, h.Drop)
		}
		if h.Line > 0 {
			fmt.Fprintf(w, " line %d", h.Line)
		}
		for _, f := range slices.Sorted(maps.Keys(h.Changes)) {
			fmt.Fprintf(w, " %s: %q -> %q", f, h.Changes[f][0], h.Changes[f][1])
		}
		if h.Reason != "" {
			fmt.Fprintf(w, " (%s)", h.Reason)
		}
		if h.By != "" {
			fmt.Fprintf(w, " by %s", h.By)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// recipientsEdit adds or removes a person by hand: a one-row delta drop of
// the manual source, through the same pipeline as any file.
func recipientsEdit(ctx context.Context, e *env, verb string, args []string) error {
	fs := newFlagSet(e, "recipients "+verb, "EMAIL")
	sf := addStoreFlags(fs, e)
	source := fs.String("source", "", "the manual source to record it in (default: the config's manual source, else manual)")
	// Only add takes the person's values: `remove -groups X` would read as
	// "out of group X" but remove the person from the source altogether.
	first, last, groups := new(string), new(string), new(string)
	if verb == "add" {
		first = fs.String("first", "", "first name")
		last = fs.String("last", "", "last name")
		groups = fs.String("groups", "", "groups, separated by ;")
	}
	priority := fs.Int("priority", 100, "priority of the manual source when it is created (a source in the config: only when given)")
	dry := fs.Bool("dry-run", false, "print the report; write nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("need one EMAIL")
	}
	email, k, err := schema.NormalizeEmail(fs.Arg(0))
	if err != nil {
		return usagef("%q is not an email address: %v", fs.Arg(0), err)
	}
	for _, v := range []struct {
		flag string
		val  *string
	}{{"first", first}, {"last", last}, {"groups", groups}} {
		if *v.val, err = schema.CleanValue(*v.val); err != nil {
			return usagef("-%s: %v", v.flag, err)
		}
	}
	name, err := manualSource(sf, *source)
	if err != nil {
		return err
	}
	in, cleanup, err := sf.ingesterForDrop(ctx, e, *dry)
	if err != nil {
		return err
	}
	defer cleanup()
	cfg := ingest.SourceConfig{Name: name, Kind: store.KindManual, Mode: store.ModeDelta, Priority: *priority}
	if conf := sf.source(name); conf != nil {
		if conf.Kind != string(store.KindManual) {
			// A person added by hand to a file or directory source would
			// be removed again by its next full drop.
			return schema.Errorf(schema.EInvalid, "source %s/%s is of kind %s in %s, not manual: name a manual source with -source",
				conf.Org, conf.Name, conf.Kind, sf.cfg.path)
		}
		cfg = sf.cfg.sourceConfig(conf)
		if set(fs)["priority"] {
			cfg.Priority = *priority
		}
	} else if org, err := in.Store.LookupOrg(ctx, sf.org); err == nil {
		if src, err := in.Store.LookupSource(ctx, org.ID, name); err == nil {
			cfg = src.SourceConfig
		}
	}
	rec := schema.Record{Email: email, Key: k, FirstName: *first, LastName: *last}
	for _, g := range strings.Split(*groups, ";") {
		if g = strings.TrimSpace(g); g != "" {
			rec.Groups = append(rec.Groups, g)
		}
	}
	if verb == "remove" {
		rec.Action = schema.ActionRemove
	}
	rep, err := in.Ingest(ctx, ingest.Drop{Org: sf.org, Source: cfg, Kind: store.DropKindManual, Delta: true,
		Name: fmt.Sprintf("recipients %s %s", verb, email), Records: &schema.SliceStream{Records: []schema.Record{rec}}},
		ingest.Options{DryRun: *dry, By: cliUser(e)})
	if err != nil {
		return err
	}
	if err := printReport(e, sf, rep); err != nil {
		return err
	}
	if verb == "remove" && !sf.json && !*dry {
		if org, err := in.Store.LookupOrg(ctx, sf.org); err == nil {
			if r, err := in.Store.Recipient(ctx, org.ID, k); err == nil && r.Status == store.StatusActive {
				fmt.Fprintf(e.stdout, "note: %s is still in the audience: other sources list them (see recipients explain)\n", email)
			}
		}
	}
	return nil
}

func recipientsLift(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "recipients lift", "EMAIL")
	sf := addStoreFlags(fs, e)
	reason := fs.String("reason", "", "why (kept with the lift)")
	by := fs.String("by", cliUser(e), "who lifts it")
	source := fs.String("source", "", "lift only this authoritative source's offboarding (default: every one in force)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("need one EMAIL")
	}
	k, err := key(fs.Arg(0))
	if err != nil {
		return err
	}
	in, err := sf.ingester(ctx, e, false)
	if err != nil {
		return err
	}
	defer in.Store.Close()
	r, err := in.Lift(ctx, sf.org, k, *source, *reason, ingest.Options{By: *by})
	if err != nil {
		return err
	}
	if sf.json {
		return writeJSON(e.stdout, r)
	}
	fmt.Fprintf(e.stdout, "%s: offboarding lifted, now %s (until the source changes what it says)\n", r.Email, r.Status)
	return nil
}

// manualSource settles which source `recipients add|remove` record in, and
// its organisation: -source when given; else the config's one manual
// source (in -org, when given); else "manual".
func manualSource(sf *storeFlags, source string) (string, error) {
	if source != "" {
		return source, sf.setup(source)
	}
	if err := sf.readFile(sf.data); err != nil {
		return "", err
	}
	name := "manual"
	if sf.cfg != nil {
		var found []string
		for _, s := range sf.cfg.Sources {
			if s.Kind == string(store.KindManual) && (sf.org == "" || s.Org == sf.org) {
				found = append(found, s.Org+"/"+s.Name)
			}
		}
		switch len(found) {
		case 0:
		case 1:
			org, n, _ := strings.Cut(found[0], "/")
			name, sf.org = n, org
		default:
			return "", usagef("%s has several manual sources (%s): name one with -source (and -org)", sf.cfg.path, strings.Join(found, ", "))
		}
	}
	return name, sf.setup(name)
}
