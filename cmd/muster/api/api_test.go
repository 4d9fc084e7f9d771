package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// seeded is an API over two organisations: acme's source hr applied 100
// people in group staff, then a drop of 60 was held (it would remove 40%);
// globex's source dir lists 5 people in group board.
type seeded struct {
	*testAPI
	applied, held, globexDrop int64
}

func mustSeeded(t testing.TB, edit ...func(*Config)) *seeded {
	t.Helper()
	a := MustAPI(t, edit...)
	hr := ingest.SourceConfig{Name: "hr", Kind: store.KindCSV}
	s := &seeded{testAPI: a}
	s.applied = a.ingest(acme, hr, "day1.csv", people(100, "a", "acme.example", "staff")).DropID
	rep := a.ingest(acme, hr, "day2.csv", people(60, "a", "acme.example", "staff"))
	if rep.Decision != ingest.Held {
		t.Fatalf("day2 was %s, want held", rep.Decision)
	}
	s.held = rep.DropID
	s.globexDrop = a.ingest(globex, csvSource("dir"), "globex.csv", people(5, "g", "globex.example", "board")).DropID
	return s
}

// reads are every GET of an organisation's resources, as the acme seed
// answers them.
func (s *seeded) reads() []string {
	return []string{"/v1/sources", "/v1/sources/hr", "/v1/drops", fmt.Sprintf("/v1/drops/%d", s.applied),
		fmt.Sprintf("/v1/drops/%d/changes", s.applied), "/v1/recipients", "/v1/recipients/a00001@acme.example",
		"/v1/groups", "/v1/export?group=staff"}
}

func TestHealthAndReadiness(t *testing.T) {
	failing := errors.New("the SFTP server is not listening")
	var sftpErr error
	a := MustAPI(t, func(c *Config) {
		c.Checks = []Check{{Name: "sftp", Check: func(context.Context) error { return sftpErr }}}
	})
	a.mustStatus("GET", "/healthz", "", "", 200, "")
	var ready struct {
		Ready  bool
		Checks []checkResult
	}
	a.mustGet("", "/readyz", &ready)
	if !ready.Ready || len(ready.Checks) != 2 || !ready.Checks[0].OK || ready.Checks[0].Name != "store" {
		t.Fatalf("readyz: %+v", ready)
	}
	sftpErr = failing
	r := a.mustStatus("GET", "/readyz", "", "", http.StatusServiceUnavailable, "")
	if !strings.Contains(string(r.body), `"ok": false`) || !strings.Contains(string(r.body), failing.Error()) {
		t.Fatalf("readyz does not say which check failed: %s", r.body)
	}
	a.st.Close() // the store gone: not ready, without its detail
	sftpErr = nil
	r = a.mustStatus("GET", "/readyz", "", "", http.StatusServiceUnavailable, "")
	if !strings.Contains(string(r.body), "the store cannot be read") || strings.Contains(string(r.body), "muster.db") {
		t.Fatalf("readyz on a closed store: %s", r.body)
	}
	a.mustStatus("POST", "/healthz", "", "", http.StatusMethodNotAllowed, schema.EInvalid)
}

func TestReadinessFollowsScheduledRuns(t *testing.T) {
	runs := []RunStatus{{Org: acme, Source: "dir", Err: ""}}
	a := MustAPI(t, func(c *Config) { c.Checks = []Check{RunsCheck(func() []RunStatus { return runs })} })
	a.mustStatus("GET", "/readyz", "", "", 200, "")
	runs[0].Err = "workos: 503"
	r := a.mustStatus("GET", "/readyz", "", "", http.StatusServiceUnavailable, "")
	// It names the failing sources (issue 11: operators look there), not
	// their errors.
	if !strings.Contains(string(r.body), `"schedule"`) || !strings.Contains(string(r.body), acme+"/dir") ||
		strings.Contains(string(r.body), "503") {
		t.Fatalf("readyz must name the failing check and sources, not the errors: %s", r.body)
	}
}

