package schema

import (
	"errors"
	"fmt"
)

// ErrorCode is the small error vocabulary shared by every package. The CLI
// turns it into exit codes and the HTTP API into status codes.
type ErrorCode string

// Error codes.
const (
	EInvalid      ErrorCode = "invalid"      // the input is wrong; retrying will not help
	EConflict     ErrorCode = "conflict"     // the state does not allow it (a drop already decided...)
	ENotFound     ErrorCode = "not_found"    // no such thing
	EUnauthorized ErrorCode = "unauthorized" // who is asking is not known
	EForbidden    ErrorCode = "forbidden"    // known, but not allowed
	EUnavailable  ErrorCode = "unavailable"  // a dependency failed; retrying may help
	EInternal     ErrorCode = "internal"     // a bug or an unexpected failure
)

// Error is an error with a code and a message meant for the user.
type Error struct {
	Code    ErrorCode
	Message string
	// Err is the underlying cause, if any; it is not shown to API users.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the given code and message around err.
func WrapError(code ErrorCode, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCodeOf returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessageOf returns the user-facing message of err: the message of its
// *Error, or a generic text for internal errors so no detail leaks.
func ErrorMessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if err == nil {
		return ""
	}
	return "internal error"
}
