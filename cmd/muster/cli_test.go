package main

import (
	"bytes"
	"context"
	"os"
	"os/user"
	"strings"
	"testing"
)

// CLI edges: drops reject needs a reason; decisions are recorded as
// cli:<OS user>; drops show -changes lists the changes once (not the
// report's sample too); table times are local, to the second.
func TestCLIDecisionsAndDropShow(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	full := MustWrite(t, files, "full.csv", "Email,First Name\na@example.com,A\nb@example.com,B\nc@example.com,C\nd@example.com,D\ne@example.com,E\n")
	one := MustWrite(t, files, "one.csv", "Email,First Name\na@example.com,A\n")
	if code, out, errs := MustRunIn(t, dir, "ingest", "-source", "hr", full); code != exitOK {
		t.Fatalf("ingest: %d %s %s", code, out, errs)
	}
	if code, _, _ := MustRunIn(t, dir, "ingest", "-source", "hr", one); code != exitHeld {
		t.Fatal("removing 4 of 5 was not held")
	}
	code, _, errs := MustRunIn(t, dir, "drops", "reject", "2")
	if code != exitUsage || !strings.Contains(errs, "-reason") {
		t.Fatalf("reject without a reason: exit %d %s", code, errs)
	}
	code, out, errs := MustRunIn(t, dir, "drops", "show", "-changes", "1")
	if code != exitOK || strings.Count(out, "b@example.com") != 1 || !strings.Contains(out, "changes (5):") {
		t.Fatalf("drops show -changes: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := MustRunIn(t, dir, "drops", "reject", "-reason", "truncated", "2"); code != exitOK {
		t.Fatalf("reject: %d %s %s", code, out, errs)
	}
	_, out, _ = MustRunIn(t, dir, "drops", "show", "2")
	u, err := user.Current()
	if err != nil {
		t.Skip("no OS user:", err)
	}
	if !strings.Contains(out, "by cli:"+u.Username) {
		t.Fatalf("the decision is not recorded as cli:%s:\n%s", u.Username, out)
	}
	_, out, _ = MustRunIn(t, dir, "drops", "list")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		// "2026-12-06 20:10:11": local time, to the second, no zone letters.
		if f := strings.Fields(l); len(f) < 5 || len(f[3]) != 10 || len(f[4]) != 8 || strings.Contains(l, "Z ") {
			t.Errorf("drops list time: %q", l)
		}
	}
}

// recipients list says how many people of other statuses the status
// filter left out.
func TestRecipientsListSaysWhatTheStatusFilterHides(t *testing.T) {
	dir := t.TempDir()
	if code, out, errs := MustRunIn(t, dir, "ingest", "-source", "hr", "../../samples/workday.csv"); code != exitOK {
		t.Fatalf("ingest: %d %s %s", code, out, errs)
	}
	_, out, _ := MustRunIn(t, dir, "recipients", "list")
	if !strings.HasSuffix(strings.TrimSpace(out), "(not listed, of another status than active: 1 inactive; -status all lists everyone)") {
		t.Fatalf("recipients list:\n%s", out)
	}
	_, out, _ = MustRunIn(t, dir, "recipients", "list", "-json")
	if !strings.Contains(out, `"hidden_by_status": {`) || !strings.Contains(out, `"inactive": 1`) {
		t.Fatalf("recipients list -json:\n%s", out)
	}
	_, out, _ = MustRunIn(t, dir, "recipients", "list", "-status", "all")
	if strings.Contains(out, "not listed") {
		t.Fatalf("-status all hides nothing:\n%s", out)
	}
}

// `check -` reads the file from standard input.
func TestCheckReadsStandardInput(t *testing.T) {
	b, err := os.ReadFile("../../samples/workday.csv")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	e := &env{stdin: bytes.NewReader(b), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	if code := run(context.Background(), e, []string{"check", "-"}); code != exitOK ||
		!strings.Contains(out.String(), "(standard input)") || !strings.Contains(out.String(), "18 valid") {
		t.Fatalf("check -: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// The progress line is cleared once, before the report is printed (the
// report no longer starts glued to it).
func TestProgressLineClearedOnce(t *testing.T) {
	var w bytes.Buffer
	p := &progress{w: &w, shown: true}
	p.done()
	p.done()
	var none *progress
	none.done() // no terminal: nothing to clear
	if w.String() != "\r\033[K" {
		t.Fatalf("cleared as %q", w.String())
	}
}
