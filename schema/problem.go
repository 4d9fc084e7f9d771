package schema

import "fmt"

// Severity says whether a problem refuses a row (or a file) or only warns.
type Severity uint8

const (
	// SeverityError makes the row (or, for file-level problems, the file) invalid.
	SeverityError Severity = iota
	// SeverityWarning is reported but does not stop anything.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// MarshalText writes "error" or "warning".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "error" or "warning".
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = SeverityError
	case "warning":
		*s = SeverityWarning
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// ProblemCode is a stable, machine-readable name for a kind of problem.
// Scripts match on it; the message is for people.
type ProblemCode string

// Problem is something wrong (or worth a warning) in a source, located as
// precisely as the source allows.
type Problem struct {
	// Line is the 1-based line in the file; 0 for problems about the whole file.
	Line int `json:"line,omitempty"`
	// Column is the header name as written in the file, when the problem is
	// about one column.
	Column   string      `json:"column,omitempty"`
	Code     ProblemCode `json:"code"`
	Severity Severity    `json:"severity"`
	// Message says what is wrong in words a person understands.
	Message string `json:"message"`
}

func (p Problem) String() string {
	loc := ""
	switch {
	case p.Line > 0 && p.Column != "":
		loc = fmt.Sprintf("line %d, column %q: ", p.Line, p.Column)
	case p.Line > 0:
		loc = fmt.Sprintf("line %d: ", p.Line)
	case p.Column != "":
		loc = fmt.Sprintf("column %q: ", p.Column)
	}
	return fmt.Sprintf("%s%s (%s)", loc, p.Message, p.Code)
}