func TestTokensRefused(t *testing.T) {
	s := mustSeeded(t)
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer mst_not-a-real-token",
		"Bearer " + s.secret["acme-admin"] + "x", "Token " + s.secret["acme-admin"]} {
		req, _ := http.NewRequest("GET", s.url+"/v1/sources", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		r := s.send(req)
		if r.status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
			t.Errorf("Authorization %q: %s, want 401 unauthorized", h, r)
		}
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: no WWW-Authenticate", h)
		}
		if strings.Contains(string(r.body), "acme") || strings.Contains(string(r.body), "hr") {
			t.Errorf("a refused request shows data: %s", r.body)
		}
	}
	// The scheme is case-insensitive (RFC 7235).
	req, _ := http.NewRequest("GET", s.url+"/v1/sources", nil)
	req.Header.Set("Authorization", "bearer "+s.secret["acme-viewer"])
	if r := s.send(req); r.status != 200 {
		t.Fatalf("lower-case bearer: %s", r)
	}
}

func TestEveryEndpointEveryRole(t *testing.T) {
	s := mustSeeded(t)
	for _, path := range s.reads() {
		for _, tok := range []string{"acme-viewer", "acme-admin"} {
			s.mustStatus("GET", path, tok, "", 200, "")
		}
		for _, tok := range []string{"ops", "ops-viewer"} {
			s.mustStatus("GET", strings.Replace(path, "/v1/", "/v1/orgs/acme/", 1), tok, "", 200, "")
			// An operator token must name the organisation.
			s.mustStatus("GET", path, tok, "", http.StatusBadRequest, schema.EInvalid)
		}
	}
	writes := []struct{ path, body string }{
		{fmt.Sprintf("/v1/drops/%d/approve", s.held), `{"dry_run": true}`},
		{fmt.Sprintf("/v1/drops/%d/reject", s.held), `{"dry_run": true, "reason": "checking"}`},
		{"/v1/sources/hr/rollback", fmt.Sprintf(`{"to": %d, "dry_run": true}`, s.applied)},
		{"/v1/sources/hr/sync", ""},
	}
	for _, w := range writes {
		for _, tok := range []string{"acme-viewer", "ops-viewer"} {
			path := w.path
			if strings.HasPrefix(tok, "ops") {
				path = strings.Replace(path, "/v1/", "/v1/orgs/acme/", 1)
			}
			r := s.mustStatus("POST", path, tok, w.body, http.StatusForbidden, schema.EForbidden)
			if !strings.Contains(r.errorMessage(), "viewer") {
				t.Errorf("403 does not say why: %s", r.body)
			}
		}
	}
	// Admins may: dry runs answer what would happen and change nothing.
	var rep ingest.Report
	r := s.mustStatus("POST", writes[0].path, "acme-admin", writes[0].body, 200, "")
	mustJSON(t, r, &rep)
	if !rep.DryRun || rep.Decision != ingest.Applied {
		t.Fatalf("dry-run approve: %+v", rep)
	}
	s.mustStatus("POST", writes[1].path, "acme-admin", writes[1].body, 200, "")
	s.mustStatus("POST", strings.Replace(writes[2].path, "/v1/", "/v1/orgs/acme/", 1), "ops", writes[2].body, 200, "")
	// hr is a csv source: it cannot be pulled.
	s.mustStatus("POST", writes[3].path, "acme-admin", "", http.StatusBadRequest, schema.EInvalid)
	var d struct{ Drop store.Drop }
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d", s.held), &d)
	if d.Drop.Status != store.DropHeld {
		t.Fatalf("dry runs changed the held drop: %s", d.Drop.Status)
	}
}

