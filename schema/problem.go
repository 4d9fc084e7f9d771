package schema

import (
	"fmt"
	"strconv"
)

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

// Problem codes. File-level codes refuse the whole file unless marked as a
// warning; row-level codes of error severity make the row invalid.
const (
	// File level.

	// CodeNotText: the file is binary, compressed, encrypted or otherwise not text.
	CodeNotText ProblemCode = "not_text"
	// CodeEncodingAssumed (warning): the bytes were not valid UTF-8 and were
	// read as Windows-1252.
	CodeEncodingAssumed ProblemCode = "encoding_assumed"
	// CodeEmptyFile: the file holds no header line at all.
	CodeEmptyFile ProblemCode = "empty_file"
	// CodeAmbiguousDelimiter: more than one delimiter fits the file.
	CodeAmbiguousDelimiter ProblemCode = "ambiguous_delimiter"
	// CodeNoEmailColumn: no column of the header holds email addresses.
	CodeNoEmailColumn ProblemCode = "no_email_column"
	// CodeDuplicateHeader: the same column name appears twice. An error when
	// the column is one muster reads, a warning when it is ignored anyway.
	CodeDuplicateHeader ProblemCode = "duplicate_header"
	// CodeDuplicateField: two differently named columns both mean the same
	// field. An error for the email column, a warning otherwise (the first is used).
	CodeDuplicateField ProblemCode = "duplicate_field"
	// CodeEmptyHeader (warning): a column has no name; it is ignored.
	CodeEmptyHeader ProblemCode = "empty_header"
	// CodeUnknownColumn (warning): a column muster does not know; it is ignored.
	CodeUnknownColumn ProblemCode = "unknown_column"
	// CodeBadColumnSetting: a per-source column setting names no known field.
	CodeBadColumnSetting ProblemCode = "bad_column_setting"
	// CodeUnterminatedQuote: a quoted value is never closed, so the rest of
	// the file cannot be split into rows.
	CodeUnterminatedQuote ProblemCode = "unterminated_quote"
	// CodeRowTooLong: one row is larger than MaxRowBytes.
	CodeRowTooLong ProblemCode = "row_too_long"
	// CodeNoRows (warning): the file has a header but no rows.
	CodeNoRows ProblemCode = "no_rows"
	// CodeTooManyInvalid: more rows are invalid than the source allows.
	CodeTooManyInvalid ProblemCode = "too_many_invalid"
	// CodeNotRegularFile: the drop is not a regular file (a symbolic link,
	// a named pipe, a device); it is not read.
	CodeNotRegularFile ProblemCode = "not_regular_file"
	// CodeUnfileable: the file cannot be moved or read where it is (a name
	// the file system cannot hold); it is not read.
	CodeUnfileable ProblemCode = "unfileable"

	// Row level.

	// CodeRaggedRow: the row has more or fewer values than the header has columns.
	CodeRaggedRow ProblemCode = "ragged_row"
	// CodeStrayQuote (warning): text follows a value's closing quote (as
	// with quotes escaped by a backslash); the value is kept as Excel reads it.
	CodeStrayQuote ProblemCode = "stray_quote"
	// CodeInvalidText: the row holds bytes that are not text in the file's
	// encoding, or control characters.
	CodeInvalidText ProblemCode = "invalid_text"
	// CodeMissingEmail: the email cell is empty.
	CodeMissingEmail ProblemCode = "missing_email"
	// CodeInvalidEmail: the email cell is not an email address.
	CodeInvalidEmail ProblemCode = "invalid_email"
	// CodeDuplicateEmail: an earlier row of the file has the same address.
	CodeDuplicateEmail ProblemCode = "duplicate_email"
	// CodeUnknownStatus: the status is not one muster can map to active or inactive.
	CodeUnknownStatus ProblemCode = "unknown_status"
	// CodeUnknownAction: a delta row's action is neither an upsert nor a removal.
	CodeUnknownAction ProblemCode = "unknown_action"
	// CodeValueTooLong: a value is longer than MaxValueLen.
	CodeValueTooLong ProblemCode = "value_too_long"
	// CodeInvalidDate (warning): a date that cannot be read; the value is dropped.
	CodeInvalidDate ProblemCode = "invalid_date"
	// CodeInvalidManagerEmail (warning): the manager's email is not an
	// address; the value is dropped.
	CodeInvalidManagerEmail ProblemCode = "invalid_manager_email"
)

// FileError is returned when a whole file is refused: it is not text, has
// no email column, its delimiter cannot be told, it breaks off inside a
// quote... Problems says why, in order. Its ErrorCodeOf is EInvalid.
type FileError struct {
	Problems []Problem
	// Info is what was understood of the file before it was refused
	// (encoding, delimiter, columns...); its Problems are the same as above.
	Info FileInfo
}

func (e *FileError) Error() string {
	for _, p := range e.Problems {
		if p.Severity == SeverityError {
			return "file refused: " + p.String()
		}
	}
	return "file refused"
}

// Unwrap exposes an *Error with code EInvalid, so ErrorCodeOf and
// ErrorMessageOf work on a FileError like on any other input error.
func (e *FileError) Unwrap() error {
	msg := "file refused"
	for _, p := range e.Problems {
		if p.Severity == SeverityError {
			msg = p.Message
			break
		}
	}
	return &Error{Code: EInvalid, Message: msg}
}

// DefaultMaxInvalidShare is the share of invalid rows above which a drop is
// rejected whole, unless its source says otherwise: 2%.
const DefaultMaxInvalidShare = 0.02

// TooManyInvalid reports whether invalid rows out of rows exceed maxShare
// (a fraction: 0.02 is 2%). A file with no rows has none too many.
func TooManyInvalid(invalid, rows int, maxShare float64) bool {
	return rows > 0 && float64(invalid) > maxShare*float64(rows)
}

// TooManyInvalidProblem is the file-level problem reported when
// TooManyInvalid is true.
func TooManyInvalidProblem(invalid, rows int, maxShare float64) Problem {
	return Problem{
		Code:     CodeTooManyInvalid,
		Severity: SeverityError,
		Message: fmt.Sprintf("%d of %d rows are invalid (%.1f%%), more than the %s allowed; nothing from this file is used",
			invalid, rows, 100*float64(invalid)/float64(rows), formatShare(maxShare)),
	}
}

func formatShare(share float64) string {
	return strconv.FormatFloat(100*share, 'f', -1, 64) + "%"
}
