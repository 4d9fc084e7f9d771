package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheckSamples runs `muster check` on every sample: the realistic
// exports are accepted (exit 0) and every broken one is refused (exit 4)
// with its reason in the output, except the empty file, which the pipeline
// holds (exit 3) as it does a header-only one.
func TestCheckSamples(t *testing.T) {
	for _, dir := range []string{"../../samples", "../../samples/broken"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || e.Name() == ".gitattributes" || filepath.Ext(e.Name()) == ".toml" { // the sample config is not an export
				continue
			}
			path := filepath.Join(dir, e.Name())
			want := exitOK
			switch {
			case strings.HasSuffix(dir, "broken") && e.Name() == "empty.csv":
				want = exitHeld
			case strings.HasSuffix(dir, "broken"):
				want = exitRejected
			}
			code, stdout, stderr := MustRun(t, "check", path)
			if code != want {
				t.Errorf("check %s: exit %d, want %d\n%s%s", path, code, want, stdout, stderr)
			}
			if want == exitRejected && !strings.Contains(stdout, "REFUSED: ") {
				t.Errorf("check %s: no reason in\n%s", path, stdout)
			}
			if want == exitHeld && !strings.Contains(stdout, "HELD: ") {
				t.Errorf("check %s: not held\n%s", path, stdout)
			}
			if want == exitOK && !strings.Contains(stdout, "accepted: ") {
				t.Errorf("check %s: not accepted\n%s", path, stdout)
			}
		}
	}
}

// A file with no rows is held by the pipeline, empty or header-only alike,
// and check says so (exit 3); a delta with no rows changes nothing.
func TestCheckNoRowsIsHeldLikeIngest(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty.csv": "", "blank.csv": "\n\n", "header.csv": "Email,First Name\n"} {
		path := MustWrite(t, dir, name, content)
		code, out, errs := MustRun(t, "check", path)
		if code != exitHeld || !strings.Contains(out, "HELD: ") {
			t.Errorf("check %s: exit %d, want %d\n%s%s", name, code, exitHeld, out, errs)
		}
		code, out, _ = MustRun(t, "check", "-json", path)
		var res struct{ Held, Refused bool }
		mustJSON(t, out, &res)
		if code != exitHeld || !res.Held || res.Refused {
			t.Errorf("check -json %s: exit %d, %+v", name, code, res)
		}
		data := t.TempDir()
		if code, out, _ := MustRunIn(t, data, "ingest", "-source", "hr", path); code != exitHeld {
			t.Errorf("ingest %s: exit %d, want %d: check and ingest disagree\n%s", name, code, exitHeld, out)
		}
	}
	delta := MustWrite(t, dir, "delta.csv", "Email,Action\n")
	if code, out, _ := MustRun(t, "check", delta); code != exitOK || !strings.Contains(out, "accepted: 0") {
		t.Errorf("check of an empty delta: exit %d\n%s", code, out)
	}
}

