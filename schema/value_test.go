package schema

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in       string
		dayFirst bool
		want     string
	}{
		{"2024-03-04", false, "2024-03-04"},
		{"2019-03-29T12:07:39.730Z", false, "2019-03-29"},
		{"2019-03-29T00:00:00.000-07:00", false, "2019-03-29"},
		{"2019-03-29T23:30:00+02:00", false, "2019-03-29"},
		{"2019-03-29 08:15:00", false, "2019-03-29"},
		{"2019-3-9", false, "2019-03-09"},
		{"2019/03/29", false, "2019-03-29"},
		{"3/29/2019", false, "2019-03-29"},
		{"03/04/2024", false, "2024-03-04"},
		{"03/04/2024", true, "2024-04-03"},
		{"29/3/2019", true, "2019-03-29"},
		{"3/29/2019 0:00", false, "2019-03-29"},
		{"3/29/2019 12:00 PM", false, "2019-03-29"},
		{"29.03.2019", false, "2019-03-29"},
		{"1.2.2018", false, "2018-02-01"},
		{"2024-02-29", false, "2024-02-29"},
		{"2000-02-29", false, "2000-02-29"},
		{"0000-00-00", false, ""},
		{"0000-00-00 00:00:00", false, ""},
		{"00/00/0000", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		got, why := parseDate(tt.in, tt.dayFirst)
		if got != tt.want || why != "" {
			t.Errorf("parseDate(%q, dayFirst %v) = %q, %q; want %q", tt.in, tt.dayFirst, got, why, tt.want)
		}
	}
}

