package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"muster/schema"
)

// statusOf maps the error vocabulary to HTTP; internal is 500.
func statusOf(code schema.ErrorCode) int {
	if st, ok := statusOfCode[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

var statusOfCode = map[schema.ErrorCode]int{
	schema.EInvalid:      http.StatusBadRequest,
	schema.EUnauthorized: http.StatusUnauthorized,
	schema.EForbidden:    http.StatusForbidden,
	schema.ENotFound:     http.StatusNotFound,
	schema.EConflict:     http.StatusConflict,
	schema.EUnavailable:  http.StatusServiceUnavailable,
}

// errorBody is every error's JSON: {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error struct {
		Code    schema.ErrorCode `json:"code"`
		Message string           `json:"message"`
		// Problems lists a refused config's problems, one per line.
		Problems []string `json:"problems,omitempty"`
	} `json:"error"`
}

// httpError is an error with an HTTP status more precise than its code's
// (413 for a body too large, 415 for a wrong content type, 405).
type httpError struct {
	status int
	err    *schema.Error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func httpErrorf(status int, code schema.ErrorCode, format string, args ...any) error {
	return &httpError{status: status, err: schema.Errorf(code, format, args...)}
}

// writeError answers with err as JSON. Internal errors are logged with
// their detail and answered without it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := schema.ErrorCodeOf(err)
	status := statusOf(code)
	var he *httpError
	if errors.As(err, &he) {
		status = he.status
	}
	if code == schema.EInternal {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="muster"`)
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, schema.ErrorMessageOf(err)
	if code != schema.EInternal {
		body.Error.Problems = problemsOf(err)
	}
	writeJSON(w, status, body)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decodeBody reads a JSON object into v. An empty body leaves v as it is
// (every field of a request body is optional unless the handler says
// otherwise). A body must be application/json, at most maxBody bytes, one
// object, with no field v does not know.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Transfer-Encoding") == "" {
		return nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return httpErrorf(http.StatusRequestEntityTooLarge, schema.EInvalid, "the request body is over %d bytes", s.maxBody)
	}
	if err != nil {
		return schema.WrapError(schema.EInvalid, err, "read the request body")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return httpErrorf(http.StatusUnsupportedMediaType, schema.EInvalid, "the request body must be JSON (Content-Type: application/json)")
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return schema.Errorf(schema.EInvalid, "the request body is not valid: %s", jsonProblem(err))
	}
	if dec.More() {
		return schema.Errorf(schema.EInvalid, "the request body is not valid: more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return schema.Errorf(schema.EInvalid, "the request body is not valid: data after the JSON object")
	}
	return nil
}

// jsonProblem says what is wrong with a body, without echoing it.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type)
		}
		return fmt.Sprintf("expected a JSON object, got %s", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}
