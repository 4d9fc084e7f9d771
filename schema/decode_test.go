package schema

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unsafe"
)

// codesOf lists a record's problem codes.
func codesOf(r Record) string {
	var cs []string
	for _, p := range r.Problems {
		cs = append(cs, string(p.Code))
	}
	return strings.Join(cs, ",")
}

func TestDecodeRows(t *testing.T) {
	const header = "Employee ID,Email,First Name,Last Name,Status,Groups,Hire Date,Manager Email\n"
	tests := []struct {
		name  string
		row   string
		codes string // the row's problem codes, in order
		valid bool
		check func(t *testing.T, r Record)
	}{
		{"a good row", "7,Jane.Doe@Example.org,Jane,Doe,Active,Sales;All Staff,3/4/2021,boss@example.org", "", true,
			func(t *testing.T, r Record) {
				want := Record{Line: 2, Email: "Jane.Doe@Example.org", Key: "jane.doe@example.org", FirstName: "Jane",
					LastName: "Doe", Groups: []string{"Sales", "All Staff"}, SourceID: "7"}
				want.Attrs[AttrEmploymentStartDate] = "2021-03-04"
				want.Attrs[AttrManagerEmail] = "boss@example.org"
				if got, _ := json.Marshal(r); string(got) != mustJSON(t, want) {
					t.Errorf("got  %s\nwant %s", got, mustJSON(t, want))
				}
			}},
		{"values are trimmed", "  7 , jane@example.org , Jane ,\u00a0Doe\u00a0, Active ,,,", "", true,
			func(t *testing.T, r Record) {
				if r.SourceID != "7" || r.Email != "jane@example.org" || r.FirstName != "Jane" || r.LastName != "Doe" {
					t.Errorf("%+v", r)
				}
			}},
		{"missing email", "7,,Jane,Doe,Active,,,", "missing_email", false, nil},
		{"invalid email", "7,jane.doe@,Jane,Doe,Active,,,", "invalid_email", false,
			func(t *testing.T, r Record) {
				if r.Key != "" || r.Problems[0].Column != "Email" || r.Problems[0].Line != 2 {
					t.Errorf("%+v", r)
				}
			}},
		{"unknown status keeps the key", "7,jane@example.org,Jane,Doe,Sabbatical?,,,", "unknown_status", false,
			func(t *testing.T, r Record) {
				if r.Key != "jane@example.org" || !strings.Contains(r.Problems[0].Message, `"Sabbatical?"`) {
					t.Errorf("%+v", r)
				}
			}},
		{"a bad date is dropped with a warning", "7,jane@example.org,Jane,Doe,Active,,31/12/2021,", "invalid_date", true,
			func(t *testing.T, r Record) {
				if r.Attrs[AttrEmploymentStartDate] != "" || r.Problems[0].Severity != SeverityWarning {
					t.Errorf("%+v", r)
				}
			}},
		{"a bad manager email is dropped with a warning", "7,jane@example.org,Jane,Doe,Active,,,the boss", "invalid_manager_email", true,
			func(t *testing.T, r Record) {
				if r.Attrs[AttrManagerEmail] != "" {
					t.Errorf("%+v", r)
				}
			}},
		{"too few values", "7,jane@example.org,Jane", "ragged_row", false,
			func(t *testing.T, r Record) {
				if r.Key != "jane@example.org" || !strings.Contains(r.Problems[0].Message, "3 values but the header has 8") {
					t.Errorf("%+v", r)
				}
			}},
		{"too many values", "7,jane@example.org,Doe, Jane,Active,,,,", "ragged_row", false, nil},
		{"extra empty cells are ragged too", "7,jane@example.org,Jane,Doe,Active,,,,", "ragged_row", false, nil},
		{"a quote escaped with a backslash splits a value", `7,jane@example.org,Jane,Doe,Active,"Sales \"EU\", UK",,`, "ragged_row,invalid_date", false,
			func(t *testing.T, r Record) {
				if m := r.Problems[0].Message; !strings.Contains(m, `"Groups"`) || !strings.Contains(m, `backslash`) {
					t.Errorf("%+v", r)
				}
			}},
		{"a space before an opening quote splits a value", `7,jane@example.org,Jane,Doe,Active, "Sales, EU",,`, "ragged_row,invalid_date", false,
			func(t *testing.T, r Record) {
				if m := r.Problems[0].Message; !strings.Contains(m, `"Groups"`) || !strings.Contains(m, `space before`) {
					t.Errorf("%+v", r)
				}
			}},
		{"text after a closing quote is kept with a warning", `7,jane@example.org,Jane,"O\"Brien\"",Active,,,`, "stray_quote", true,
			func(t *testing.T, r Record) {
				p := r.Problems[0]
				if r.LastName != `O\Brien\""` || p.Column != "Last Name" || p.Severity != SeverityWarning || p.Line != 2 {
					t.Errorf("%+v", r)
				}
			}},
		{"a quote inside an unquoted value is plain text", `7,jane@example.org,Jane "JJ",Doe,Active,,,`, "", true,
			func(t *testing.T, r Record) {
				if r.FirstName != `Jane "JJ"` {
					t.Errorf("%+v", r)
				}
			}},
		{"spaces after a closing quote are no stray quote", `7,jane@example.org,"Jane" ,Doe,Active,,,`, "", true, nil},
		{"control character", "7,jane@example.org,Ja\x07ne,Doe,Active,,,", "invalid_text", false, nil},
		{"value too long", "7,jane@example.org," + strings.Repeat("J", MaxValueLen+1) + ",Doe,Active,,,", "value_too_long", false,
			func(t *testing.T, r Record) {
				if r.Key != "jane@example.org" || r.FirstName != "" {
					t.Errorf("%+v", r)
				}
			}},
		{"a value too long once read as Windows-1252", "7,jane@example.org," + strings.Repeat("\xe9", MaxValueLen*2/3) + ",Doe,Active,,,", "value_too_long", false,
			func(t *testing.T, r Record) {
				if r.Key != "jane@example.org" || r.FirstName != "" {
					t.Errorf("%+v", r)
				}
			}},
		{"several problems", "7,x@y,Jane,Doe,Nope,,someday,", "invalid_email,unknown_status,invalid_date", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, _, err := decodeAll(t, []byte(header+tt.row+"\n"), DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("%d records", len(recs))
			}
			r := recs[0]
			if codesOf(r) != tt.codes || r.Valid() != tt.valid {
				t.Fatalf("codes %q valid %v, want %q valid %v: %v", codesOf(r), r.Valid(), tt.codes, tt.valid, r.Problems)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The first row of an address wins; each later one is invalid, names the
// first line, and keeps its key so the pipeline never removes the person
// because of it.
func TestDecodeDuplicates(t *testing.T) {
	in := "Email,First Name\njane@example.org,Jane\nbob@example.org,Bob\n\nJANE@example.org,Janet\n Jane <jane@EXAMPLE.org>,J\n"
	recs, info, err := decodeAll(t, []byte(in), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || info.Rows != 4 || info.Invalid != 2 {
		t.Fatalf("%d records, info %+v", len(recs), info)
	}
	if !recs[0].Valid() || !recs[1].Valid() {
		t.Fatalf("first rows invalid: %v %v", recs[0].Problems, recs[1].Problems)
	}
	for _, r := range recs[2:] {
		if r.Valid() || codesOf(r) != "duplicate_email" || r.Key != "jane@example.org" ||
			!strings.Contains(r.Problems[0].Message, "already on line 2") {
			t.Errorf("line %d: %+v", r.Line, r)
		}
	}
	if recs[2].Line != 5 || recs[3].Line != 6 {
		t.Fatalf("lines %d %d", recs[2].Line, recs[3].Line)
	}
}

// A BambooHR report may have "Employment Status" (Full-Time, Contractor,
// Terminated...) and no "Status" column: its rows are read, not refused.
func TestDecodeEmploymentStatus(t *testing.T) {
	in := "Employee #,Work Email,Employment Status\n1,a@x.org,Full-Time\n2,b@x.org,Contractor\n3,c@x.org,Terminated\n"
	recs, _, err := decodeAll(t, []byte(in), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{StatusActive, StatusActive, StatusInactive}
	for i, r := range recs {
		if !r.Valid() || r.Status != want[i] {
			t.Errorf("line %d: status %v valid %v, want %v: %v", r.Line, r.Status, r.Valid(), want[i], r.Problems)
		}
	}
}

// A "Terminated" flag beside a "Worker Status" column: both are read, and a
// person either marks as gone is inactive. A value the second column does
// not know is a warning; the first column alone then decides.
func TestDecodeTwoStatusColumns(t *testing.T) {
	in := "Email,Worker Status,Terminated\n" +
		"a@x.org,Active,No\n" +
		"b@x.org,Active,Yes\n" +
		"c@x.org,Terminated,No\n" +
		"d@x.org,Active,perhaps\n" +
		"e@x.org,Active,\n"
	recs, info, err := decodeAll(t, []byte(in), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Columns[2]; c.Field != FieldStatus {
		t.Fatalf("column Terminated: %+v", c)
	}
	want := []Status{StatusActive, StatusInactive, StatusInactive, StatusActive, StatusActive}
	if len(recs) != len(want) {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if !r.Valid() || r.Status != want[i] {
			t.Errorf("line %d: status %v valid %v, want %v: %v", r.Line, r.Status, r.Valid(), want[i], r.Problems)
		}
	}
	if p := recs[3].Problems; len(p) != 1 || p[0].Code != CodeUnknownStatus || p[0].Severity != SeverityWarning || p[0].Column != "Terminated" {
		t.Errorf("unknown flag: %+v", p)
	}
}

func TestDecodeFullName(t *testing.T) {
	recs, _, err := decodeAll(t, []byte("Name,Email\n\"Doe, Jane\",jane@example.org\nJohn Smith,john@example.org\n"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].FirstName != "Jane" || recs[0].LastName != "Doe" || recs[1].FirstName != "John" || recs[1].LastName != "Smith" {
		t.Fatalf("%+v", recs)
	}
}

func TestDecodeDayFirst(t *testing.T) {
	in := []byte("Email,Start Date\na@example.org,03/04/2024\n")
	us, _, _ := decodeAll(t, in, DecodeOptions{})
	eu, _, _ := decodeAll(t, in, DecodeOptions{DayFirst: true})
	if us[0].Attrs[AttrEmploymentStartDate] != "2024-03-04" || eu[0].Attrs[AttrEmploymentStartDate] != "2024-04-03" {
		t.Fatalf("%q %q", us[0].Attrs[AttrEmploymentStartDate], eu[0].Attrs[AttrEmploymentStartDate])
	}
}

func TestDecodeDelta(t *testing.T) {
	in := "Action,Email\nadd,a@example.org\nremove,b@example.org\nTerminate,c@example.org\npromote,d@example.org\n"
	recs, info, err := decodeAll(t, []byte(in), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !info.Delta {
		t.Fatal("not a delta")
	}
	want := []Action{ActionUpsert, ActionRemove, ActionRemove, ActionUpsert}
	for i, r := range recs {
		if r.Action != want[i] {
			t.Errorf("line %d: %v", r.Line, r.Action)
		}
	}
	if codesOf(recs[3]) != "unknown_action" || recs[3].Key != "d@example.org" {
		t.Fatalf("%+v", recs[3])
	}
	// A file without an action column is a full snapshot.
	_, info, _ = decodeAll(t, []byte("Email\na@example.org\n"), DecodeOptions{})
	if info.Delta {
		t.Fatal("snapshot read as a delta")
	}
}

// A file that breaks part-way (a quote never closed) stops with a
// FileError from Next: the pipeline must refuse it whole, not apply the
// rows before.
func TestDecodeBreaksPartWay(t *testing.T) {
	d, err := NewDecoder(strings.NewReader("Email,Title\na@example.org,x\nb@example.org,\"never closed\nc@example.org,y\n"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := d.Next(); err != nil || r.Key != "a@example.org" {
		t.Fatalf("first row: %v %v", r, err)
	}
	_, err = d.Next()
	var fe *FileError
	if !errors.As(err, &fe) || fe.Problems[len(fe.Problems)-1].Code != CodeUnterminatedQuote || ErrorCodeOf(err) != EInvalid {
		t.Fatalf("err = %v", err)
	}
	if _, err2 := d.Next(); err2 != err {
		t.Fatalf("Next after the failure: %v", err2)
	}
	if !d.Info().Refused() {
		t.Fatal("Info does not say refused")
	}
}

func TestDecodeIOError(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("Email\na@example.org\n"), errReader{boom})
	d, err := NewDecoder(r, DecodeOptions{})
	if err != nil {
		// The failure can come as soon as the first read.
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		return
	}
	for {
		_, err = d.Next()
		if err != nil {
			break
		}
	}
	if !errors.Is(err, boom) || errors.As(err, new(*FileError)) {
		t.Fatalf("err = %v, want the reader's error", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestDecodeInfo(t *testing.T) {
	d, err := NewDecoder(strings.NewReader("sep=;\nEmail;Pay Grade;First Name\na@example.org;7;A\n"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info := d.Info()
	if info.HeaderLine != 2 || info.Delimiter != ';' || info.Rows != 0 {
		t.Fatalf("%+v", info)
	}
	if m := info.Mapping(); len(m) != 2 || m["Email"] != FieldEmail || m["First Name"] != FieldFirstName {
		t.Fatalf("mapping %v", m)
	}
	if len(info.Ignored) != 1 || info.Ignored[0] != "Pay Grade" {
		t.Fatalf("ignored %v", info.Ignored)
	}
	r, _ := d.Next()
	if r.Line != 3 || d.Info().Rows != 1 {
		t.Fatalf("line %d rows %d", r.Line, d.Info().Rows)
	}
	b, err := json.Marshal(d.Info())
	if err != nil || !strings.Contains(string(b), `"delimiter":";"`) || !strings.Contains(string(b), `"ignored":["Pay Grade"]`) {
		t.Fatalf("%s %v", b, err)
	}
}

func TestFileErrorCode(t *testing.T) {
	err := error(&FileError{Problems: []Problem{
		{Code: CodeUnknownColumn, Severity: SeverityWarning, Message: "a warning"},
		{Code: CodeNoEmailColumn, Severity: SeverityError, Message: "no email column"},
	}})
	if ErrorCodeOf(err) != EInvalid || ErrorMessageOf(err) != "no email column" ||
		!strings.Contains(err.Error(), "no email column (no_email_column)") {
		t.Fatalf("%v %q %q", ErrorCodeOf(err), ErrorMessageOf(err), err)
	}
}

// Record JSON round-trips, attributes by name.
func TestRecordJSON(t *testing.T) {
	r := Record{Line: 3, Email: "A@x.org", Key: "a@x.org", Status: StatusInactive, Action: ActionRemove}
	r.Attrs[AttrCity] = "Lyon"
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"attrs":{"city":"Lyon"}`) || !strings.Contains(string(b), `"action":"remove"`) {
		t.Fatalf("%s", b)
	}
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Attrs != r.Attrs || back.Status != r.Status || back.Action != r.Action || back.Key != r.Key {
		t.Fatalf("%+v", back)
	}
}

func TestWriteProblemsCSV(t *testing.T) {
	var b strings.Builder
	err := WriteProblemsCSV(&b, []Problem{
		{Code: CodeEncodingAssumed, Severity: SeverityWarning, Message: "read as Windows-1252"},
		{Line: 7, Column: "Name", Code: CodeInvalidEmail, Severity: SeverityError, Message: `"x, y" is not an address`},
		{Line: 9, Column: "=cmd()", Code: CodeUnknownColumn, Severity: SeverityWarning, Message: "=HYPERLINK(\"http://evil\")"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "line,column,severity,code,message\n" +
		",,warning,encoding_assumed,read as Windows-1252\n" +
		"7,Name,error,invalid_email,\"\"\"x, y\"\" is not an address\"\n" +
		"9,'=cmd(),warning,unknown_column,\"'=HYPERLINK(\"\"http://evil\"\")\"\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteProblemsCSV(&b, nil); err != nil || b.String() != "line,column,severity,code,message\n" {
		t.Fatalf("no problems: %q %v", b.String(), err)
	}
}

// TestEmailDomainCacheKeepsItsOwnCopy: the decoder remembers the last
// domain found valid, to skip checking it again; an address read as a view
// of memory that is read into again (a lazy row in the reader's buffer)
// must not leave the cache pointing there: once those bytes change, an
// address with them as its domain went through unchecked.
func TestEmailDomainCacheKeepsItsOwnCopy(t *testing.T) {
	d, err := NewDecoder(strings.NewReader("Email\na@example.org\n"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := []byte("ann@example.org")
	if _, _, err := d.normalizeEmail(unsafe.String(&buf[0], len(buf))); err != nil {
		t.Fatal(err)
	}
	copy(buf, "ann@exa..le.org") // the buffer read into again
	if _, key, err := d.normalizeEmail("bob@exa..le.org"); err == nil {
		t.Fatalf("bob@exa..le.org accepted (key %q): the cached domain followed the buffer", key)
	}
	if _, key, err := d.normalizeEmail("bob@example.org"); err != nil || key != "bob@example.org" {
		t.Fatalf("bob@example.org: %q, %v", key, err)
	}
}
