package workostest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching requests misbehave (§10.7): answer a status, wait,
// drop the connection, or cut the body short.
type Fault struct {
	// Method matches the request method; "" matches any.
	Method string `json:"method,omitempty"`
	// Path matches the path exactly, or as a prefix when it ends in "*".
	Path string `json:"path"`
	// Query, if set, must appear in the raw query ("group=", "after=").
	Query string `json:"query,omitempty"`
	// Skip lets this many matching requests through first, so a fault can hit
	// the N-th request (Skip: N-1).
	Skip int `json:"skip,omitempty"`
	// Count is how many requests the fault hits; 0 means every one.
	Count int `json:"count,omitempty"`

	// Latency delays the answer (or the fault) by this much.
	Latency time.Duration `json:"latency,omitempty"`
	// Status, if set, is answered with Body (default: a JSON message for
	// 4xx, an HTML page for 5xx) and ContentType.
	Status      int    `json:"status,omitempty"`
	Body        string `json:"body,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// RetryAfter is sent as Retry-After with the status.
	RetryAfter string `json:"retry_after,omitempty"`
	// Drop closes the connection without answering.
	Drop bool `json:"drop,omitempty"`
	// Truncate answers normally but closes the connection halfway through
	// the body (the headers promise the whole length).
	Truncate bool `json:"truncate,omitempty"`
}

type faultState struct {
	Fault
	seen, hit int
}

// AddFault installs a fault; faults are tried in the order added and the
// first that matches a request applies.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FaultHits returns how many requests each fault hit, in the order added.
func (s *Server) FaultHits() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.faults))
	for i, f := range s.faults {
		out[i] = f.hit
	}
	return out
}

// matchFault returns the fault for r, counting it. The caller holds s.mu.
func (s *Server) matchFault(r *http.Request) *faultState {
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		return nil
	}
	for _, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if p, prefix := strings.CutSuffix(f.Path, "*"); (prefix && !strings.HasPrefix(r.URL.Path, p)) || (!prefix && r.URL.Path != f.Path) {
			continue
		}
		if f.Query != "" && !strings.Contains(r.URL.RawQuery, f.Query) {
			continue
		}
		f.seen++
		if f.seen <= f.Skip || (f.Count > 0 && f.hit >= f.Count) {
			continue
		}
		f.hit++
		return f
	}
	return nil
}

// apply carries out the fault; it reports false when the request should be
// served normally (a pure latency fault).
func (f *faultState) apply(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) bool {
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return true
		case <-t.C:
		}
	}
	switch {
	case f.Drop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return true
	case f.Truncate:
		rec := httptest.NewRecorder()
		next(rec, r)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return true
		}
		body := rec.Body.Bytes()
		var head bytes.Buffer
		head.WriteString("HTTP/1.1 " + strconv.Itoa(rec.Code) + " " + http.StatusText(rec.Code) + "\r\n")
		rec.Header().Set("Content-Length", strconv.Itoa(len(body)))
		rec.Header().Write(&head)
		head.WriteString("\r\n")
		buf.Write(head.Bytes())
		buf.Write(body[:len(body)/2])
		buf.Flush()
		conn.Close()
		return true
	case f.Status != 0:
		body, ct := f.Body, f.ContentType
		if body == "" {
			if f.Status >= 500 {
				body, ct = "<html><body><h1>"+strconv.Itoa(f.Status)+" "+http.StatusText(f.Status)+"</h1></body></html>", "text/html"
			} else {
				body, ct = `{"message":"`+http.StatusText(f.Status)+`"}`, "application/json; charset=utf-8"
			}
		}
		if ct == "" {
			ct = "application/json; charset=utf-8"
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(f.Status)
		w.Write([]byte(body))
		return true
	}
	return false
}
