package workostest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPaginate(t *testing.T) {
	ids := []string{"a1", "a2", "a3", "a4", "a5"}
	for _, tc := range []struct {
		name          string
		p             listParams
		legacy        bool
		page          []string
		before, after string
	}{
		{"desc first page", listParams{limit: 2, order: "desc"}, false, []string{"a5", "a4"}, "", "a4"},
		{"desc after", listParams{limit: 2, order: "desc", after: "a4"}, false, []string{"a3", "a2"}, "a3", "a2"},
		{"desc last page", listParams{limit: 2, order: "desc", after: "a2"}, false, []string{"a1"}, "a1", ""},
		{"desc before is adjacent", listParams{limit: 2, order: "desc", before: "a2"}, false, []string{"a4", "a3"}, "a4", "a3"},
		{"asc first page", listParams{limit: 2, order: "asc"}, false, []string{"a1", "a2"}, "", "a2"},
		{"asc after", listParams{limit: 2, order: "asc", after: "a2"}, false, []string{"a3", "a4"}, "a3", "a4"},
		{"asc before is adjacent", listParams{limit: 2, order: "asc", before: "a5"}, false, []string{"a3", "a4"}, "a3", "a4"},
		{"deleted cursor still works", listParams{limit: 2, order: "desc", after: "a35"}, false, []string{"a3", "a2"}, "a3", "a2"},
		{"all in one page", listParams{limit: 10, order: "desc"}, false, []string{"a5", "a4", "a3", "a2", "a1"}, "", ""},
		// Legacy: the newest page points back with before, after is null.
		{"normal first page", listParams{limit: 2, order: "normal"}, false, []string{"a5", "a4"}, "a4", ""},
		{"normal before goes older", listParams{limit: 2, order: "normal", before: "a4"}, false, []string{"a3", "a2"}, "a2", "a3"},
		{"legacy switch on desc", listParams{limit: 2, order: "desc"}, true, []string{"a5", "a4"}, "a4", ""},
	} {
		page, before, after := paginate(ids, tc.p, tc.legacy)
		if !slices.Equal(page, tc.page) || before != tc.before || after != tc.after {
			t.Errorf("%s: %v before=%q after=%q; want %v %q %q", tc.name, page, before, after, tc.page, tc.before, tc.after)
		}
	}
}

