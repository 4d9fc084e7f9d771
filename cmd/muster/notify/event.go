// Package notify tells people when muster needs one: a drop held for a
// decision, a drop rejected, a source failing and recovered, drift repaired
// by the reconciliation, an SFTP address banned. It delivers events to the
// configured targets (a signed JSON webhook, a Slack incoming webhook, mail
// over SMTP with STARTTLS), retrying with backoff on a goroutine of its own,
// so the pipeline never waits for a receiver. Every delivery is recorded in
// the store's notifications log.
//
// It is the only package that speaks to these outside receivers (HTTP
// webhooks and SMTP).
package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Kinds of events, as targets name them in their events list.
const (
	DropHeld        = "drop.held"
	DropRejected    = "drop.rejected"
	SourceFailing   = "source.failing"
	SourceRecovered = "source.recovered"
	DriftRepaired   = "reconcile.repaired"
	SFTPBanned      = "sftp.banned"
	// Test is sent by `muster notify test`, to whatever a target wants.
	Test = "test"
)

// Kinds lists every kind a target may ask for.
var Kinds = []string{DropHeld, DropRejected, SourceFailing, SourceRecovered, DriftRepaired, SFTPBanned}

// Event is one thing to tell. Its JSON is what a webhook receives.
type Event struct {
	// ID is unique per event (evt_ and 24 hex digits): a receiver told
	// twice (a retry after a lost answer) can tell.
	ID   string    `json:"id"`
	Kind string    `json:"event"`
	Time time.Time `json:"created_at"`
	// Org is the organisation it concerns; "" for the whole server (an
	// SFTP address banned).
	Org    string `json:"org,omitempty"`
	Source string `json:"source,omitempty"`
	// Summary is one line saying what happened, for people.
	Summary string   `json:"summary"`
	Drop    *Drop    `json:"drop,omitempty"`
	Failing *Failing `json:"failing,omitempty"`
	Drift   *Drift   `json:"drift,omitempty"`
	Ban     *Ban     `json:"ban,omitempty"`
}

// Drop is a held or rejected drop.
type Drop struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	// Counts are the report's: rows, added, updated, removed, unchanged,
	// invalid, suppressed.
	Counts map[string]int64 `json:"counts"`
	// Command shows the drop, to decide it: muster drops show ...
	Command string `json:"command"`
	// Link is the drop in the web console, when its address is configured.
	Link string `json:"link,omitempty"`
}

// Failing is a source's run of failures: its consecutive failed runs
// (before it recovered, for source.recovered) and the last error.
type Failing struct {
	Failures  int       `json:"failures"`
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
}

// Drift is what a reconciliation found and repaired in an organisation.
type Drift struct {
	Checked  int64    `json:"checked"`
	Repaired int64    `json:"repaired"`
	Sample   []string `json:"sample,omitempty"`
}

// Ban is an SFTP ban for failed logins: of an account from an address, or
// of an address altogether (no account).
type Ban struct {
	Address string    `json:"address"`
	Account string    `json:"account,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Until   time.Time `json:"until,omitempty"`
}

// NewEvent returns an event of kind with a fresh id, now.
func NewEvent(kind, org, source, summary string) Event {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return Event{ID: "evt_" + hex.EncodeToString(b), Kind: kind, Time: time.Now().UTC(), Org: org, Source: source, Summary: summary}
}

// Title is a short line for a mail subject or a chat message's first line.
func (ev Event) Title() string {
	where := ev.Org
	if ev.Source != "" {
		where += "/" + ev.Source
	}
	t := map[string]string{DropHeld: "Drop held for a decision", DropRejected: "Drop rejected", SourceFailing: "Source failing",
		SourceRecovered: "Source recovered", DriftRepaired: "Reconciliation repaired drift", SFTPBanned: "SFTP address banned",
		Test: "Test notification"}[ev.Kind]
	if t == "" {
		t = ev.Kind
	}
	if where != "" {
		t += ": " + where
	}
	return t
}

// Text is the event for people: its summary, then its details, one per
// line (a mail body, a Slack message).
func (ev Event) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", ev.Summary)
	if d := ev.Drop; d != nil {
		fmt.Fprintf(&b, "\ndrop %d %q: %s", d.ID, d.Name, d.Decision)
		if d.Reason != "" {
			fmt.Fprintf(&b, " (%s)", d.Reason)
		}
		fmt.Fprintf(&b, "\n")
		var parts []string
		for _, k := range []string{"rows", "added", "updated", "removed", "unchanged", "invalid", "suppressed"} {
			parts = append(parts, fmt.Sprintf("%s %d", k, d.Counts[k]))
		}
		fmt.Fprintf(&b, "%s\n", strings.Join(parts, ", "))
		if d.Link != "" {
			fmt.Fprintf(&b, "review it: %s\n", d.Link)
		}
		fmt.Fprintf(&b, "or: %s\n", d.Command)
	}
	if f := ev.Failing; f != nil {
		fmt.Fprintf(&b, "\n%d failed run(s) in a row since %s", f.Failures, f.Since.Format(time.RFC3339))
		if f.LastError != "" {
			fmt.Fprintf(&b, "; last error: %s", f.LastError)
		}
		fmt.Fprintf(&b, "\n")
	}
	if d := ev.Drift; d != nil {
		fmt.Fprintf(&b, "\n%d recipient(s) checked, %d repaired\n", d.Checked, d.Repaired)
		for _, s := range d.Sample {
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	if bn := ev.Ban; bn != nil {
		fmt.Fprintf(&b, "\naddress %s", bn.Address)
		if bn.Account != "" {
			fmt.Fprintf(&b, ", account %s", bn.Account)
		}
		if !bn.Until.IsZero() {
			fmt.Fprintf(&b, " banned until %s", bn.Until.Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "\n")
	}
	fmt.Fprintf(&b, "\n(muster event %s at %s)\n", ev.ID, ev.Time.Format(time.RFC3339))
	return b.String()
}
