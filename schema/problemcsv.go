package schema

import (
	"encoding/csv"
	"io"
	"strconv"

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
// formula (starting with = + - @ or a tab) are prefixed with a quote, since
// messages quote the file's own cells (CWE-1236).
func WriteProblemsCSV(w io.Writer, problems []Problem) error {
	rows := make([]problemRow, len(problems))
	for i, p := range problems {
		line := ""
		if p.Line > 0 {
			line = strconv.Itoa(p.Line)
		}
		rows[i] = problemRow{Line: line, Column: inert(p.Column), Severity: p.Severity.String(),
			Code: string(p.Code), Message: inert(p.Message)}
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

// inert makes a value safe to open in a spreadsheet.
func inert(s string) string {
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + s
		}
	}
	return s
}
