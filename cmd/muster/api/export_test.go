package api

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"muster/ingest"
)

// smallBuffers makes accepted connections' send buffers small, so a client
// that stops reading blocks the server's writes after a few kilobytes
// rather than megabytes (the kernel would otherwise grow the buffer).
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// exportAPI is an API with n people in group staff, served by the
// server's own http.Server (its timeouts, not httptest's). done receives
// once each export request's handler has returned.
func exportAPI(t *testing.T, n int, edit func(*Server)) (a *testAPI, addr string, done chan struct{}) {
	a = MustAPI(t)
	if rep := a.ingest(acme, csvSource("hr"), "big.csv", people(n, "p", "acme.example", "staff")); rep.Decision != ingest.Applied {
		t.Fatalf("ingest: %s", rep.Decision)
	}
	edit(a.srv)
	done = make(chan struct{}, 4)
	a.srv.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		a.srv.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go a.srv.srv.Serve(smallBuffers{ln})
	t.Cleanup(func() { a.srv.srv.Close() })
	return a, ln.Addr().String(), done
}

// startExport sends GET /v1/export?group=staff on a connection with a
// small receive buffer and returns the response once its header is read.
func startExport(t *testing.T, a *testAPI, addr string) (*http.Response, net.Conn) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /v1/export?group=staff HTTP/1.1\r\nHost: muster\r\nAuthorization: Bearer %s\r\n\r\n", a.secret["acme-viewer"])
	res, err := http.ReadResponse(bufio.NewReaderSize(c, 1024), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("export: %d", res.StatusCode)
	}
	return res, c
}

// TestExportOutlivesTheRequestTimeouts: a large audience sent to a client
// that reads slowly arrives whole, though it takes longer than the
// server's read timeout (which would otherwise cancel the request's
// context half-way) and its whole-response write timeout.
func TestExportOutlivesTheRequestTimeouts(t *testing.T) {
	const n = 3000 // some 110 KB of CSV: far more than the socket buffers
	a, addr, done := exportAPI(t, n, func(s *Server) {
		s.srv.ReadTimeout = 100 * time.Millisecond
		s.srv.WriteTimeout = 100 * time.Millisecond
	})
	res, _ := startExport(t, a, addr)
	// The client is busy for longer than both timeouts before it reads on.
	time.Sleep(300 * time.Millisecond)
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("the export was broken off after %d bytes: %v", len(body), err)
	}
	if lines := bytes.Count(body, []byte("\n")); lines != n+1 {
		t.Fatalf("the export has %d lines, want %d", lines, n+1)
	}
	<-done
}

// TestExportToAStalledClientEnds: a client that stops reading an export
// does not hold its handler, and the store's read, for ever: once no byte
// could be sent for the write timeout the response is broken off.
func TestExportToAStalledClientEnds(t *testing.T) {
	const n = 3000
	var logs lockedBuffer
	a, addr, done := exportAPI(t, n, func(s *Server) {
		s.log = slog.New(slog.NewTextHandler(&logs, nil))
		s.writeTimeout = 200 * time.Millisecond
	})
	res, _ := startExport(t, a, addr)
	// The client reads nothing more. The bound below only catches a hang.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the export to a client that stopped reading is still running")
	}
	if body, err := io.ReadAll(res.Body); err == nil {
		t.Fatalf("the export to a stalled client ended as if whole (%d bytes)", len(body))
	}
	if !strings.Contains(logs.String(), "export failed part-way") {
		t.Fatalf("the broken-off export is not logged:\n%s", logs.String())
	}
}

// TestServerTimeouts: every phase of a connection is bounded (slow
// headers, slow bodies, slow readers of an answer, idle keep-alives).
func TestServerTimeouts(t *testing.T) {
	a := MustAPI(t)
	h := a.srv.srv
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": h.ReadHeaderTimeout, "ReadTimeout": h.ReadTimeout,
		"WriteTimeout": h.WriteTimeout, "IdleTimeout": h.IdleTimeout} {
		if d <= 0 {
			t.Errorf("http.Server.%s is not set", name)
		}
	}
}

// TestExportHead: HEAD answers an export's status and headers without
// reading the audience (a probe must not scan every recipient), and still
// checks what is asked.
func TestExportHead(t *testing.T) {
	var logs lockedBuffer
	a := MustAPI(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	a.ingest(acme, csvSource("hr"), "people.csv", people(3, "p", "acme.example", "staff"))
	r := a.do("HEAD", "/v1/export?group=staff", "acme-viewer", "")
	if r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" || r.header.Get("Content-Disposition") == "" {
		t.Fatalf("HEAD export: %d %v", r.status, r.header)
	}
	if r = a.do("HEAD", "/v1/export?group=nosuch", "acme-viewer", ""); r.status != http.StatusNotFound {
		t.Fatalf("HEAD export of no group: %d", r.status)
	}
	if strings.Contains(logs.String(), "msg=export") {
		t.Fatalf("HEAD ran the export:\n%s", logs.String())
	}
	a.mustStatus("GET", "/v1/export?group=staff", "acme-viewer", "", 200, "")
	if !strings.Contains(logs.String(), "msg=export") || !strings.Contains(logs.String(), "recipients=3") {
		t.Fatalf("GET export not logged:\n%s", logs.String())
	}
}
