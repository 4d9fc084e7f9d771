package schema

import "testing"

// Every value a spreadsheet could run as a formula, or split into one,
// gets a leading apostrophe; others are kept as they are.
func TestNeutraliseCSV(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "'+1", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)", "\t=1": "'\t=1", "\r=1": "'\r=1",
		"\n=1": "'\n=1", ";=1+1": "';=1+1", ",=1": "',=1", " =1": "' =1", "\u00a0;x": "'\u00a0;x",
		"Ada": "Ada", "a=b": "a=b", "o'neil": "o'neil", "": "", " Ada": " Ada", "a;b": "a;b",
	} {
		if got := NeutraliseCSV(in); got != want {
			t.Errorf("NeutraliseCSV(%q) = %q, want %q", in, got, want)
		}
	}
}
