package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MustRunIn runs a command line in-process against the data directory dir.
func MustRunIn(t testing.TB, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "MUSTER_DATA" {
			return dir
		}
		return ""
	}}
	code := run(context.Background(), e, args)
	return code, out.String(), errb.String()
}

// MustWrite writes a file in dir and returns its path.
func MustWrite(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustJSON(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}

const hrDay0 = `Employee ID,First Name,Last Name,Email,Status,Groups
E1,Ann,Lee,ann@example.com,Active,Sales
E2,Bob,Ng,bob@example.com,Active,Sales;Ops
E3,Cy,Oh,cy@example.com,Active,Ops
E4,Di,Po,di@example.com,Active,Ops
E5,Ed,Qu,ed@example.com,Active,Ops
`

func TestCLIIngestExitCodesAndReports(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	day0 := MustWrite(t, files, "day0.csv", hrDay0)
	code, out, errs := MustRunIn(t, dir, "ingest", "-source", "hr", "-json", day0)
	if code != exitOK {
		t.Fatalf("ingest: exit %d, %s %s", code, out, errs)
	}
	var rep struct {
		DropID   int64  `json:"drop_id"`
		Decision string `json:"decision"`
		Counts   struct{ Rows, Added int64 }
	}
	mustJSON(t, out, &rep)
	if rep.Decision != "applied" || rep.Counts.Added != 5 {
		t.Fatalf("report = %+v", rep)
	}
	// Same file again: a duplicate, exit 0.
	if code, out, _ := MustRunIn(t, dir, "ingest", "-source", "hr", day0); code != exitOK || !strings.Contains(out, "duplicate") {
		t.Fatalf("duplicate: exit %d, %s", code, out)
	}
	// Header only: held, exit 3; nothing removed.
	empty := MustWrite(t, files, "empty.csv", "Employee ID,First Name,Last Name,Email,Status,Groups\n")
	code, out, _ = MustRunIn(t, dir, "ingest", "-source", "hr", "-json", empty)
	if code != exitHeld {
		t.Fatalf("header-only file: exit %d, want %d\n%s", code, exitHeld, out)
	}
	var held struct {
		DropID int64 `json:"drop_id"`
	}
	mustJSON(t, out, &held)
	// Too many invalid rows: rejected, exit 4.
	bad := MustWrite(t, files, "bad.csv", strings.Replace(hrDay0, "ann@example.com", "not-an-email", 1))
	if code, out, _ := MustRunIn(t, dir, "ingest", "-source", "hr", bad); code != exitRejected {
		t.Fatalf("bad file: exit %d, want %d\n%s", code, exitRejected, out)
	}
	// A file that cannot be decoded at all is a rejected drop too.
	bin := MustWrite(t, files, "bin.csv", "\x00\x01\x02\x03binary")
	if code, out, _ := MustRunIn(t, dir, "ingest", "-source", "hr", bin); code != exitRejected {
		t.Fatalf("binary file: exit %d\n%s", code, out)
	}
	// The held drop is listed, shown, and rejected by an admin.
	code, out, _ = MustRunIn(t, dir, "drops", "list", "-status", "held", "-json")
	var list struct {
		Drops []struct{ ID int64 } `json:"drops"`
	}
	mustJSON(t, out, &list)
	if code != exitOK || len(list.Drops) != 1 || list.Drops[0].ID != held.DropID {
		t.Fatalf("held drops: %s", out)
	}
	if code, out, errs := MustRunIn(t, dir, "drops", "reject", "-reason", "bad export", itoa(held.DropID)); code != exitOK {
		t.Fatalf("reject: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := MustRunIn(t, dir, "drops", "approve", itoa(held.DropID)); code != exitError || !strings.Contains(errs, "not held") {
		t.Fatalf("approving a rejected drop: exit %d %s", code, errs)
	}
	if code, out, _ := MustRunIn(t, dir, "recipients", "list", "-group", "Ops", "-json"); code != exitOK || strings.Count(out, `"key"`) != 4 {
		t.Fatalf("Ops members: %s", out)
	}
	// A mistyped command line is exit 2.
	if code, _, _ := MustRunIn(t, dir, "ingest", day0); code != exitUsage {
		t.Fatalf("missing -source: exit %d", code)
	}
}

// Flags may follow the arguments, as the README writes `muster drops
// reject ID -reason ...`; after "--" everything is an argument.
func TestCLIFlagsAfterArguments(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	day0 := MustWrite(t, files, "day0.csv", hrDay0)
	if code, out, errs := MustRunIn(t, dir, "ingest", "-source", "hr", day0, "-json"); code != exitOK || !strings.HasPrefix(out, "{") {
		t.Fatalf("ingest FILE -json: exit %d %s %s", code, out, errs)
	}
	empty := MustWrite(t, files, "empty.csv", "Employee ID,First Name,Last Name,Email,Status,Groups\n")
	code, out, _ := MustRunIn(t, dir, "ingest", "-source", "hr", "-json", empty)
	var held struct {
		DropID int64 `json:"drop_id"`
	}
	mustJSON(t, out, &held)
	if code != exitHeld {
		t.Fatalf("header-only: exit %d", code)
	}
	if code, out, errs := MustRunIn(t, dir, "drops", "reject", itoa(held.DropID), "-reason", "truncated export"); code != exitOK || !strings.Contains(out, "truncated export") {
		t.Fatalf("drops reject ID -reason: exit %d %s %s", code, out, errs)
	}
	if code, out, errs := MustRunIn(t, dir, "recipients", "explain", "ann@example.com", "-json"); code != exitOK || !strings.HasPrefix(out, "{") {
		t.Fatalf("recipients explain EMAIL -json: exit %d %s %s", code, out, errs)
	}
	if code, _, errs := MustRunIn(t, dir, "recipients", "explain", "--", "-json"); code == exitOK || !strings.Contains(errs, `"-json" is not an email address`) {
		t.Fatalf("after --, -json is an argument: exit %d %s", code, errs)
	}
}

// The same file read with other settings is not a duplicate: what it says
// depends on them (a day-first date, a column mapping).
func TestCLISameFileWithOtherSettingsIsNotADuplicate(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	f := MustWrite(t, files, "hr.csv", "Email,First Name,Last Name,Hire Date\na@example.com,A,A,03/04/2024\n")
	ingest := func(extra ...string) string {
		args := append([]string{"ingest", "-source", "hr", "-attrs", "employment_start_date"}, extra...)
		code, out, errs := MustRunIn(t, dir, append(args, f)...)
		if code != exitOK {
			t.Fatalf("ingest %v: exit %d %s %s", extra, code, out, errs)
		}
		return out
	}
	ingest()
	if out := ingest("-day-first"); strings.Contains(out, "duplicate") {
		t.Fatalf("read day first, the same file was a duplicate:\n%s", out)
	}
	_, out, _ := MustRunIn(t, dir, "recipients", "explain", "a@example.com")
	if !strings.Contains(out, "employment_start_date: 2024-04-03") {
		t.Fatalf("hire date not read day first:\n%s", out)
	}
	if out := ingest("-day-first"); !strings.Contains(out, "duplicate") {
		t.Fatalf("same file, same settings: not a duplicate:\n%s", out)
	}
}

func TestCLIDryRunWritesNothing(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	day0 := MustWrite(t, files, "day0.csv", hrDay0)
	code, out, _ := MustRunIn(t, dir, "ingest", "-source", "hr", "-dry-run", day0)
	if code != exitOK || !strings.Contains(out, "would be applied") {
		t.Fatalf("dry run: exit %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "muster.db")); err == nil {
		t.Fatal("a dry run created the store")
	}
}

func TestCLIExportNeutralisesFormulas(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	f := MustWrite(t, files, "x.csv", "Email,First Name,Last Name,Groups\nevil@example.com,=HYPERLINK(\"http://x\"),+1,Team\nok@example.com,Ok,Fine,Team\n")
	if code, out, errs := MustRunIn(t, dir, "ingest", "-source", "hr", f); code != exitOK {
		t.Fatalf("ingest: %d %s %s", code, out, errs)
	}
	code, out, errs := MustRunIn(t, dir, "export", "-group", "Team")
	if code != exitOK {
		t.Fatalf("export: %d %s", code, errs)
	}
	if !strings.Contains(out, `'=HYPERLINK(""http://x"")`) || !strings.Contains(out, ",'+1") || !strings.Contains(out, "ok@example.com,Ok,Fine") {
		t.Fatalf("export did not neutralise formulas:\n%s", out)
	}
	code, out, _ = MustRunIn(t, dir, "export", "-group", "Team", "-format", "json")
	if code != exitOK || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"first_name":"=HYPERLINK`) {
		t.Fatalf("json export:\n%s", out)
	}
}

// Values added by hand are not trimmed like a file's: a formula behind
// leading spaces or a line break is neutralised too.
func TestCLIExportNeutralisesFormulasBehindWhitespace(t *testing.T) {
	dir := t.TempDir()
	hostile := []string{" =HYPERLINK(\"http://x\")", "\n+1", "\u00a0@SUM(A1)", " \t-2", "\n=1", ";=1+1", ",=2", " ;x"}
	for i, v := range hostile {
		email := fmt.Sprintf("p%d@example.com", i)
		if code, out, errs := MustRunIn(t, dir, "recipients", "add", "-first", v, "-last", v, "-groups", "Team", email); code != exitOK {
			t.Fatalf("add %q: %d %s %s", v, code, out, errs)
		}
	}
	code, out, errs := MustRunIn(t, dir, "export", "-group", "Team")
	if code != exitOK {
		t.Fatalf("export: %d %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != len(hostile)+1 {
		t.Fatalf("export: %v\n%s", err, out)
	}
	for _, row := range rows[1:] {
		for _, cell := range row[1:] {
			if !strings.HasPrefix(cell, "'") {
				t.Errorf("cell %q is not neutralised", cell)
			}
		}
	}
}

// explain prints attributes, winning fields and changed fields in name
// order, the same every time.
func TestCLIExplainOrderIsStable(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	csv0 := "Email,First Name,Last Name,Job Title,Department,City\nx@example.com,X,Y,Dev,Eng,Oslo\n"
	csv1 := "Email,First Name,Last Name,Job Title,Department,City\nx@example.com,Xa,Ya,Ops,Sales,Rome\n"
	for i, c := range []string{csv0, csv1} {
		f := MustWrite(t, files, fmt.Sprintf("d%d.csv", i), c)
		if code, out, errs := MustRunIn(t, dir, "ingest", "-source", "hr", "-attrs", "job_title,department_name,city", f); code != exitOK {
			t.Fatalf("ingest: %d %s %s", code, out, errs)
		}
	}
	_, first, _ := MustRunIn(t, dir, "recipients", "explain", "x@example.com")
	for _, want := range []string{"  city: Rome\n  department_name: Sales\n  job_title: Ops\n",
		"wins: city, department_name, email, first_name, job_title, last_name\n",
		` city: "Oslo" -> "Rome" department_name: "Eng" -> "Sales" first_name: "X" -> "Xa" job_title: "Dev" -> "Ops" last_name: "Y" -> "Ya"`} {
		if !strings.Contains(first, want) {
			t.Fatalf("explain lacks %q:\n%s", want, first)
		}
	}
	for range 10 {
		if _, out, _ := MustRunIn(t, dir, "recipients", "explain", "x@example.com"); out != first {
			t.Fatalf("explain changed between runs:\n%s\n---\n%s", first, out)
		}
	}
}

func TestCLIRecipientsAddRemoveExplainRollback(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	day0 := MustWrite(t, files, "day0.csv", hrDay0)
	MustRunIn(t, dir, "ingest", "-source", "hr", day0)
	day1 := MustWrite(t, files, "day1.csv", strings.Replace(hrDay0, "Ann,Lee", "Anne,Lee", 1))
	if code, _, errs := MustRunIn(t, dir, "ingest", "-source", "hr", day1); code != exitOK {
		t.Fatal(errs)
	}
	code, out, errs := MustRunIn(t, dir, "recipients", "add", "-first", "Zed", "-groups", "VIP", "Zed@Example.com")
	if code != exitOK || !strings.Contains(out, "added 1") {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	code, out, _ = MustRunIn(t, dir, "recipients", "explain", "ann@example.com")
	if code != exitOK || !strings.Contains(out, `first_name: "Ann" -> "Anne"`) || !strings.Contains(out, `"day1.csv" line 2`) {
		t.Fatalf("explain:\n%s", out)
	}
	// Removing by hand a person a file lists: only the manual say goes.
	MustRunIn(t, dir, "recipients", "add", "ann@example.com")
	code, out, _ = MustRunIn(t, dir, "recipients", "remove", "ann@example.com")
	if code != exitOK || !strings.Contains(out, "still in the audience") {
		t.Fatalf("remove: %s", out)
	}
	if code, out, _ := MustRunIn(t, dir, "recipients", "remove", "zed@example.com"); code != exitOK || !strings.Contains(out, "removed 1") {
		t.Fatalf("remove zed: %s", out)
	}
	// Roll hr back to day0: Ann's first name returns.
	_, out, _ = MustRunIn(t, dir, "drops", "list", "-source", "hr", "-json")
	var list struct {
		Drops []struct{ ID int64 } `json:"drops"`
	}
	mustJSON(t, out, &list)
	first := list.Drops[len(list.Drops)-1].ID
	if code, out, errs := MustRunIn(t, dir, "sources", "rollback", "-to", itoa(first), "hr"); code != exitOK || !strings.Contains(out, "updated 1") {
		t.Fatalf("rollback: %d %s %s", code, out, errs)
	}
	if _, out, _ := MustRunIn(t, dir, "recipients", "show", "-json", "ann@example.com"); !strings.Contains(out, `"first_name": "Ann"`) {
		t.Fatalf("after rollback: %s", out)
	}
	if code, out, _ := MustRunIn(t, dir, "sources", "list"); code != exitOK || !strings.Contains(out, "manual") {
		t.Fatalf("sources: %s", out)
	}
	// Without -yes (and no terminal to ask on) nothing is removed.
	if code, _, errs := MustRunIn(t, dir, "sources", "remove", "hr"); code != exitUsage || !strings.Contains(errs, "of 5 people") ||
		!strings.Contains(errs, "-yes") {
		t.Fatalf("remove source without -yes: exit %d %s", code, errs)
	}
	// Withdrawing all 5 is over hr's guard: held, then approved.
	code, out, _ = MustRunIn(t, dir, "sources", "remove", "-yes", "-json", "hr")
	var held struct {
		DropID   int64  `json:"drop_id"`
		Decision string `json:"decision"`
	}
	mustJSON(t, out, &held)
	if code != exitHeld || held.Decision != "held" {
		t.Fatalf("remove source: exit %d %s", code, out)
	}
	if code, out, _ := MustRunIn(t, dir, "drops", "approve", itoa(held.DropID)); code != exitOK || !strings.Contains(out, "removed 5") {
		t.Fatalf("approve the removal: %s", out)
	}
	if code, out, _ := MustRunIn(t, dir, "recipients", "list", "-json", "-status", "gone"); code != exitOK || strings.Count(out, `"key"`) != 6 {
		t.Fatalf("after removing hr (and the manual entries) everyone is gone: %s", out)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestProgressSilentWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	e := &env{stderr: &buf}
	if p := newProgress(e, 100, nil); p != nil {
		t.Fatal("a progress line for a stderr that is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p := newProgress(&env{stderr: f}, 100, nil); p != nil {
		t.Fatal("a progress line for a stderr that is a plain file")
	}
}

func TestCLIRecipientsAddHoldsValuesToTheFileRules(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := MustRunIn(t, dir, "recipients", "add", "-first", "\u00a0 Zoë\u200b ", "-last", " Ng\t", "-groups", " VIP ; Staff ", "zoe@example.com")
	if code != exitOK || !strings.Contains(out, "added 1") {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	_, out, _ = MustRunIn(t, dir, "recipients", "show", "-json", "zoe@example.com")
	if !strings.Contains(out, `"first_name": "Zoë"`) || !strings.Contains(out, `"last_name": "Ng"`) {
		t.Fatalf("names not trimmed: %s", out)
	}
	for _, bad := range [][]string{
		{"-first", "Bell\x07", "bell@example.com"},
		{"-last", "a\nb", "nl@example.com"},
		{"-first", strings.Repeat("x", 1025), "long@example.com"},
	} {
		code, _, errs := MustRunIn(t, dir, append([]string{"recipients", "add"}, bad...)...)
		if code != exitUsage || !strings.Contains(errs, "-"+strings.TrimPrefix(bad[0], "-")+":") {
			t.Errorf("add %q: exit %d, %s", bad[0], code, errs)
		}
		if _, out, _ := MustRunIn(t, dir, "recipients", "show", bad[2]); strings.Contains(out, bad[2]) {
			t.Errorf("%s was stored: %s", bad[2], out)
		}
	}
}

// TestListFiltersRefuseWhatTheyCannotMean: a -status that is no status, or a
// -limit under 1, is a wrong command line (as the API answers 400), not an
// empty list or a silent default page that reads as "nothing there".
func TestListFiltersRefuseWhatTheyCannotMean(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	if code, out, errs := MustRunIn(t, dir, "ingest", "-source", "hr", MustWrite(t, files, "day0.csv", hrDay0)); code != exitOK {
		t.Fatalf("ingest: exit %d, %s %s", code, out, errs)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"drops", "list", "-status", "aplied"}, `-status "aplied" is not received, applied, held, rejected, duplicate or superseded`},
		{[]string{"recipients", "list", "-status", "activ"}, `-status "activ" is not active, offboarded, inactive, gone or all`},
		{[]string{"drops", "list", "-limit", "0"}, "-limit 0 must be at least 1"},
		{[]string{"recipients", "list", "-limit", "-1"}, "-limit -1 must be at least 1"},
	} {
		code, out, errs := MustRunIn(t, dir, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.args, code, out, errs, c.want)
		}
	}
	// The valid ones still work.
	for _, args := range [][]string{{"drops", "list", "-status", "applied", "-limit", "1"}, {"recipients", "list", "-status", "all", "-limit", "2"}} {
		if code, out, errs := MustRunIn(t, dir, args...); code != exitOK || !strings.Contains(out, "example.com") && !strings.Contains(out, "day0.csv") {
			t.Errorf("%v: exit %d, %s %s", args, code, out, errs)
		}
	}
}

// TestRecipientsRemoveTakesNoAddFlags: `recipients remove -groups Board X`
// reads as "take X out of Board" but would remove X from the manual source
// altogether; the add-only flags are not flags of remove.
func TestRecipientsRemoveTakesNoAddFlags(t *testing.T) {
	dir := t.TempDir()
	if code, out, errs := MustRunIn(t, dir, "recipients", "add", "-groups", "Board;Staff", "ada@example.com"); code != exitOK {
		t.Fatalf("add: exit %d, %s %s", code, out, errs)
	}
	for _, f := range []string{"-groups", "-first", "-last"} {
		code, _, errs := MustRunIn(t, dir, "recipients", "remove", f, "Board", "ada@example.com")
		if code != exitUsage || !strings.Contains(errs, "flag provided but not defined: "+f) {
			t.Errorf("remove %s: exit %d, stderr %q; want exit 2", f, code, errs)
		}
	}
	if _, out, _ := MustRunIn(t, dir, "recipients", "list"); !strings.Contains(out, "ada@example.com") {
		t.Fatalf("a refused remove removed ada:\n%s", out)
	}
	if _, _, errs := MustRunIn(t, dir, "recipients", "remove", "-h"); strings.Contains(errs, "-groups") {
		t.Errorf("remove -h lists -groups:\n%s", errs)
	}
}

// Searching names beyond ASCII ignores case and Unicode normal form, as a
// person typing the name expects (SQLite's own lower() and LIKE fold ASCII
// letters only).
func TestCLIRecipientsSearchFoldsUnicodeCase(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	f := MustWrite(t, files, "hr.csv", "Email,First Name,Last Name\nmesut@example.com,Mesut,Özil\nelise@example.com,Élise,Ångström\nbob@example.com,Bob,Ozil\n")
	if code, _, errs := MustRunIn(t, dir, "ingest", "-source", "hr", f); code != exitOK {
		t.Fatal(errs)
	}
	for search, want := range map[string][]string{
		"Özil":        {"mesut@example.com"},
		"özil":        {"mesut@example.com"},
		"ÖZIL":        {"mesut@example.com"},
		"O\u0308zil":  {"mesut@example.com"}, // typed with a combining diaeresis
		"élise ÅNGS":  {"elise@example.com"},
		"ozil":        {"bob@example.com"},
		"EXAMPLE.COM": {"bob@example.com", "elise@example.com", "mesut@example.com"},
	} {
		code, out, errs := MustRunIn(t, dir, "recipients", "list", "-search", search)
		if code != exitOK {
			t.Fatalf("search %q: %d %s", search, code, errs)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			got = append(got, strings.Fields(line)[0])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("search %q found %v, want %v", search, got, want)
		}
	}
}
