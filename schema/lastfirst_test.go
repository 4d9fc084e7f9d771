package schema

import (
	"strings"
	"testing"
)

// A single name column in "Last, First" order is split into first and last
// name, whether its header is the order itself or a name with the order
// in a note; a name the export wrote without its comma is split before its
// last word in such a column (and after its first word in a plain "Name"
// column).
func TestLastFirstNameColumn(t *testing.T) {
	for _, tc := range []struct {
		header, value, first, last string
	}{
		{`"Last, First"`, `"Lovelace, Ada"`, "Ada", "Lovelace"},
		{`"Last Name, First Name"`, `"Hopper, Grace M."`, "Grace", "Hopper"},
		{`Last_First`, `"King Jr., Martin"`, "Martin", "King Jr."},
		{`"Name (Last, First)"`, `De la Cruz Maria`, "Maria", "De la Cruz"},
		{`"Employee Name (Last, First)"`, `"Okafor, Chidi"`, "Chidi", "Okafor"},
		{`"Surname, Forename"`, `Cher`, "Cher", ""},
		{`"Nachname, Vorname"`, `"Müller, Jürgen"`, "Jürgen", "Müller"},
		{`Name`, `Ada Lovelace`, "Ada", "Lovelace"},
		{`"Full Name"`, `"Lovelace, Ada"`, "Ada", "Lovelace"},
	} {
		d, err := NewDecoder(strings.NewReader("Email,"+tc.header+"\nann@example.com,"+tc.value+"\n"), DecodeOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.header, err)
		}
		rec, err := d.Next()
		if err != nil {
			t.Fatalf("%s: %v", tc.header, err)
		}
		if rec.FirstName != tc.first || rec.LastName != tc.last {
			t.Errorf("%s = %s: first %q last %q, want %q %q", tc.header, tc.value, rec.FirstName, rec.LastName, tc.first, tc.last)
		}
		if cols := d.Info().Columns; cols[1].Field != FieldFullName {
			t.Errorf("%s read as %q (%s)", tc.header, cols[1].Field, cols[1].Note)
		}
	}
}

// NUL bytes after text rows (a pre-allocated or cut-off file) refuse the
// whole file as not text, however far into the file they start.
func TestNULPaddingRefusesTheFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("Email,First Name\n")
	for i := 0; b.Len() < 3*sniffSize; i++ {
		b.WriteString("person" + strings.Repeat("x", i%7) + "@example.com,Pat\n")
	}
	b.WriteString(strings.Repeat("\x00", 4096))
	res, err := Check(strings.NewReader(b.String()), DecodeOptions{}, DefaultMaxInvalidShare, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Refused || len(res.Reasons) != 1 || res.Reasons[0].Code != CodeNotText ||
		!strings.Contains(res.Reasons[0].Message, "NUL bytes") {
		t.Fatalf("refused %v, reasons %+v", res.Refused, res.Reasons)
	}
}

// A header of many unknown columns gives a bounded number of warnings,
// the rest counted in one; Capped bounds what a report keeps of the file.
func TestColumnWarningsAndInfoCapped(t *testing.T) {
	cols := make([]string, 5000)
	for i := range cols {
		cols[i] = "extra" + strings.Repeat("y", i%5) + string(rune('a'+i%26)) + strings.Repeat("z", i/26)
	}
	d, err := NewDecoder(strings.NewReader("Email,"+strings.Join(cols, ",")+"\nann@example.com"+strings.Repeat(",", len(cols))+"\n"), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info := d.Info()
	if n := len(info.Problems); n != maxColumnWarnings+1 || !strings.Contains(info.Problems[n-1].Message, "more columns are ignored") {
		t.Fatalf("%d problems, the last %+v", n, info.Problems[n-1])
	}
	c := info.Capped(100)
	if len(c.Columns) != 100 || c.ColumnsOmitted != 4901 || len(c.Ignored) != 100 || c.IgnoredOmitted != 4900 ||
		len(c.Problems) != 100 || c.ProblemsOmitted != 1 {
		t.Errorf("capped: %d columns (%d omitted), %d ignored (%d), %d problems (%d)", len(c.Columns), c.ColumnsOmitted,
			len(c.Ignored), c.IgnoredOmitted, len(c.Problems), c.ProblemsOmitted)
	}
	if len(info.Columns) != 5001 {
		t.Errorf("Capped changed the info it was called on")
	}
}