func TestOrganisationsSeeNothingOfEachOther(t *testing.T) {
	s := mustSeeded(t)
	// Every read of acme's objects by globex tokens: 404, as if nothing
	// existed, in the same words as for something that does not exist.
	for _, path := range s.reads() {
		for _, tok := range []string{"globex-viewer", "globex-admin"} {
			named := strings.Replace(path, "/v1/", "/v1/orgs/acme/", 1)
			r := s.mustStatus("GET", named, tok, "", http.StatusNotFound, schema.ENotFound)
			if r.errorMessage() != `no organisation "acme"` {
				t.Errorf("GET %s as %s: %q", named, tok, r.errorMessage())
			}
			if strings.Contains(string(r.body), "a00001") {
				t.Errorf("leak: %s", r.body)
			}
		}
	}
	s.mustStatus("GET", "/v1/orgs/nosuch/sources", "globex-admin", "", http.StatusNotFound, schema.ENotFound)
	nosuch := s.do("GET", "/v1/orgs/nosuch/sources", "globex-admin", "")
	acmes := s.do("GET", "/v1/orgs/acme/sources", "globex-admin", "")
	if strings.Replace(string(nosuch.body), "nosuch", "acme", 1) != string(acmes.body) {
		t.Fatalf("another organisation is told apart from a missing one:\n%s\n%s", nosuch.body, acmes.body)
	}
	// Object ids of acme under globex's own organisation: not found either.
	for _, path := range []string{fmt.Sprintf("/v1/drops/%d", s.applied), fmt.Sprintf("/v1/drops/%d/changes", s.held),
		"/v1/recipients/a00001@acme.example", "/v1/sources/hr", "/v1/export?group=staff", "/v1/recipients?group=staff"} {
		s.mustStatus("GET", path, "globex-admin", "", http.StatusNotFound, schema.ENotFound)
	}
	// Writes: refused as not found, and nothing happens.
	for _, w := range []string{fmt.Sprintf("/v1/drops/%d/approve", s.held), fmt.Sprintf("/v1/drops/%d/reject", s.held)} {
		s.mustStatus("POST", w, "globex-admin", "", http.StatusNotFound, schema.ENotFound)
		s.mustStatus("POST", strings.Replace(w, "/v1/", "/v1/orgs/acme/", 1), "globex-admin", "", http.StatusNotFound, schema.ENotFound)
	}
	s.mustStatus("POST", "/v1/sources/hr/rollback", "globex-admin", fmt.Sprintf(`{"to": %d}`, s.applied), http.StatusNotFound, schema.ENotFound)
	var d struct{ Drop store.Drop }
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d", s.held), &d)
	if d.Drop.Status != store.DropHeld {
		t.Fatalf("globex changed acme's drop: %s", d.Drop.Status)
	}
	// Lists hold only the token's own organisation.
	var drops struct{ Drops []store.Drop }
	s.mustGet("globex-viewer", "/v1/drops", &drops)
	if len(drops.Drops) != 1 || drops.Drops[0].ID != s.globexDrop {
		t.Fatalf("globex drops: %+v", drops.Drops)
	}
	var recs struct{ Recipients []recipientView }
	s.mustGet("globex-viewer", "/v1/recipients?status=all&limit=1000", &recs)
	for _, r := range recs.Recipients {
		if !strings.HasSuffix(r.Key, "@globex.example") {
			t.Fatalf("globex sees %s", r.Key)
		}
	}
	var orgs struct{ Orgs []struct{ Name string } }
	s.mustGet("globex-viewer", "/v1/orgs", &orgs)
	if len(orgs.Orgs) != 1 || orgs.Orgs[0].Name != globex {
		t.Fatalf("globex's orgs: %+v", orgs)
	}
	s.mustGet("ops-viewer", "/v1/orgs", &orgs)
	if len(orgs.Orgs) != 2 {
		t.Fatalf("operator's orgs: %+v", orgs)
	}
	// The operator token sees both, naming each.
	s.mustGet("ops-viewer", "/v1/orgs/globex/drops", &drops)
	if len(drops.Drops) != 1 || drops.Drops[0].ID != s.globexDrop {
		t.Fatalf("operator, globex drops: %+v", drops.Drops)
	}
	s.mustStatus("GET", fmt.Sprintf("/v1/orgs/globex/drops/%d", s.applied), "ops", "", http.StatusNotFound, schema.ENotFound)
}

