package workos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"muster/schema"
)

// APIError is a non-2xx answer from WorkOS. The client returns it wrapped in a
// *schema.Error (see CodeOf for the mapping); errors.As reaches it.
type APIError struct {
	Method string
	// Path is the request path without the query.
	Path   string
	Status int
	// Code is WorkOS's machine-readable code ("entity_not_found",
	// "invalid_events_request", "rate_limit_exceeded"...), when the body had one.
	Code string
	// Message is the body's message, or the start of a non-JSON body
	// ("Ratelimited", an HTML page from a proxy).
	Message string
	// Fields are the per-field validation errors of a 422.
	Fields []FieldError
	// RequestID is the X-Request-Id header, for WorkOS support.
	RequestID string
	// RetryAfter is the Retry-After header as sent, if any.
	RetryAfter string
	// Body is the raw body, cut to 2 KiB.
	Body string
}

// FieldError is one entry of a validation error's "errors" array. WorkOS puts
// a human sentence in Code for the missing-filter 422s.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.Status)
	if e.Message != "" {
		fmt.Fprintf(&b, " %s", e.Message)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	for _, f := range e.Fields {
		switch {
		case f.Field != "" && f.Code != "":
			fmt.Fprintf(&b, "; %s: %s", f.Field, f.Code)
		case f.Field != "":
			fmt.Fprintf(&b, "; %s: %s", f.Field, f.Message)
		default:
			fmt.Fprintf(&b, "; %s%s", f.Code, f.Message)
		}
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request id %s]", e.RequestID)
	}
	return b.String()
}

// CodeOf maps an HTTP status to muster's error vocabulary: what the CLI and
// the scheduler act on (retry later, or tell the admin to fix the config).
func CodeOf(status int) schema.ErrorCode {
	switch {
	case status == http.StatusUnauthorized:
		return schema.EUnauthorized
	case status == http.StatusForbidden:
		return schema.EForbidden
	case status == http.StatusNotFound:
		return schema.ENotFound
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return schema.EUnavailable
	case status >= 400:
		return schema.EInvalid
	}
	return schema.EInternal
}

const maxErrorBody = 2 << 10

// newAPIError reads what it can from an error answer: a JSON object with
// message/code/errors, a JSON string ("Ratelimited"), or plain text.
func newAPIError(method, path string, res *http.Response, body []byte) *APIError {
	e := &APIError{
		Method:     method,
		Path:       path,
		Status:     res.StatusCode,
		RequestID:  res.Header.Get("X-Request-Id"),
		RetryAfter: res.Header.Get("Retry-After"),
	}
	raw := body
	if len(raw) > maxErrorBody {
		raw = raw[:maxErrorBody]
	}
	e.Body = string(raw)
	trimmed := bytes.TrimSpace(body)
	if isJSON(res.Header.Get("Content-Type")) || (len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '"')) {
		if decodeErrorBody(trimmed, e) {
			return e
		}
	}
	e.Message = firstLine(string(raw))
	return e
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

func decodeErrorBody(body []byte, e *APIError) bool {
	if len(body) > 0 && body[0] == '"' {
		var s string
		if json.Unmarshal(body, &s) != nil {
			return false
		}
		e.Message = s
		return true
	}
	var v struct {
		Message          string            `json:"message"`
		Code             string            `json:"code"`
		Errors           []json.RawMessage `json:"errors"`
		Error            string            `json:"error"`
		ErrorDescription string            `json:"error_description"`
	}
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	e.Message, e.Code = v.Message, v.Code
	if e.Message == "" {
		e.Message = v.ErrorDescription
	}
	if e.Code == "" {
		e.Code = v.Error
	}
	for _, r := range v.Errors {
		var f FieldError
		if json.Unmarshal(r, &f) == nil {
			e.Fields = append(e.Fields, f)
			continue
		}
		var s string
		if json.Unmarshal(r, &s) == nil {
			e.Fields = append(e.Fields, FieldError{Message: s})
		}
	}
	return true
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
