package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"muster/ingest"
	"muster/ingest/workos"
	"muster/store"
)

// sourcesSync is `muster sources sync NAME`: a full pull of a WorkOS
// directory source now, as the config describes it, through the pipeline
// into the store of the config's data directory (a running daemon may use
// it at the same time). It prints the drop's report with the pull's
// figures; the exit status is the drop's (held 3, rejected 4).
func sourcesSync(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "sources sync", "NAME")
	sf := addStoreFlags(fs, e)
	dry := fs.Bool("dry-run", false, "pull and print what would change; write nothing")
	// The name may come before or after the flags.
	var names []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		names, args = append(names, fs.Arg(0)), fs.Args()[1:]
	}
	if len(names) != 1 {
		return usagef("need one source NAME (a source of kind workos in the config)")
	}
	if sf.path == "" {
		return usagef("need -config (or MUSTER_CONFIG): the source and the WorkOS key are read from it")
	}
	if err := sf.setup(names[0]); err != nil {
		return err
	}
	c := sf.cfg
	if *dry && !c.Store.postgres() {
		if _, err := os.Stat(filepath.Join(c.DataDir, store.FileName)); err != nil {
			return fmt.Errorf("no store at %s yet: a dry run compares with it, run without -dry-run first", c.DataDir)
		}
	}
	in, err := sf.ingester(ctx, e, true)
	if err != nil {
		return err
	}
	defer in.Store.Close()
	eng, sync, err := c.directories(e, in, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer eng.Close()
	s, err := sync.Source(sf.org, names[0])
	if err != nil {
		return err
	}
	rep, stats, err := sync.Pull(ctx, s.Org(), s.Name(), cliUser(e), ingest.Options{DryRun: *dry, By: cliUser(e)})
	return printPull(e, sf.json, s.Org(), s.Name(), directoryID(c, s.Org(), s.Name()), rep, stats, err)
}

// printPull prints what `sources sync` did, as text or one JSON object,
// and returns the exit status: 1 for a pull that failed (before any drop,
// or part-way: interrupted), else the drop's.
func printPull(e *env, asJSON bool, org, name, dirID string, rep *ingest.Report, stats workos.PullStats, err error) error {
	key := org + "/" + name
	if asJSON {
		// Always one object: the report, or the failure when the pull
		// failed before anything was recorded.
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		var out any = struct {
			*ingest.Report
			Error string   `json:"error,omitempty"`
			Pull  pullJSON `json:"pull"`
		}{rep, msg, pullOf(stats)}
		if rep == nil {
			out = struct {
				Org      string   `json:"org"`
				Source   string   `json:"source"`
				Decision string   `json:"decision"`
				Error    string   `json:"error"`
				Pull     pullJSON `json:"pull"`
			}{org, name, "failed", msg, pullOf(stats)}
		}
		if werr := writeJSON(e.stdout, out); werr != nil {
			return werr
		}
	} else if rep != nil {
		if err := rep.WriteText(e.stdout); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "pull: directory %s, %d requests (%d retried), %d users (%d records, %d inactive, %d invalid), %d groups, %d membership pages\n",
			dirID, stats.Requests, stats.Retries, stats.Users, stats.Records, stats.Inactive, stats.Invalid,
			stats.Groups, stats.MembershipPages)
	}
	switch {
	case err != nil:
		return fmt.Errorf("pull of %s failed after %d requests (%d retried); nothing applied: %w", key, stats.Requests, stats.Retries, err)
	case rep.Interrupted:
		// Not a refused drop (exit 4): the pull itself failed.
		return fmt.Errorf("pull of %s interrupted; nothing of it applied (drop %d): %s", key, rep.DropID, rep.Reason)
	}
	return reportExit(rep)
}

// pullOf is a pull's figures as `sources sync -json` prints them.
func pullOf(st workos.PullStats) pullJSON {
	return pullJSON{Requests: st.Requests, Retries: st.Retries, Groups: st.Groups, MembershipPages: st.MembershipPages,
		Users: st.Users, Records: st.Records, Inactive: st.Inactive, Invalid: st.Invalid}
}

// pullJSON is workos.PullStats as `sources sync -json` prints it.
type pullJSON struct {
	Requests        int64 `json:"requests"`
	Retries         int64 `json:"retries"`
	Groups          int   `json:"groups"`
	MembershipPages int   `json:"membership_pages"`
	Users           int   `json:"users"`
	Records         int   `json:"records"`
	Inactive        int   `json:"inactive"`
	Invalid         int   `json:"invalid"`
}

// directoryID is the directory the config's source follows.
func directoryID(c *Config, org, name string) string {
	for _, s := range c.Sources {
		if s.Org == org && s.Name == name {
			return s.DirectoryID
		}
	}
	return ""
}
