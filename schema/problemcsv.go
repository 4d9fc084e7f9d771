package schema

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/gocarina/gocsv"
)

// problemRow is one line of a problems CSV, as gocsv writes it.
type problemRow struct {
	Line     string `csv:"line"`
	Column   string `csv:"column"`
	Severity string `csv:"severity"`
	Code     string `csv:"code"`
	Message  string `csv:"message"`
}

// WriteProblemsCSV writes problems as a CSV file with a header (line,
// column, severity, code, message): the errors file an HR system or an
// admin opens in a spreadsheet. Values that a spreadsheet would run as a
// formula are prefixed with a quote (NeutraliseCSV), since
// messages quote the file's own cells (CWE-1236).
func WriteProblemsCSV(w io.Writer, problems []Problem) error {
	rows := make([]problemRow, len(problems))
	for i, p := range problems {
		line := ""
		if p.Line > 0 {
			line = strconv.Itoa(p.Line)
		}
		rows[i] = problemRow{Line: line, Column: NeutraliseCSV(p.Column), Severity: p.Severity.String(),
			Code: string(p.Code), Message: NeutraliseCSV(p.Message)}
	}
	cw := gocsv.NewSafeCSVWriter(csv.NewWriter(w))
	if len(rows) == 0 {
		// gocsv writes nothing for an empty slice; a header alone says "no problems".
		cw.Write([]string{"line", "column", "severity", "code", "message"})
		cw.Flush()
		return cw.Error()
	}
	return gocsv.MarshalCSV(rows, cw)
}

// NeutraliseCSV keeps a spreadsheet from running a value as a formula: one
// that starts with = + - @, a tab, a carriage return or a line feed gets a
// leading apostrophe (the OWASP advice for CSV injection), and so does one
// that starts with ; or , (the argument separators: in a locale where ; is
// the list separator, a cell ";=1+1" opens as two cells, the second a
// formula). So does one where these follow leading white space, which
// spreadsheets may trim on import.
func NeutraliseCSV(s string) string {
	t := strings.TrimLeftFunc(s, unicode.IsSpace)
	if t != "" && strings.ContainsRune(formulaStarts, rune(t[0])) || s != "" && strings.ContainsRune("\t\r\n", rune(s[0])) {
		return "'" + s
	}
	return s
}

// formulaStarts are the characters a spreadsheet may read a cell's formula
// from, or split a cell on.
const formulaStarts = "=+-@;,"
