package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"muster/schema"
	"muster/store"
)

// cmdStore is `muster store`: the store's schema and moving it.
func cmdStore(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, "store status|migrate [-config FILE] [-data DIR] | muster store copy -to postgres://... [-config FILE] [-data DIR]")
	}
	switch args[0] {
	case "status":
		return cmdStoreStatus(ctx, e, args[1:])
	case "migrate":
		return cmdStoreMigrate(ctx, e, args[1:])
	case "copy":
		return cmdStoreCopy(ctx, e, args[1:])
	}
	return usagef("unknown store command %q (status, migrate, copy)", args[0])
}

// openStoreAs opens the configured store (or the data directory's SQLite
// file) with o, without migrating it unless o says so.
func (sf *storeFlags) openStoreAs(ctx context.Context, o store.Options) (*store.Store, error) {
	if err := sf.setup(""); err != nil {
		return nil, err
	}
	target := filepath.Join(sf.data, store.FileName)
	if sf.cfg != nil {
		var err error
		if target, err = sf.cfg.storeTarget(sf.e); err != nil {
			return nil, err
		}
		if store.IsURL(target) {
			o.IndexDir = filepath.Join(sf.cfg.DataDir, "store-index")
		}
	}
	return store.OpenWith(ctx, target, o)
}

// cmdStoreStatus prints where the store is, its schema version against
// this muster's, and who leads the scheduled work.
func cmdStoreStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "store status", "")
	sf := addDataFlags(fs, e)
	fs.BoolVar(&sf.json, "json", false, "print JSON for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := sf.openStoreAs(ctx, store.Options{Inspect: true})
	if err != nil {
		return err
	}
	defer st.Close()
	schemaState, err := st.SchemaState(ctx)
	if err != nil {
		return err
	}
	lease, found, err := st.LeaseOf(ctx, "scheduler")
	if err != nil && schemaState.Current >= 5 {
		return err
	}
	out := struct {
		Backend string       `json:"backend"`
		Store   string       `json:"store"`
		Schema  int          `json:"schema_version"`
		Binary  int          `json:"binary_schema_version"`
		Leader  *store.Lease `json:"scheduler_lease,omitempty"`
	}{st.Backend(), st.String(), schemaState.Current, schemaState.Latest, nil}
	if found {
		out.Leader = &lease
	}
	if sf.json {
		return writeJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "store:   %s (%s)\n", out.Store, out.Backend)
	fmt.Fprintf(e.stdout, "schema:  version %d, this muster's %d%s\n", out.Schema, out.Binary, schemaAdvice(out.Schema, out.Binary))
	if found {
		state := "held"
		if lease.Age() > lease.Expires.Sub(lease.Renewed) {
			state = "lapsed: the next instance to look takes it"
		}
		fmt.Fprintf(e.stdout, "leader:  %s (term %d, held for %s, renewed %s ago, %s)\n", lease.Holder, lease.Term,
			lease.Seen.Sub(lease.Acquired).Round(time.Second), lease.Age().Round(time.Millisecond), state)
	} else if out.Backend == "sqlite" {
		fmt.Fprintln(e.stdout, "leader:  the one muster serve of this data directory (SQLite: no lease)")
	} else {
		fmt.Fprintln(e.stdout, "leader:  none yet (no muster serve has run on this store)")
	}
	return nil
}

func schemaAdvice(cur, latest int) string {
	switch {
	case cur < latest:
		return ": run `muster store migrate`"
	case cur > latest:
		return ": written by a newer muster; use that one"
	}
	return " (up to date)"
}

// cmdStoreMigrate brings the store's schema up to date, explicitly: on
// PostgreSQL the daemon never does (several instances share the database;
// one operator upgrades it once). A store written by a newer muster is
// refused untouched.
func cmdStoreMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "store migrate", "")
	sf := addDataFlags(fs, e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("store migrate takes no arguments")
	}
	st, err := sf.openStoreAs(ctx, store.Options{Inspect: true})
	if err != nil {
		return err
	}
	defer st.Close()
	state, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(state.Applied) == 0 {
		fmt.Fprintf(e.stdout, "store %s: schema version %d, up to date\n", st, state.Current)
		return nil
	}
	fmt.Fprintf(e.stdout, "store %s: schema version %d, applied %s\n", st, state.Current, strings.Join(state.Applied, ", "))
	return nil
}

// cmdStoreCopy copies the data directory's SQLite store, whole (history,
// held drops' diffs, events, cursors, ids), into a new PostgreSQL
// database, then compares the two table by table. Stop the daemon first:
// the copy holds the SQLite store's write lock while it reads.
func cmdStoreCopy(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "store copy", "")
	sf := addDataFlags(fs, e)
	to := fs.String("to", "", "the PostgreSQL database to copy into: postgres://user@host/db (a password may come from PGPASSWORD or ~/.pgpass instead of the URL)")
	toEnv := fs.String("to-env", "", "the environment variable holding that URL, instead of -to (keeps a password off the command line)")
	fs.BoolVar(&sf.json, "json", false, "print JSON for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("store copy takes no arguments")
	}
	if *toEnv != "" {
		*to = e.getenv(*toEnv)
	}
	if !store.IsURL(*to) {
		return usagef("store copy needs -to postgres://... (or -to-env VAR naming one)")
	}
	if err := sf.setup(""); err != nil {
		return err
	}
	if sf.postgres() {
		return schema.Errorf(schema.EInvalid, "the config's store is already PostgreSQL: copy reads a SQLite store (the data directory's muster.db, without [store] url_env)")
	}
	from, err := sf.open(ctx, false)
	if err != nil {
		return err
	}
	defer from.Close()
	dst, err := store.OpenWith(ctx, *to, store.Options{Migrate: true, IndexDir: filepath.Join(sf.data, "store-index")})
	if err != nil {
		return err
	}
	defer dst.Close()
	start := time.Now()
	fmt.Fprintf(e.stderr, "copying %s into %s\n", from, dst)
	tables, err := from.CopyTo(ctx, dst, func(t store.TableCopy) {
		fmt.Fprintf(e.stderr, "  %-18s %10d rows copied\n", t.Table, t.Rows)
	})
	if err != nil {
		return err
	}
	bad := store.CopyMismatches(tables)
	if sf.json {
		if err := writeJSON(e.stdout, map[string]any{"tables": tables, "match": len(bad) == 0,
			"seconds": time.Since(start).Seconds()}); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(e.stdout, "compared table by table (rows, and a digest of every value in key order):")
		for _, t := range tables {
			mark := "same"
			if !t.Match {
				mark = "DIFFERENT"
			}
			fmt.Fprintf(e.stdout, "  %-18s %10d rows  %s  %s  %s\n", t.Table, t.Rows, t.Source, t.Target, mark)
		}
	}
	if len(bad) > 0 {
		return schema.Errorf(schema.EInternal, "the copy differs from the SQLite store in %s", strings.Join(bad, ", "))
	}
	fmt.Fprintf(e.stdout, "done in %s: point [store] url_env (or url_file) at the new database and start muster\n",
		time.Since(start).Round(time.Millisecond))
	return nil
}