func TestParseDateRejects(t *testing.T) {
	tests := []struct {
		in       string
		dayFirst bool
		why      string
	}{
		{"29/03/2019", false, "set it to day-first"},
		{"03/29/2019", true, "this source is set to day-first"},
		{"13/13/2019", false, "month does not exist"},
		{"2019-02-29", false, "day does not exist"},
		{"1900-02-29", false, "day does not exist"},
		{"2019-04-31", false, "day does not exist"},
		{"2019-00-10", false, "month does not exist"},
		{"3/29/19", false, "two-digit year"},
		{"1850-01-01", false, "year is out of range"},
		{"0000-01-01", false, "year is out of range"},
		{"2019-0a-10", false, "not a date"},
		{"yesterday", false, "not a date"},
		{"45123", false, "not a date"},
		{"2019-03-29Tnoon", false, "not a date"},
		{"2019-03-29 and more", false, "not a date"},
		{"2019/03-29", false, "not a date"},
		{"1/2/3/2019", false, "not a date"},
		{"12345/1/2019", false, "not a date"},
	}
	for _, tt := range tests {
		got, why := parseDate(tt.in, tt.dayFirst)
		if got != "" || !strings.Contains(why, tt.why) {
			t.Errorf("parseDate(%q, dayFirst %v) = %q, %q; want a reason with %q", tt.in, tt.dayFirst, got, why, tt.why)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		in   string
		kind statusKind
		want Status
	}{
		{"", statusWords, StatusActive},
		{"Active", statusWords, StatusActive},
		{"ACTIVE", statusWords, StatusActive},
		{"Employed", statusWords, StatusActive},
		{"Hired", statusWords, StatusActive},
		{"Leave", statusWords, StatusActive},
		{"On Leave", statusWords, StatusActive},
		{"Leave of Absence", statusWords, StatusActive},
		{"A", statusWords, StatusActive},
		{"L", statusWords, StatusActive},
		{"Active - Remote", statusWords, StatusActive},
		{"Inactive", statusWords, StatusInactive},
		{"Terminated", statusWords, StatusInactive},
		{"terminated ", statusWords, StatusInactive},
		{"Voluntarily Terminated", statusWords, StatusInactive},
		{"Terminated for Cause", statusWords, StatusInactive},
		{"Terminated - Voluntary", statusWords, StatusInactive},
		{"Suspended", statusWords, StatusInactive},
		{"T", statusWords, StatusInactive},
		{"Inactive (rehire eligible)", statusWords, StatusInactive},
		{"true", statusTerminated, StatusInactive},
		{"Yes", statusTerminated, StatusInactive},
		{"1", statusTerminated, StatusInactive},
		{"false", statusTerminated, StatusActive},
		{"0", statusTerminated, StatusActive},
		{"", statusTerminated, StatusActive},
		{"TRUE", statusActive, StatusActive},
		{"1", statusActive, StatusActive},
		{"No", statusActive, StatusInactive},
		{"0", statusActive, StatusInactive},
		// An "Active Status" column (Lattice's alias of Status) or an
		// "Active" column may hold the status words themselves.
		{"Active", statusActive, StatusActive},
		{"Inactive", statusActive, StatusInactive},
		{"Terminated", statusActive, StatusInactive},
		{"On Leave", statusActive, StatusActive},
		{"A", statusActive, StatusActive},
		{"Terminated", statusTerminated, StatusInactive},
		{"Active", statusTerminated, StatusActive},
		// BambooHR's "Employment Status" holds the kind of employment of
		// people employed, and Terminated for those who left.
		{"Full-Time", statusEmployment, StatusActive},
		{"Part Time", statusEmployment, StatusActive},
		{"Contractor", statusEmployment, StatusActive},
		{"Intern", statusEmployment, StatusActive},
		{"Terminated", statusEmployment, StatusInactive},
		{"Voluntarily Terminated", statusEmployment, StatusInactive},
		{"Active", statusEmployment, StatusActive},
	}
	for _, tt := range tests {
		got, ok := parseStatus(trimSpace(tt.in), tt.kind)
		if !ok || got != tt.want {
			t.Errorf("parseStatus(%q, %d) = %v, %v; want %v", tt.in, tt.kind, got, ok, tt.want)
		}
	}
	for _, bad := range []struct {
		in   string
		kind statusKind
	}{{"Maybe", statusWords}, {"Full-Time", statusWords}, {"true", statusWords}, {"Maybe", statusTerminated}, {"2", statusActive}, {"Maybe", statusEmployment}} {
		if _, ok := parseStatus(bad.in, bad.kind); ok {
			t.Errorf("parseStatus(%q, %d) accepted", bad.in, bad.kind)
		}
	}
	// The key is built on the stack: a status costs no allocation.
	if n := testing.AllocsPerRun(100, func() { parseStatus("On Leave", statusWords) }); n != 0 {
		t.Errorf("parseStatus allocates %v times", n)
	}
	for _, s := range []string{"Ärztlich Beurlaubt", "ÉMPLOYÉ", "a\xffb", "Terminated – Voluntary", "Sí"} {
		if got, want := string(appendWordKey(nil, s)), wordKeyRunes(s); got != want {
			t.Errorf("appendWordKey(%q) = %q, want %q", s, got, want)
		}
	}
}

// wordKeyRunes is wordKey written rune by rune, to check the byte loop.
func wordKeyRunes(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func TestParseAction(t *testing.T) {
	for in, want := range map[string]Action{
		"add": ActionUpsert, "Update": ActionUpsert, "UPSERT": ActionUpsert, "new": ActionUpsert, "change": ActionUpsert,
		"remove": ActionRemove, "Delete": ActionRemove, "terminate": ActionRemove, "deactivate": ActionRemove,
	} {
		if got, ok := parseAction(in); !ok || got != want {
			t.Errorf("parseAction(%q) = %v, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "maybe", "promote"} {
		if _, ok := parseAction(bad); ok {
			t.Errorf("parseAction(%q) accepted", bad)
		}
	}
}

func TestSplitGroups(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Sales", []string{"Sales"}},
		{"Sales;Marketing", []string{"Sales", "Marketing"}},
		{"Sales | Marketing|Ops", []string{"Sales", "Marketing", "Ops"}},
		{" Sales ; ;sales;SALES; Marketing ;", []string{"Sales", "Marketing"}},
		{"All\u00a0Staff;\u00a0London\u00a0", []string{"All\u00a0Staff", "London"}},
		{";;|", nil},
		{"R&D, Europe;Ops", []string{"R&D, Europe", "Ops"}},
	}
	for _, tt := range tests {
		if got := splitGroups(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitGroups(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitFullName(t *testing.T) {
	tests := []struct{ in, first, last string }{
		{"Jane Doe", "Jane", "Doe"},
		{"Mary Ann Smith", "Mary", "Ann Smith"},
		{"Gabriel García Márquez", "Gabriel", "García Márquez"},
		{"Cher", "Cher", ""},
		{"Doe, Jane", "Jane", "Doe"},
		{"Hill, Cameron", "Cameron", "Hill"},
		{"Adinolfi, Wilson  K", "Wilson", "Adinolfi"},
		{"Adinolfi, Wilson K.", "Wilson", "Adinolfi"},
		{"Smith, Mary Ann", "Mary Ann", "Smith"},
		{"van der Berg, Anna", "Anna", "van der Berg"},
		// A suffix after a comma belongs to the last name, not the first.
		{"Bob Roe, Jr.", "Bob", "Roe Jr."},
		{"Martin Luther King, Jr.", "Martin", "Luther King Jr."},
		{"Jane Doe, PhD", "Jane", "Doe PhD"},
		{"Roe, Bob, Jr.", "Bob", "Roe Jr."},
		{"Roe, Bob Jr", "Bob", "Roe Jr"},
		{"Roe, Bob J III", "Bob", "Roe III"},
		{"Roe Jr., Bob", "Bob", "Roe Jr."},
		{"Roe, Bob V", "Bob", "Roe"},
		{"Rahman, Md", "Md", "Rahman"},
		{"Vance, JD", "JD", "Vance"},
	}
	for _, tt := range tests {
		first, last := splitFullName(tt.in)
		if first != tt.first || last != tt.last {
			t.Errorf("splitFullName(%q) = %q, %q; want %q, %q", tt.in, first, last, tt.first, tt.last)
		}
	}
}

func TestTrimSpace(t *testing.T) {
	for in, want := range map[string]string{
		"  a b  ": "a b", "\u00a0a\u00a0": "a", "\u200ba\u200b": "a", "\ufeffa": "a", "\t\r\n": "", "é ": "é",
	} {
		if got := trimSpace(in); got != want {
			t.Errorf("trimSpace(%q) = %q, want %q", in, got, want)
		}
		if got := trimValue(in); got != want {
			t.Errorf("trimValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTooManyInvalid(t *testing.T) {
	tests := []struct {
		invalid, rows int
		want          bool
	}{
		{0, 0, false}, {0, 100, false}, {2, 100, false}, {3, 100, true}, {1, 50, false}, {1, 49, true}, {1, 1, true},
	}
	for _, tt := range tests {
		if got := TooManyInvalid(tt.invalid, tt.rows, DefaultMaxInvalidShare); got != tt.want {
			t.Errorf("TooManyInvalid(%d, %d) = %v", tt.invalid, tt.rows, got)
		}
	}
	p := TooManyInvalidProblem(3, 100, DefaultMaxInvalidShare)
	if p.Code != CodeTooManyInvalid || p.Severity != SeverityError || !strings.Contains(p.Message, "3 of 100 rows") || !strings.Contains(p.Message, "2%") {
		t.Fatalf("problem %v", p)
	}
}

// The decoder's groups (carved from a shared block) match splitGroups.
func TestDecoderGroups(t *testing.T) {
	d := &Decoder{}
	var kept [][]string
	for _, in := range []string{"", "a", "a;b", "a|b", "a;b|c", " a ; A ;b", strings.Repeat("g;", 70) + "h", "x;y"} {
		got := d.groups(in)
		if want := splitGroups(in); !reflect.DeepEqual(got, want) {
			t.Errorf("groups(%q) = %q, want %q", in, got, want)
		}
		if len(got) != cap(got) {
			t.Errorf("groups(%q): cap %d > len %d lets an append overwrite the next record's groups", in, cap(got), len(got))
		}
		kept = append(kept, got)
	}
	if !reflect.DeepEqual(kept[2], []string{"a", "b"}) || !reflect.DeepEqual(kept[7], []string{"x", "y"}) {
		t.Errorf("earlier groups changed: %q", kept)
	}
	// Separators at every offset of the 8-byte words the decoder reads.
	rng := rand.New(rand.NewPCG(3, 4))
	parts := []string{"a", "B", "b", " ", ";", "|", "é", "\u00a0", "All Staff", "x\u200b"}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.IntN(20); n > 0; n-- {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		in := b.String()
		if got, want := d.groups(in), splitGroups(in); !reflect.DeepEqual(got, want) {
			t.Fatalf("groups(%q) = %q, want %q", in, got, want)
		}
	}
}