func TestCheckText(t *testing.T) {
	code, stdout, _ := MustRun(t, "check", "-source", "hr-feed", "../../samples/semicolon-1252.csv")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	for _, want := range []string{
		"source      hr-feed (no config: built-in settings)",
		"encoding    windows-1252 (assumed",
		`delimiter   semicolon ';' (detected)`,
		"E-Mail         -> email",
		"Standort          (ignored: unknown column)",
		"rows        10 (10 valid, 0 invalid)",
		"encoding_assumed",
		"result      accepted: 10 records would be applied",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestCheckJSON(t *testing.T) {
	code, stdout, _ := MustRun(t, "check", "-json", "-records", "../../samples/delta.csv")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	var out struct {
		Path string `json:"path"`
		File struct {
			Encoding  string `json:"encoding"`
			Delimiter string `json:"delimiter"`
			Delta     bool   `json:"delta"`
			Rows      int    `json:"rows"`
			Columns   []struct {
				Name  string `json:"name"`
				Field string `json:"field"`
			} `json:"columns"`
			Ignored []string `json:"ignored"`
		} `json:"file"`
		Valid    int              `json:"valid"`
		Invalid  int              `json:"invalid"`
		Refused  bool             `json:"refused"`
		Problems []map[string]any `json:"problems"`
		Records  []struct {
			Line   int    `json:"line"`
			Email  string `json:"email"`
			Key    string `json:"key"`
			Action string `json:"action"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if out.Path != "../../samples/delta.csv" || out.File.Encoding != "utf-8" || out.File.Delimiter != "," ||
		!out.File.Delta || out.File.Rows != 8 || out.Valid != 8 || out.Refused || out.Problems == nil ||
		out.File.Ignored == nil || out.File.Columns[0].Field != "action" {
		t.Fatalf("%+v", out)
	}
	if len(out.Records) != 8 || out.Records[1].Key != "peter.gibbons@initech.example" || out.Records[3].Action != "remove" {
		t.Fatalf("records %+v", out.Records)
	}
	// Without -records the records are left out.
	_, stdout, _ = MustRun(t, "check", "-json", "../../samples/delta.csv")
	if strings.Contains(stdout, `"records"`) {
		t.Fatalf("records printed without -records:\n%s", stdout)
	}
}

func TestCheckJSONRefused(t *testing.T) {
	code, stdout, _ := MustRun(t, "check", "-json", "../../samples/broken/no-email-column.csv")
	var out struct {
		Refused bool `json:"refused"`
		Reasons []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	if code != exitRejected || !out.Refused || out.Reasons[0].Code != "no_email_column" ||
		!strings.Contains(out.Reasons[0].Message, `"Personal Phone"`) {
		t.Fatalf("exit %d: %+v", code, out)
	}
}

func TestCheckOptions(t *testing.T) {
	dir := t.TempDir()
	ambiguous := filepath.Join(dir, "ambiguous.csv")
	dates := filepath.Join(dir, "dates.csv")
	if err := os.WriteFile(ambiguous, []byte("Email;Name,Title\na@example.org;A,B\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dates, []byte("Email,Start Date\na@example.org,03/04/2024\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Ambiguous: refused, and the message points at the setting.
	code, stdout, _ := MustRun(t, "check", ambiguous)
	if code != exitRejected || !strings.Contains(stdout, "ambiguous_delimiter") || !strings.Contains(stdout, "Set the delimiter") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = MustRun(t, "check", "-delimiter", ";", ambiguous)
	if code != exitOK || !strings.Contains(stdout, "semicolon ';' (setting)") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	if code, stdout, _ := MustRun(t, "check", "-delimiter", "tab", ambiguous); code != exitRejected || !strings.Contains(stdout, "no_email_column") {
		t.Fatalf("tab delimiter: exit %d\n%s", code, stdout)
	}
	_, stdout, _ = MustRun(t, "check", "-records", dates)
	if !strings.Contains(stdout, `employment_start_date="2024-03-04"`) {
		t.Fatalf("month first:\n%s", stdout)
	}
	_, stdout, _ = MustRun(t, "check", "-records", "-day-first", dates)
	if !strings.Contains(stdout, `employment_start_date="2024-04-03"`) {
		t.Fatalf("day first:\n%s", stdout)
	}
}

func TestCheckUsage(t *testing.T) {
	if code, _, _ := MustRun(t, "check"); code != exitUsage {
		t.Errorf("no file: exit %d", code)
	}
	if code, _, _ := MustRun(t, "check", "a.csv", "b.csv"); code != exitUsage {
		t.Errorf("two files: exit %d", code)
	}
	if code, _, stderr := MustRun(t, "check", "-delimiter", ";;", "x.csv"); code != exitUsage || !strings.Contains(stderr, "-delimiter") {
		t.Errorf("bad delimiter: exit %d %s", code, stderr)
	}
	code, _, stderr := MustRun(t, "check", filepath.Join(t.TempDir(), "missing.csv"))
	if code != exitError || !strings.Contains(stderr, "missing.csv") {
		t.Errorf("missing file: exit %d %s", code, stderr)
	}
}

// TestReadmeCheckCommands runs every `./muster check FILE` command of
// README.md in-process (quick; TestREADME in e2e runs the whole README with
// the built binary): each must exit as the README says (0 unless the line
// says the file is refused).
func TestReadmeCheckCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?m)^(?:\\$ )?\\./muster (check [^#<`\\n]*?)\\s*(#.*)?$")
	matches := re.FindAllStringSubmatch(string(readme), -1)
	if len(matches) == 0 {
		t.Fatal("README.md has no `./muster check` command")
	}
	for _, m := range matches {
		args := strings.Fields(m[1])
		for i, a := range args {
			if len(a) >= 2 && (a[0] == '\'' || a[0] == '"') && a[len(a)-1] == a[0] {
				a = a[1 : len(a)-1] // the shell's quotes
			}
			if strings.HasPrefix(a, "samples/") {
				a = "../../" + a
			}
			args[i] = a
		}
		want := exitOK
		if strings.Contains(m[2], "refused") || strings.Contains(m[2], "exit 4") {
			want = exitRejected
		}
		if code, stdout, stderr := MustRun(t, args...); code != want {
			t.Errorf("README: %s: exit %d, want %d\n%s%s", m[0], code, want, stdout, stderr)
		}
	}
}
