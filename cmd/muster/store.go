package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// storeFlags are the flags every store command takes: -config and -org
// (configFlags), -data and -json.
type storeFlags struct {
	*configFlags
	data string
	json bool
}

// addStoreFlags registers -config, -org, -data and -json. The data
// directory is -data when given, else the config's data_dir, else
// $MUSTER_DATA, else ./muster-data, as for `muster serve`.
func addStoreFlags(fs *flag.FlagSet, e *env) *storeFlags {
	sf := &storeFlags{configFlags: addConfigFlags(fs, e)}
	sf.addData(fs)
	fs.BoolVar(&sf.json, "json", false, "print JSON for scripts")
	return sf
}

// addDataFlags registers only -config and -data, for a command that needs
// the data directory and nothing else.
func addDataFlags(fs *flag.FlagSet, e *env) *storeFlags {
	sf := &storeFlags{configFlags: addConfigFlag(fs, e)}
	sf.addData(fs)
	return sf
}

func (sf *storeFlags) addData(fs *flag.FlagSet) {
	fs.StringVar(&sf.data, "data", "", "data directory holding the store (muster.db) (default: the config's data_dir, else $MUSTER_DATA, else ./muster-data)")
}

// setup loads the config and settles the data directory and the
// organisation, for a command about the source named ("" for none). The
// first call decides; open calls it for commands that name no source.
func (sf *storeFlags) setup(source string) error {
	if sf.loaded {
		return nil
	}
	if err := sf.load(sf.data, source); err != nil {
		return err
	}
	switch {
	case sf.cfg != nil:
		sf.data = sf.cfg.DataDir
	case sf.data == "":
		sf.data = cmp.Or(sf.e.getenv("MUSTER_DATA"), defaultDataDir)
	}
	return nil
}