func TestApproveHeldDropThroughTheAPI(t *testing.T) {
	s := mustSeeded(t)
	approve := fmt.Sprintf("/v1/drops/%d/approve", s.held)
	s.mustStatus("POST", approve, "acme-viewer", "", http.StatusForbidden, schema.EForbidden)
	var changes struct {
		Changes []ingest.ChangeLine
		Next    string
	}
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d/changes?limit=30", s.held), &changes)
	if len(changes.Changes) != 30 || changes.Changes[0].Op != "removed" || changes.Changes[0].Key != "a00060@acme.example" || changes.Next == "" {
		t.Fatalf("held changes, page 1: %+v", changes)
	}
	after := changes.Next
	changes.Changes, changes.Next = nil, ""
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d/changes?limit=30&after=%s", s.held, after), &changes)
	if len(changes.Changes) != 10 || changes.Next != "" {
		t.Fatalf("held changes, page 2: %+v", changes)
	}
	var rep ingest.Report
	mustJSON(t, s.mustStatus("POST", approve, "acme-admin", "", 200, ""), &rep)
	if rep.Decision != ingest.Applied || rep.Counts.Removed != 40 || rep.DryRun {
		t.Fatalf("approve: %+v", rep)
	}
	var recs struct{ Recipients []recipientView }
	s.mustGet("acme-viewer", "/v1/recipients?limit=1000", &recs)
	if len(recs.Recipients) != 60 {
		t.Fatalf("%d active after approving, want 60", len(recs.Recipients))
	}
	var d struct {
		Drop   store.Drop
		Report ingest.Report
	}
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d", s.held), &d)
	if d.Drop.Status != store.DropApplied || d.Drop.DecidedBy != "api:acme-admin" || !strings.Contains(d.Report.Reason, "api:acme-admin") {
		t.Fatalf("approved drop: %+v %q", d.Drop, d.Report.Reason)
	}
	// The history of a removed person says who approved.
	var ex ingest.Explanation
	s.mustGet("acme-viewer", "/v1/recipients/a00099@acme.example", &ex)
	if len(ex.History) == 0 || ex.History[0].Kind != ingest.HistRemoved || ex.History[0].By != "api:acme-admin" {
		t.Fatalf("history: %+v", ex.History)
	}
	if ex.Recipient.Status != store.StatusGone {
		t.Fatalf("status %s, want gone", ex.Recipient.Status)
	}
	// Deciding twice is a conflict.
	s.mustStatus("POST", approve, "acme-admin", "", http.StatusConflict, schema.EConflict)
	s.mustStatus("POST", fmt.Sprintf("/v1/drops/%d/reject", s.held), "acme-admin", "", http.StatusConflict, schema.EConflict)
	s.mustStatus("POST", "/v1/drops/99999/approve", "acme-admin", "", http.StatusNotFound, schema.ENotFound)
}

func TestRejectAndRollbackThroughTheAPI(t *testing.T) {
	s := mustSeeded(t)
	var rep ingest.Report
	mustJSON(t, s.mustStatus("POST", fmt.Sprintf("/v1/orgs/acme/drops/%d/reject", s.held), "ops",
		`{"reason": "truncated export"}`, 200, ""), &rep)
	if rep.Decision != ingest.Rejected || !strings.Contains(rep.Reason, "truncated export") || !strings.Contains(rep.Reason, "api:ops") {
		t.Fatalf("reject: %+v", rep)
	}
	var d struct{ Drop store.Drop }
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d", s.held), &d)
	if d.Drop.Status != store.DropRejected || d.Drop.DecidedBy != "api:ops" {
		t.Fatalf("rejected drop: %+v", d.Drop)
	}
	// A third day adds five people; rolling back to day 1 takes them out.
	third := s.ingest(acme, ingest.SourceConfig{Name: "hr", Kind: store.KindCSV}, "day3.csv", people(105, "a", "acme.example", "staff"))
	if third.Decision != ingest.Applied {
		t.Fatalf("day3: %s", third.Decision)
	}
	s.mustStatus("POST", "/v1/sources/hr/rollback", "acme-admin", `{}`, http.StatusBadRequest, schema.EInvalid)
	s.mustStatus("POST", "/v1/sources/hr/rollback", "acme-admin", fmt.Sprintf(`{"to": %d}`, s.held), http.StatusBadRequest, schema.EInvalid)
	s.mustStatus("POST", "/v1/sources/nosuch/rollback", "acme-admin", fmt.Sprintf(`{"to": %d}`, s.applied), http.StatusNotFound, schema.ENotFound)
	mustJSON(t, s.mustStatus("POST", "/v1/sources/hr/rollback", "acme-admin", fmt.Sprintf(`{"to": %d}`, s.applied), 200, ""), &rep)
	if rep.Decision != ingest.Applied || rep.Counts.Removed != 5 {
		t.Fatalf("rollback: %+v", rep)
	}
	var ex ingest.Explanation
	s.mustGet("acme-viewer", "/v1/recipients/a00102@acme.example", &ex)
	if ex.Recipient.Status != store.StatusGone || ex.History[0].By != "api:acme-admin" || ex.History[0].DropID != rep.DropID {
		t.Fatalf("after rollback: %s %+v", ex.Recipient.Status, ex.History)
	}
}

