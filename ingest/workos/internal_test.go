package workos

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"muster/ingest/workos/workostest"
	"muster/schema"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{now.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second, true},
		{"Mon, 01 Jun 2026 08:00:00 GMT", 0, true}, // in the past: now
		{"", 0, false},
		{"-3", 0, false},
		{"soon", 0, false},
		{"1.5", 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPacerSpacesRequestsPerKey(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	var waits []time.Duration
	p := newPacer(300*time.Millisecond, func() time.Time { return now }, func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		now = now.Add(d)
		return nil
	})
	ctx := context.Background()
	for _, k := range []string{"a", "a", "a", "b"} {
		p.wait(ctx, k)
	}
	// b's budget is its own; a's third request waits for its slot.
	if want := []time.Duration{0, 300 * time.Millisecond, 300 * time.Millisecond, 0}; !slices.Equal(waits, want) {
		t.Errorf("waits = %v, want %v", waits, want)
	}
	now = now.Add(time.Hour)
	waits = nil
	p.wait(ctx, "a")
	if waits[0] != 0 {
		t.Errorf("after a pause the first request waited %v", waits[0])
	}
}

func TestErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		msg, code      string
		fields         []FieldError
	}{
		{"missing filter 422", "application/json", `{"message":"Validation failed","errors":[{"field":"directory","code":"Please provide either \"directory\" or \"group\" parameters."}]}`,
			"Validation failed", "", []FieldError{{Field: "directory", Code: `Please provide either "directory" or "group" parameters.`}}},
		{"entity not found", "application/json; charset=utf-8", `{"message":"Directory not found: 'x'.","code":"entity_not_found","entity_id":"x"}`,
			"Directory not found: 'x'.", "entity_not_found", nil},
		{"bare Ratelimited declared JSON", "application/json", `Ratelimited`, "Ratelimited", "", nil},
		{"JSON string Ratelimited", "application/json", `"Ratelimited"`, "Ratelimited", "", nil},
		{"errors as strings", "application/json", `{"message":"bad","errors":["one","two"]}`, "bad", "", []FieldError{{Message: "one"}, {Message: "two"}}},
		{"oauth style", "application/json", `{"error":"invalid_client","error_description":"Invalid client secret."}`, "Invalid client secret.", "invalid_client", nil},
		{"html from a proxy", "text/html", "<html>\n<body>502 Bad Gateway</body></html>", "<html>", "", nil},
		{"plain Accepted", "text/plain", "Accepted", "Accepted", "", nil},
	} {
		res := &http.Response{StatusCode: 422, Header: http.Header{"Content-Type": {tc.ct}, "X-Request-Id": {"req-1"}}}
		e := newAPIError("GET", "/directory_users", res, []byte(tc.body))
		if e.Message != tc.msg || e.Code != tc.code || !slices.Equal(e.Fields, tc.fields) || e.RequestID != "req-1" || e.Body != tc.body {
			t.Errorf("%s: %+v", tc.name, e)
		}
	}
}

