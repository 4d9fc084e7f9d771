package main

import (
	"context"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"muster/cmd/muster/notify"
	"muster/schema"
	"muster/store"
)

// cmdNotify groups the notification commands: `muster notify log` (what
// was told to whom) and `muster notify test` (send a test event now).
func cmdNotify(ctx context.Context, e *env, args []string) error {
	const usage = "notify log|test [flags]"
	if len(args) == 0 || isHelp(args[0]) {
		return groupUsage(e, args, usage)
	}
	switch args[0] {
	case "log":
		return notifyLog(ctx, e, args[1:])
	case "test":
		return notifyTest(ctx, e, args[1:])
	}
	return usagef("unknown notify command %q: log or test", args[0])
}

func notifyLog(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "notify log", "")
	sf := addStoreFlags(fs, e)
	target := fs.String("target", "", "only this target's")
	status := fs.String("status", "", "only pending, delivered, failed or dropped")
	before := fs.Int64("before", 0, "cursor: notifications older than this id")
	limit := fs.Int("limit", 50, "at most this many")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("notify log takes no arguments")
	}
	f := store.NotificationFilter{Target: *target, Status: store.NotificationStatus(*status), Before: *before, Limit: *limit}
	switch f.Status {
	case "", store.NotifyPending, store.NotifyDelivered, store.NotifyFailed, store.NotifyDropped:
	default:
		return usagef("-status %q is not pending, delivered, failed or dropped", *status)
	}
	if err := checkLimit(*limit); err != nil {
		return err
	}
	orgGiven := set(fs)["org"]
	st, err := sf.open(ctx, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if orgGiven {
		f.Orgs = []string{sf.org}
	}
	list, next, err := st.Notifications(ctx, f)
	if err != nil {
		return err
	}
	if sf.json {
		return writeJSON(e.stdout, map[string]any{"notifications": nonNil(list), "next": next})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tTARGET\tEVENT\tSOURCE\tSTATUS\tTRIES\tWHAT")
	for _, n := range list {
		what := n.Summary
		if n.Status != store.NotifyDelivered && n.LastError != "" {
			what = n.LastError
		}
		src := n.Org
		if n.Source != "" {
			src += "/" + n.Source
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, localTime(n.CreatedAt), n.Target, n.Event, cmpOr(src, "-"),
			n.Status, n.Attempts, clipText(what, 100))
	}
	if next != 0 {
		fmt.Fprintf(tw, "(more: -before %d)\n", next)
	}
	return tw.Flush()
}

// notifyTest sends a test event to the config's targets (or the one named)
// now, one attempt each, and says what each answered: a way to check a
// target before it matters. It writes nothing in the log.
func notifyTest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "notify test", "")
	cf := addConfigFlag(fs, e)
	target := fs.String("target", "", "only this target (default: every [[notify]] target)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("notify test takes no arguments")
	}
	if cf.path == "" {
		return usagef("notify test needs the config naming the targets: -config FILE (or $MUSTER_CONFIG)")
	}
	if err := cf.readFile(""); err != nil {
		return err
	}
	var errs ConfigError
	targets := cf.cfg.prepareNotify(e, &errs)
	if err := errs.err(); err != nil {
		return configFileError(cf.path, err)
	}
	type result struct {
		Target string `json:"target"`
		Kind   string `json:"kind"`
		OK     bool   `json:"ok"`
		Error  string `json:"error,omitempty"`
	}
	var results []result
	failed := 0
	for _, t := range targets {
		if *target != "" && t.Name != *target {
			continue
		}
		ev := notify.NewEvent(notify.Test, "", "", fmt.Sprintf("A test from muster (%s): target %s works.", buildInfo().Short(), t.Name))
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := notify.Deliver(actx, &http.Client{Timeout: 30 * time.Second}, t, ev, "muster/"+buildInfo().Version)
		cancel()
		r := result{Target: t.Name, Kind: t.Kind, OK: err == nil}
		if err != nil {
			r.Error = err.Error()
			failed++
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		if *target != "" {
			return schema.Errorf(schema.ENotFound, "no [[notify]] target %q in %s", *target, cf.path)
		}
		return schema.Errorf(schema.ENotFound, "%s has no [[notify]] target", cf.path)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, map[string]any{"results": results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.OK {
				fmt.Fprintf(e.stdout, "%s (%s): delivered\n", r.Target, r.Kind)
			} else {
				fmt.Fprintf(e.stdout, "%s (%s): FAILED: %s\n", r.Target, r.Kind, r.Error)
			}
		}
	}
	if failed > 0 {
		return schema.Errorf(schema.EUnavailable, "%d of %d target(s) failed", failed, len(results))
	}
	return nil
}