func TestIDsSortByCreation(t *testing.T) {
	g := newIDGen(1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 5000 {
		id := g.next("directory_user", now.Add(time.Duration(i/1000)*time.Millisecond))
		if len(id) != len("directory_user_")+26 || id <= prev {
			t.Fatalf("id %d %q not after %q", i, id, prev)
		}
		prev = id
	}
}

// call sends a request to the fake with the right key unless key says otherwise.
func call(t *testing.T, s *Server, method, path, key string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	if key == "" {
		key = s.APIKey()
	}
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

func TestAuthAndHeaders(t *testing.T) {
	s := Start(t, Options{})
	status, h, body := call(t, s, "GET", "/directories", "sk_test_wrong", nil)
	if status != 401 || string(body) != `{"message":"Unauthorized"}` || h.Get("X-Request-Id") == "" ||
		h.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("401: %d %s %v", status, body, h)
	}
	status, _, body = call(t, s, "GET", "/directories", "", nil)
	if status != 200 || string(body) != `{"object":"list","data":[],"list_metadata":{"before":null,"after":null}}` {
		t.Errorf("empty list: %d %s", status, body)
	}
	if s.Count(CountDirectories) != 2 {
		t.Errorf("count = %d", s.Count(CountDirectories))
	}
}

func TestEventsFilterForms(t *testing.T) {
	s := Start(t, Options{})
	d := s.CreateDirectory(DirectorySpec{})
	u, _ := s.CreateUser(d.ID, UserSpec{Email: "a@b.example"})
	s.DeleteUser(u.ID)
	get := func(q string) []string {
		status, _, body := call(t, s, "GET", "/events?"+q, "", nil)
		if status != 200 {
			t.Fatalf("%s: %d %s", q, status, body)
		}
		var out struct {
			Data []struct{ ID, Event string }
		}
		json.Unmarshal(body, &out)
		var names []string
		for _, e := range out.Data {
			names = append(names, e.Event)
		}
		return names
	}
	want := []string{"dsync.user.created", "dsync.user.deleted"}
	for _, q := range []string{
		"events=dsync.user.created&events=dsync.user.deleted",
		"events=dsync.user.created,dsync.user.deleted",
		"events%5B%5D=dsync.user.created&events%5B%5D=dsync.user.deleted",
		"events=dsync.user.deleted,dsync.user.created&order=desc", // order is ignored
	} {
		if got := get(q); !slices.Equal(got, want) {
			t.Errorf("%s: %v", q, got)
		}
	}
	evs := s.Events()
	if got := get("events=dsync.user.created,dsync.user.deleted,dsync.activated&before=" + evs[2].ID + "&limit=1"); !slices.Equal(got, []string{"dsync.user.created"}) {
		t.Errorf("before: %v", got)
	}
	if got := get("events=dsync.user.created&organization_id=org_other"); len(got) != 0 {
		t.Errorf("organization filter: %v", got)
	}
	start := url.QueryEscape(evs[2].At.Add(time.Millisecond).Format(time.RFC3339Nano))
	if got := get("events=dsync.user.created,dsync.user.deleted&range_start=" + start); len(got) > 1 {
		t.Errorf("range_start: %v", got)
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Start(t, Options{RateLimit: true, RetryAfter: "1", Now: func() time.Time { return now }})
	res := s.MustSeed(t, SeedSpec{Users: 3, Groups: 1})
	path := "/directory_users?directory=" + res.Directory.ID
	for i := range 4 {
		if status, _, _ := call(t, s, "GET", path, "", nil); status != 200 {
			t.Fatalf("request %d: %d", i, status)
		}
	}
	// The group's members count against the same directory.
	status, h, body := call(t, s, "GET", "/directory_users?group="+res.GroupIDs[0], "", nil)
	if status != 429 || string(body) != "Ratelimited" || h.Get("Retry-After") != "1" {
		t.Fatalf("5th request: %d %q %v", status, body, h)
	}
	if status, _, _ := call(t, s, "GET", "/directory_groups?directory="+res.Directory.ID, "", nil); status != 200 {
		t.Errorf("groups are not limited: %d", status)
	}
	now = now.Add(time.Second)
	if status, _, _ := call(t, s, "GET", path, "", nil); status != 200 {
		t.Errorf("a second later: %d", status)
	}
}

// The per-key limit (§7.3, 6,000 requests a minute in production) covers
// every endpoint and answers the JSON rate_limit_exceeded body, not the bare
// word of /directory_users.
// With EventRetention, events older than it are gone from the Events API
// (90 days in production, §5.1), even after a cursor that names one.
func TestEventRetention(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Start(t, Options{EventRetention: 90 * 24 * time.Hour, Now: func() time.Time { return now }})
	d := s.CreateDirectory(DirectorySpec{})
	u, _ := s.CreateUser(d.ID, UserSpec{Email: "a@b.example"})
	first := s.LastEventID()
	now = now.Add(60 * 24 * time.Hour)
	s.DeleteUser(u.ID)
	now = now.Add(31 * 24 * time.Hour) // the creation is 91 days old, the deletion 31
	for _, q := range []string{"", "&after=" + first} {
		status, _, body := call(t, s, "GET", "/events?events=dsync.user.created,dsync.user.deleted"+q, "", nil)
		var out struct{ Data []struct{ Event string } }
		if status != 200 || json.Unmarshal(body, &out) != nil || len(out.Data) != 1 || out.Data[0].Event != "dsync.user.deleted" {
			t.Errorf("%q: %d %s; want only the deletion", q, status, body)
		}
	}
	if len(s.Events()) != 3 {
		t.Error("the Go API still lists every event")
	}
}

func TestGlobalRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := Start(t, Options{KeyRateLimit: 3, RetryAfter: "7", Now: func() time.Time { return now }})
	res := s.MustSeed(t, SeedSpec{Users: 3, Groups: 1})
	for i, path := range []string{"/directories", "/directory_groups?directory=" + res.Directory.ID, "/directory_users?directory=" + res.Directory.ID} {
		if status, _, body := call(t, s, "GET", path, "", nil); status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	status, h, body := call(t, s, "GET", "/directories/"+res.Directory.ID, "", nil)
	if status != 429 || string(body) != `{"message":"Too many requests.","code":"rate_limit_exceeded"}` || h.Get("Retry-After") != "7" {
		t.Fatalf("4th request in the minute: %d %s %v", status, body, h)
	}
	if status, _, _ := call(t, s, "GET", "/_fake/counts", "", nil); status != 200 {
		t.Errorf("the control API is not rate limited: %d", status)
	}
	now = now.Add(time.Minute)
	if status, _, _ := call(t, s, "GET", "/directories", "", nil); status != 200 {
		t.Errorf("a minute later: %d", status)
	}
}

func TestControlAPI(t *testing.T) {
	s := Start(t, Options{})
	var seed SeedResult
	status, _, body := call(t, s, "POST", "/_fake/seed", "", SeedSpec{Users: 5, Groups: 2})
	if status != 200 || json.Unmarshal(body, &seed) != nil || len(seed.UserIDs) != 5 {
		t.Fatalf("seed: %d %s", status, body)
	}
	uid, gid := seed.UserIDs[0], seed.GroupIDs[1]
	steps := []struct {
		method, path string
		body         any
		want         int
	}{
		{"PATCH", "/_fake/users/" + uid, map[string]any{"first_name": "Ada", "custom_attributes": map[string]any{"job_title": "CTO", "employee_type": nil}}, 200},
		{"PUT", "/_fake/groups/" + gid + "/members/" + uid, nil, 204},
		{"PATCH", "/_fake/groups/" + gid, map[string]string{"name": "Renamed"}, 204},
		{"POST", "/_fake/users/" + uid + "/deactivate", nil, 204},
		{"DELETE", "/_fake/groups/" + gid + "/members/" + uid, nil, 204},
		{"DELETE", "/_fake/users/" + seed.UserIDs[1], nil, 204},
		{"DELETE", "/_fake/users/nope", nil, 404},
		{"POST", "/_fake/faults", Fault{Path: "/directories", Status: 503, Count: 1}, 204},
	}
	for _, st := range steps {
		if status, _, body := call(t, s, st.method, st.path, "", st.body); status != st.want {
			t.Fatalf("%s %s: %d %s", st.method, st.path, status, body)
		}
	}
	u := s.Users(seed.Directory.ID)[0]
	if u.FirstName != "Ada" || u.State != "inactive" || u.CustomAttributes["job_title"] != "CTO" || u.CustomAttributes["employee_type"] != nil {
		t.Errorf("user after patches: %+v", u)
	}
	var names []string
	for _, ev := range s.Events() {
		names = append(names, ev.Name)
	}
	want := []string{"dsync.activated", "dsync.user.updated", "dsync.group.user_added", "dsync.group.updated",
		"dsync.user.updated", "dsync.group.user_removed", "dsync.user.deleted"}
	if !slices.Equal(names, want) {
		t.Errorf("events = %v, want %v", names, want)
	}
	if !strings.Contains(string(s.Events()[1].Body), `"previous_attributes":{"custom_attributes":{"employee_type":"Full Time","job_title":"Specialist"},"first_name":"First0"}`) {
		t.Errorf("previous_attributes: %s", s.Events()[1].Body)
	}
	if status, _, _ := call(t, s, "GET", "/directories", "", nil); status != 503 {
		t.Errorf("fault not applied: %d", status)
	}
	status, _, body = call(t, s, "GET", "/_fake/counts", "", nil)
	if status != 200 || !strings.Contains(string(body), `"GET /directories":1`) || strings.Contains(string(body), "_fake") {
		t.Errorf("counts: %s", body)
	}
	if status, _, _ := call(t, s, "POST", "/_fake/seed", "sk_wrong", SeedSpec{}); status != 401 {
		t.Errorf("control API without the key: %d", status)
	}
}

func TestDeleteDirectoryCascades(t *testing.T) {
	s := Start(t, Options{})
	res := s.MustSeed(t, SeedSpec{Users: 20, Groups: 2})
	before := len(s.Events())
	status, h, body := call(t, s, "DELETE", "/directories/"+res.Directory.ID, "", nil)
	if status != 202 || string(body) != "Accepted" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("delete: %d %q %v", status, body, h)
	}
	evs := s.Events()[before:]
	if len(evs) != 1 || evs[0].Name != "dsync.deleted" {
		t.Errorf("events = %v, want one dsync.deleted", evs)
	}
	if len(s.Members(res.GroupIDs[0])) != 0 || len(s.Users(res.Directory.ID)) != 0 {
		t.Error("users or memberships survived")
	}
	status, _, body = call(t, s, "GET", "/directories/"+res.Directory.ID, "", nil)
	want := fmt.Sprintf(`{"message":"Directory not found: '%s'.","code":"entity_not_found","entity_id":"%s"}`, res.Directory.ID, res.Directory.ID)
	if status != 404 || string(body) != want {
		t.Errorf("get after delete: %d %s", status, body)
	}
}