// TestFakeValidationBodies reads the fake's 422 and 400 answers through the
// client's own request path, for requests the public API never sends.
func TestFakeValidationBodies(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	c, err := New(Config{BaseURL: srv.URL, APIKey: Secret(srv.APIKey())})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		path   string
		q      url.Values
		status int
		code   string
		fields []string
		msg    string
	}{
		{"/directory_users", url.Values{}, 422, "", []string{"directory", "group"}, "Validation failed"},
		{"/directory_groups", url.Values{}, 422, "", []string{"directory", "user"}, "Validation failed"},
		{"/directory_users", url.Values{"directory": {"d"}, "limit": {"101"}}, 422, "", []string{"limit"}, "Validation failed"},
		{"/directory_users", url.Values{"directory": {"d"}, "limit": {"0"}}, 422, "", []string{"limit"}, "Validation failed"},
		{"/directory_users", url.Values{"email": {"a@b.c"}, "group": {"g"}}, 422, "", []string{"directory"}, "Validation failed"},
		{"/events", url.Values{}, 400, "invalid_events_request", nil,
			"One or more event names (e.g. dsync.user.created) must be provided using the events parameter."},
		{"/directory_users/directory_user_x", nil, 404, "", nil, "Not Found"},
	} {
		var out any
		err := c.get(ctx, tc.path, tc.q, "", &out)
		var ae *APIError
		if !errors.As(err, &ae) {
			t.Fatalf("%s %v: err = %v", tc.path, tc.q, err)
		}
		var fields []string
		for _, f := range ae.Fields {
			fields = append(fields, f.Field)
		}
		if ae.Status != tc.status || ae.Code != tc.code || ae.Message != tc.msg || !slices.Equal(fields, tc.fields) {
			t.Errorf("%s %v: %+v", tc.path, tc.q, ae)
		}
		if tc.status == 422 && len(ae.Fields) > 0 && ae.Fields[0].Code == "" {
			t.Errorf("%s: field error without code: %+v", tc.path, ae.Fields)
		}
		if !strings.Contains(err.Error(), ae.RequestID) || ae.RequestID == "" {
			t.Errorf("error %q does not carry the request id %q", err, ae.RequestID)
		}
	}
	if st := c.Stats(); st.Retries != 0 || st.Failures != 7 {
		t.Errorf("4xx answers were retried: %+v", st)
	}
}

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2021, 7, 31, 5, 10, 19, 0, time.UTC)
	for _, s := range []string{"2021-07-31T05:10:19Z", "2021-07-31T05:10:19.000Z", "2021-07-31T05:10:19+0000",
		"2021-07-31T07:10:19+02:00", "2021-07-31 05:10:19", "2021-07-31 05:10:19.000", "2021-07-31T05:10:19"} {
		got, ok := ParseTimestamp(s)
		if !ok || !got.Equal(want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v", s, got, ok)
		}
	}
	var ts Timestamp
	if err := ts.UnmarshalJSON([]byte(`"yesterday"`)); err != nil || ts.Raw != "yesterday" || !ts.Time.IsZero() {
		t.Errorf("unparsable timestamp: %+v, %v", ts, err)
	}
	if err := ts.UnmarshalJSON([]byte(`12345`)); err != nil || ts.Raw != "12345" {
		t.Errorf("number timestamp: %+v, %v", ts, err)
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	os.WriteFile(p, []byte("  sk_test_abc\n"), 0o600)
	if s, err := ReadSecretFile(p); err != nil || s.Reveal() != "sk_test_abc" {
		t.Errorf("ReadSecretFile = %v, %v", s, err)
	}
	os.WriteFile(p, []byte("\n"), 0o600)
	if _, err := ReadSecretFile(p); schema.ErrorCodeOf(err) != schema.EInvalid {
		t.Errorf("empty file: %v", err)
	}
	os.WriteFile(p, []byte("sk_a\nsk_b\n"), 0o600)
	if _, err := ReadSecretFile(p); err == nil || strings.Contains(err.Error(), "sk_a") {
		t.Errorf("two lines: %v", err)
	}
	env := map[string]string{"WORKOS_API_KEY": "sk_env"}
	if s, err := SecretFromEnv(func(k string) string { return env[k] }, "WORKOS_API_KEY"); err != nil || s.Reveal() != "sk_env" {
		t.Errorf("SecretFromEnv = %v, %v", s, err)
	}
	if _, err := SecretFromEnv(func(string) string { return "" }, "WORKOS_API_KEY"); err == nil || !strings.Contains(err.Error(), "WORKOS_API_KEY") {
		t.Errorf("missing env: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{APIKey: "k", BaseURL: "api.workos.com"},
		{APIKey: "k", BaseURL: "ftp://x"},
		{APIKey: "k", PageSize: 101},
		{APIKey: "k", Order: "normal"},
	} {
		if _, err := New(cfg); schema.ErrorCodeOf(err) != schema.EInvalid {
			t.Errorf("New(%+v) = %v, want invalid", cfg, err)
		}
	}
}

func FuzzVerifySignature(f *testing.F) {
	f.Add("t=1767225600000, v1=947fa6dcf17367faca35f3d60ec4462c189b7a664e542731db9bca227d40987d", []byte(`{"id":"x"}`))
	f.Add("t=,v1=", []byte{})
	f.Add(",,,=,t=-1", []byte("{"))
	now := time.UnixMilli(1767225600000)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifySignature(header, body, "whsec", DefaultTolerance, now)
		if err == nil && (!strings.Contains(header, "t=") || !strings.Contains(header, "v1=")) {
			t.Fatalf("accepted %q", header)
		}
	})
}

func FuzzErrorBody(f *testing.F) {
	f.Add("application/json", `{"message":"Validation failed","errors":[{"field":"directory","code":"x"}]}`)
	f.Add("text/html", "<html>")
	f.Add("application/json", `"Ratelimited"`)
	f.Fuzz(func(t *testing.T, ct, body string) {
		res := &http.Response{StatusCode: 500, Header: http.Header{"Content-Type": {ct}}}
		e := newAPIError("GET", "/x", res, []byte(body))
		if e.Status != 500 || len(e.Body) > maxErrorBody {
			t.Fatalf("%+v", e)
		}
		_ = e.Error()
	})
}