func TestBadRequests(t *testing.T) {
	s := mustSeeded(t)
	approve := fmt.Sprintf("/v1/drops/%d/approve", s.held)
	reject := fmt.Sprintf("/v1/drops/%d/reject", s.held)
	for _, body := range []string{`{"dry_run": true, "force": true}`, `{"dry_run": "yes"}`, `{"dry_run": tru`, `[1,2]`,
		`{"dry_run": true} {"dry_run": false}`, `{"dry_run": true} x`, `"approve"`, `{"reason": "approvals take none"}`} {
		r := s.mustStatus("POST", approve, "acme-admin", body, http.StatusBadRequest, schema.EInvalid)
		if strings.Contains(r.errorMessage(), "internal") || r.errorMessage() == "" {
			t.Errorf("body %s: unclear message %q", body, r.errorMessage())
		}
	}
	r := s.mustStatus("POST", reject, "acme-admin", `{"reason": "x", "reasons": "y"}`, http.StatusBadRequest, schema.EInvalid)
	if !strings.Contains(r.errorMessage(), `"reasons"`) {
		t.Fatalf("unknown field not named: %s", r.body)
	}
	// Not JSON.
	req, _ := http.NewRequest("POST", s.url+reject, strings.NewReader("reason=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.secret["acme-admin"])
	if r := s.send(req); r.status != http.StatusUnsupportedMediaType || r.errorCode() != "invalid" {
		t.Fatalf("form body: %s", r)
	}
	// Too large.
	big := `{"reason": "` + strings.Repeat("x", 70<<10) + `"}`
	s.mustStatus("POST", reject, "acme-admin", big, http.StatusRequestEntityTooLarge, schema.EInvalid)
	// Nothing of it happened.
	var d struct{ Drop store.Drop }
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d", s.held), &d)
	if d.Drop.Status != store.DropHeld {
		t.Fatalf("a bad request changed the drop: %s", d.Drop.Status)
	}
	// Bad parameters.
	for _, path := range []string{"/v1/drops/abc", "/v1/drops?limit=0", "/v1/drops?limit=5000", "/v1/drops?status=won",
		"/v1/drops?before=-1", "/v1/recipients?status=happy", "/v1/recipients/not-an-email", "/v1/export",
		"/v1/export?group=staff&format=xlsx"} {
		s.mustStatus("GET", path, "acme-viewer", "", http.StatusBadRequest, schema.EInvalid)
	}
	for _, path := range []string{"/v1/drops/424242", "/v1/sources/nosuch", "/v1/recipients/nobody@acme.example",
		"/v1/export?group=nosuch", "/v1/recipients?group=nosuch", "/v1/nosuch", "/nosuch"} {
		s.mustStatus("GET", path, "acme-viewer", "", http.StatusNotFound, schema.ENotFound)
	}
	r = s.mustStatus("DELETE", "/v1/drops", "acme-admin", "", http.StatusMethodNotAllowed, schema.EInvalid)
	if r.header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("Allow: %q", r.header.Get("Allow"))
	}
	s.mustStatus("GET", approve, "acme-admin", "", http.StatusMethodNotAllowed, schema.EInvalid)
}

func TestSourcesAndSync(t *testing.T) {
	var calls []string
	sync := func(_ context.Context, org, source, by string) error {
		calls = append(calls, org+"/"+source+" by "+by)
		if source == "busy" {
			return schema.Errorf(schema.EConflict, "a pull of %s is running", source)
		}
		return nil
	}
	configured := []ConfiguredSource{{Org: acme, Name: "hr", Kind: store.KindCSV}, {Org: acme, Name: "dir", Kind: store.KindWorkOS},
		{Org: acme, Name: "busy", Kind: store.KindWorkOS}, {Org: globex, Name: "gdir", Kind: store.KindWorkOS}}
	s := mustSeeded(t, func(c *Config) { c.Sources = configured })
	var list struct{ Sources []sourceView }
	s.mustGet("acme-viewer", "/v1/sources", &list)
	// By name: busy and dir configured, never synced; hr held.
	if len(list.Sources) != 3 || list.Sources[2].Name != "hr" || list.Sources[2].HeldDrops != 1 || list.Sources[2].People != 100 ||
		list.Sources[2].LastSuccess.IsZero() || !list.Sources[2].Configured || list.Sources[2].State != "held" ||
		list.Sources[2].Settings.Name != "hr" || list.Sources[1].Name != "dir" || list.Sources[1].Configured != true ||
		list.Sources[1].State != "never synced" {
		t.Fatalf("sources: %+v", list.Sources)
	}
	if list.Sources[1].CanSync {
		t.Fatal("can_sync without a scheduler")
	}
	// Without a scheduler, a WorkOS source cannot be synced: 503 says so.
	r := s.mustStatus("POST", "/v1/sources/dir/sync", "acme-admin", "", http.StatusServiceUnavailable, schema.EUnavailable)
	if !strings.Contains(r.errorMessage(), "not available") {
		t.Fatalf("sync without scheduler: %s", r.body)
	}
	s2 := mustSeeded(t, func(c *Config) { c.Sources, c.Sync = configured, sync })
	s2.mustGet("acme-viewer", "/v1/sources", &list)
	if !list.Sources[1].CanSync || list.Sources[2].CanSync {
		t.Fatalf("can_sync: %+v", list.Sources)
	}
	r = s2.mustStatus("POST", "/v1/sources/dir/sync", "acme-admin", "", http.StatusAccepted, "")
	s2.mustStatus("POST", "/v1/sources/busy/sync", "acme-admin", "", http.StatusConflict, schema.EConflict)
	s2.mustStatus("POST", "/v1/sources/hr/sync", "acme-admin", "", http.StatusBadRequest, schema.EInvalid)
	s2.mustStatus("POST", "/v1/sources/gdir/sync", "acme-admin", "", http.StatusNotFound, schema.ENotFound)
	s2.mustStatus("POST", "/v1/sources/dir/sync", "acme-viewer", "", http.StatusForbidden, schema.EForbidden)
	s2.mustStatus("POST", "/v1/orgs/globex/sources/gdir/sync", "ops", "", http.StatusAccepted, "")
	want := []string{"acme/dir by api:acme-admin", "acme/busy by api:acme-admin", "globex/gdir by api:ops"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("sync calls %q, want %q", calls, want)
	}
	// A configured source with no drop yet is listed, with no drops.
	var drops struct{ Drops []store.Drop }
	s2.mustGet("acme-viewer", "/v1/drops?source=dir", &drops)
	if len(drops.Drops) != 0 {
		t.Fatalf("drops of dir: %+v", drops)
	}
	s2.mustGet("acme-viewer", "/v1/drops?source=hr&status=held", &drops)
	if len(drops.Drops) != 1 || drops.Drops[0].ID != s2.held {
		t.Fatalf("held drops of hr: %+v", drops)
	}
}

func TestOrgWithNothingYet(t *testing.T) {
	a := MustAPI(t)
	var list struct {
		Sources    []sourceView
		Recipients []recipientView
		Groups     []store.Group
		Drops      []store.Drop
	}
	for _, path := range []string{"/v1/sources", "/v1/recipients", "/v1/groups", "/v1/drops"} {
		a.mustGet("acme-viewer", path, &list)
	}
	if len(list.Sources)+len(list.Recipients)+len(list.Groups)+len(list.Drops) != 0 {
		t.Fatalf("an empty organisation lists %+v", list)
	}
	a.mustStatus("GET", "/v1/drops/1", "acme-viewer", "", http.StatusNotFound, schema.ENotFound)
	a.mustStatus("GET", "/v1/orgs/initech/drops", "ops", "", http.StatusNotFound, schema.ENotFound)
}

// /v1/recipients?source=S alone lists the people that source lists (issue
// 11); with group, that source's groups of that name; a configured source
// never synced lists nobody; an unknown one is 404.
func TestRecipientsOfASource(t *testing.T) {
	s := mustSeeded(t, func(c *Config) {
		c.Sources = []ConfiguredSource{{Org: acme, Name: "later", Kind: store.KindWorkOS}}
	})
	s.ingest(acme, ingest.SourceConfig{Name: "board", Kind: store.KindCSV}, "board.csv", people(3, "a", "acme.example", "board"))
	var list struct {
		Recipients []recipientView
	}
	s.mustGet("acme-viewer", "/v1/recipients?source=board&status=all", &list)
	if len(list.Recipients) != 3 || list.Recipients[0].Key != "a00000@acme.example" {
		t.Fatalf("board's people: %+v", list.Recipients)
	}
	s.mustGet("acme-viewer", "/v1/recipients?source=hr&group=staff&limit=500", &list)
	if len(list.Recipients) != 100 {
		t.Fatalf("hr's staff: %d", len(list.Recipients))
	}
	s.mustGet("acme-viewer", "/v1/recipients?source=later", &list)
	if len(list.Recipients) != 0 {
		t.Fatalf("a source never synced: %+v", list.Recipients)
	}
	s.mustStatus("GET", "/v1/recipients?source=nosuch", "acme-viewer", "", http.StatusNotFound, schema.ENotFound)
	s.mustStatus("GET", "/v1/recipients?source=dir", "acme-viewer", "", http.StatusNotFound, schema.ENotFound) // globex's
}
