package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"muster/cmd/muster/notify"
	"muster/ingest"
	"muster/ingest/directory"
	"muster/sftpserver"
)

// openNotifier starts the notifications: the targets of [[notify]] (none
// is fine: a reload may add some), told by the pipeline of held and
// rejected drops and of each source's runs, and by the directories of
// failed pulls and repaired drift. It opens right after the store, so no
// outcome is missed, and closes after the parts that tell it.
func (m *Main) openNotifier() error {
	c := m.Config
	n := notify.New(notify.Config{Targets: m.prep.notify, Store: m.Store, Logger: m.Logger,
		ServerEventsToAll: len(c.Orgs) == 0, UserAgent: "muster/" + buildInfo().Version, OnResult: m.Metrics.Notification,
		RetryMin: m.NotifyRetryMin, RetryMax: 30 * m.NotifyRetryMin, Retention: time.Duration(c.Retention.Archive)})
	if err := n.Open(); err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	m.Notifier = n
	m.start("notify", n.Close)
	return nil
}

// notifyOutcome turns a drop's outcome into events: held and rejected
// drops, and the runs of sources that are not directories (whose pulls
// are told by notifyRun, failures before any drop included).
func (m *Main) notifyOutcome(o ingest.Outcome) {
	if m.Notifier == nil || o.Op != ingest.OpIngest || o.Report == nil {
		return
	}
	rep := o.Report
	switch rep.Decision {
	case ingest.Held:
		m.Notifier.Notify(m.dropEvent(notify.DropHeld, rep, "held for a decision"))
	case ingest.Rejected:
		m.Notifier.Notify(m.dropEvent(notify.DropRejected, rep, "rejected"))
	}
	if m.isDirectory(rep.Org, rep.Source) {
		return
	}
	switch rep.Decision {
	case ingest.Rejected:
		m.Notifier.SourceRun(rep.Org, rep.Source, true, rep.Reason)
	case ingest.Applied, ingest.Duplicate:
		m.Notifier.SourceRun(rep.Org, rep.Source, false, "")
	}
}

// notifyRun tells the notifier how a directory's pull ended: failed (it
// could not be read, or its drop was rejected) or succeeded; a held pull
// waits for an admin and is neither.
func (m *Main) notifyRun(st directory.RunStatus) {
	if m.Notifier == nil {
		return
	}
	switch {
	case st.LastError != "" && (st.LastDecision == "" || st.LastDecision == string(ingest.Rejected)):
		m.Notifier.SourceRun(st.Org, st.Source, true, st.LastError)
	case st.LastDecision == string(ingest.Applied) || st.LastDecision == string(ingest.Duplicate):
		m.Notifier.SourceRun(st.Org, st.Source, false, "")
	}
}

// notifyDrift tells what a reconciliation repaired (counts only: the
// sample names people, which notifications never do).
func (m *Main) notifyDrift(rep ingest.RebuildReport) {
	if m.Notifier == nil {
		return
	}
	ev := notify.NewEvent(notify.DriftRepaired, rep.Org, "", fmt.Sprintf(
		"The reconciliation found %d of %d recipient(s) of %s not as their sources say, and repaired them (the log names them)",
		rep.Differed, rep.Checked, rep.Org))
	ev.Drift = &notify.Drift{Checked: rep.Checked, Repaired: rep.Differed}
	m.Notifier.Notify(ev)
}

// notifyBan tells of an SFTP ban: an account's ban from an address belongs
// to the account's organisation; an address's ban, to the whole server.
func (m *Main) notifyBan(b sftpserver.Ban) {
	if m.Notifier == nil {
		return
	}
	who := "address " + b.Address
	if b.Account != "" {
		who = fmt.Sprintf("account %s from %s", b.Account, b.Address)
	}
	ev := notify.NewEvent(notify.SFTPBanned, b.Org, "", fmt.Sprintf("SFTP logins of %s are refused until %s: %s (%d failures)",
		who, b.Until.Format(time.RFC3339), b.Reason, b.Failures))
	ev.Ban = &notify.Ban{Address: b.Address, Account: b.Account, Until: b.Until, Reason: b.Reason}
	m.Notifier.Notify(ev)
}

func (m *Main) isDirectory(org, source string) bool {
	for _, s := range m.conf().Sources {
		if s.Org == org && s.Name == source {
			return s.Kind == "workos"
		}
	}
	return false
}

// dropEvent describes a held or rejected drop: its counts and reason, the
// command that shows it, and its page in the console when the config
// says where that is (http.public_url).
func (m *Main) dropEvent(kind string, rep *ingest.Report, what string) notify.Event {
	c := m.conf()
	key := rep.Org + "/" + rep.Source
	summary := fmt.Sprintf("Drop %d of %s (%s) %s", rep.DropID, key, rep.Name, what)
	if rep.Reason != "" {
		summary += ": " + rep.Reason
	}
	ev := notify.NewEvent(kind, rep.Org, rep.Source, summary)
	k := rep.Counts
	cmd := []string{"muster drops show"}
	if c.path != "" {
		if abs, err := filepath.Abs(c.path); err == nil {
			cmd = append(cmd, "-config "+shellQuote(abs))
		}
	}
	if len(c.orgNames()) > 1 {
		cmd = append(cmd, "-org "+shellQuote(rep.Org))
	}
	ev.Drop = &notify.Drop{ID: rep.DropID, Name: rep.Name, Decision: string(rep.Decision), Reason: rep.Reason,
		Counts: map[string]int64{"rows": k.Rows, "added": k.Added, "updated": k.Updated, "removed": k.Removed,
			"unchanged": k.Unchanged, "invalid": k.Invalid, "suppressed": k.Suppressed},
		Command: strings.Join(append(cmd, "-changes", fmt.Sprint(rep.DropID)), " ")}
	if base := c.HTTP.PublicURL; base != "" {
		link := strings.TrimSuffix(base, "/") + fmt.Sprintf("/drops/%d", rep.DropID)
		if len(c.orgNames()) > 1 {
			link += "?org=" + url.QueryEscape(rep.Org)
		}
		ev.Drop.Link = link
	}
	return ev
}