// open opens the store in the data directory. Read-only commands refuse to
// create one where there is none, so a mistyped -data says so.
func (sf *storeFlags) open(ctx context.Context, create bool) (*store.Store, error) {
	if err := sf.setup(""); err != nil {
		return nil, err
	}
	if sf.postgres() {
		return sf.cfg.openStore(ctx, sf.e, false)
	}
	path := filepath.Join(sf.data, store.FileName)
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, schema.Errorf(schema.ENotFound, "no store at %s (set -data, MUSTER_DATA or the config's data_dir)", path)
		}
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	// A store made before the current merge rules is derived again once.
	if _, err := ingest.New(st).Upgrade(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// postgres reports whether the config puts the store in PostgreSQL
// ([store] url_env or url_file).
func (sf *storeFlags) postgres() bool { return sf.cfg != nil && sf.cfg.Store.postgres() }

// ingester opens the store and returns an Ingester over it, with spills in
// the data directory and the test hook if asked for.
func (sf *storeFlags) ingester(ctx context.Context, e *env, create bool) (*ingest.Ingester, error) {
	st, err := sf.open(ctx, create)
	if err != nil {
		return nil, err
	}
	in := ingest.New(st)
	in.TempDir = sf.data
	in.Hook = crashHook(e)
	return in, nil
}

// ingesterForDrop is ingester for a command that runs a drop. A dry run
// where no store exists yet diffs against an empty throwaway store, so it
// still writes nothing in the data directory.
func (sf *storeFlags) ingesterForDrop(ctx context.Context, e *env, dry bool) (*ingest.Ingester, func(), error) {
	if err := sf.setup(""); err != nil {
		return nil, nil, err
	}
	if dry && !sf.postgres() {
		if _, err := os.Stat(filepath.Join(sf.data, store.FileName)); err != nil {
			tmp, err := os.MkdirTemp("", "muster-dry-run-*")
			if err != nil {
				return nil, nil, err
			}
			scratch := &storeFlags{configFlags: sf.configFlags, data: tmp, json: sf.json}
			in, err := scratch.ingester(ctx, e, true)
			if err != nil {
				os.RemoveAll(tmp)
				return nil, nil, err
			}
			return in, func() { in.Store.Close(); os.RemoveAll(tmp) }, nil
		}
	}
	in, err := sf.ingester(ctx, e, !dry)
	if err != nil {
		return nil, nil, err
	}
	return in, func() { in.Store.Close() }, nil
}

// crashHook returns a hook for MUSTER_TEST_CRASH_AT=POINT: at that point of
// an apply the process says so on stderr and waits to be killed, so crash
// tests kill it exactly there.
func crashHook(e *env) func(string) {
	at := e.getenv("MUSTER_TEST_CRASH_AT")
	if at == "" {
		return nil
	}
	return func(point string) {
		if point == at {
			fmt.Fprintf(e.stderr, "MUSTER_TEST_CRASH_AT %s\n", point)
			time.Sleep(time.Hour)
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// reportExit turns a drop's decision into the exit status (README).
func reportExit(rep *ingest.Report) error {
	if rep.DryRun {
		return nil
	}
	switch rep.Decision {
	case ingest.Held:
		return exitStatus(exitHeld)
	case ingest.Rejected:
		return exitStatus(exitRejected)
	}
	return nil
}

// printReport prints a report as text or JSON and returns the exit status.
func printReport(e *env, sf *storeFlags, rep *ingest.Report) error {
	var err error
	if sf.json {
		err = writeJSON(e.stdout, rep)
	} else {
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	return reportExit(rep)
}

// sourceFlags are a source's settings on the command line, for sources
// not configured yet.
type sourceFlags struct {
	fs            *flag.FlagSet
	kind, mode    string
	priority      int
	authoritative bool
	maxRemovePct  float64
	maxRemove     int
	maxInvalidPct float64
	attrs         string
}

func addSourceFlags(fs *flag.FlagSet) *sourceFlags {
	s := &sourceFlags{fs: fs}
	fs.StringVar(&s.kind, "kind", "csv", "source kind: csv, folder, sftp, workos, manual")
	fs.StringVar(&s.mode, "mode", "full", "full (who is missing is removed) or delta (explicit upserts and removals)")
	fs.IntVar(&s.priority, "priority", 0, "attribute precedence: the higher wins")
	fs.BoolVar(&s.authoritative, "authoritative", false, "people it marks inactive or deletes are offboarded")
	fs.Float64Var(&s.maxRemovePct, "max-remove-percent", store.DefaultMaxRemovePercent, "hold a full drop removing more than this share of people (negative: never)")
	fs.IntVar(&s.maxRemove, "max-remove", store.DefaultMaxRemoveCount, "hold a full drop removing more than this many people (negative: never)")
	fs.Float64Var(&s.maxInvalidPct, "max-invalid-percent", store.DefaultMaxInvalidPercent, "reject a drop with more invalid rows than this share (negative: never)")
	fs.StringVar(&s.attrs, "attrs", "", "optional attributes to keep, comma-separated (e.g. job_title,department_name)")
	return s
}

// config returns the source's settings, with the flags given on this
// command line on top: for a source in the config, its settings there
// (as the daemon reads them); else those stored for a known source;
// defaults for a new one.
func (s *sourceFlags) config(ctx context.Context, st *store.Store, sf *storeFlags, name string) (ingest.SourceConfig, error) {
	cfg := ingest.SourceConfig{Name: name}
	if conf := sf.source(name); conf != nil {
		cfg = sf.cfg.sourceConfig(conf)
	} else if org, err := st.LookupOrg(ctx, sf.org); err == nil {
		if src, err := st.LookupSource(ctx, org.ID, name); err == nil {
			cfg = src.SourceConfig
		}
	}
	given := set(s.fs)
	isNew := cfg.Kind == ""
	apply := func(flag string, fn func()) {
		if given[flag] || isNew {
			fn()
		}
	}
	apply("kind", func() { cfg.Kind = store.SourceKind(s.kind) })
	apply("mode", func() { cfg.Mode = store.Mode(s.mode) })
	apply("priority", func() { cfg.Priority = s.priority })
	apply("authoritative", func() {
		cfg.Authoritative = s.authoritative || (isNew && !given["authoritative"] && cfg.Kind == store.KindWorkOS)
	})
	apply("max-remove-percent", func() { cfg.MaxRemovePercent = s.maxRemovePct })
	apply("max-remove", func() { cfg.MaxRemoveCount = s.maxRemove })
	apply("max-invalid-percent", func() { cfg.MaxInvalidPercent = s.maxInvalidPct })
	var err error
	apply("attrs", func() { cfg.Attrs, err = parseAttrs(s.attrs) })
	if err != nil {
		return cfg, err
	}
	cfg = cfg.WithDefaults()
	return cfg, cfg.Validate()
}

func parseAttrs(s string) (schema.AttrSet, error) {
	var set schema.AttrSet
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		a, ok := schema.ParseAttr(name)
		if !ok {
			return 0, usagef("-attrs: unknown attribute %q", name)
		}
		set = set.With(a)
	}
	return set, nil
}

// key normalises an email given on the command line to its key.
func key(email string) (string, error) {
	_, k, err := schema.NormalizeEmail(email)
	if err != nil {
		return "", usagef("%q is not an email address: %v", email, err)
	}
	return k, nil
}
