package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// TestRecipientsPaging10k walks every page of 10,000 recipients and sees
// each exactly once, in key order, with pages of several sizes; a drop
// applied between two pages neither repeats nor skips anyone.
func TestRecipientsPaging10k(t *testing.T) {
	a := MustAPI(t)
	const n = 10000
	recs := people(n, "p", "acme.example", "staff")
	for i := range recs {
		if i%2 == 1 {
			recs[i].Groups = []string{"staff", "odd"}
		}
	}
	if rep := a.ingest(acme, csvSource("hr"), "big.csv", recs); rep.Decision != ingest.Applied || rep.Counts.Added != n {
		t.Fatalf("ingest: %s %+v", rep.Decision, rep.Counts)
	}
	for _, limit := range []int{1000, 333} {
		seen := map[string]int{}
		last, pages := "", 0
		after := ""
		for {
			path := fmt.Sprintf("/v1/recipients?limit=%d", limit)
			if after != "" {
				path += "&after=" + url.QueryEscape(after)
			}
			page := a.recipients("acme-viewer", path)
			pages++
			for _, r := range page.Recipients {
				if r.Key <= last {
					t.Fatalf("limit %d: %s after %s: not in key order", limit, r.Key, last)
				}
				last = r.Key
				seen[r.Key]++
			}
			if page.Next == "" {
				break
			}
			if len(page.Recipients) != limit || page.Next != last {
				t.Fatalf("limit %d: a page of %d with next %q (last %q)", limit, len(page.Recipients), page.Next, last)
			}
			after = page.Next
			if pages == 2 && limit == 333 {
				// Between two pages someone earlier in the order arrives:
				// they are not on the next page, and nobody moves.
				a.ingest(acme, csvSource("late"), "late.csv", []schema.Record{
					{Line: 2, Email: "a-early@acme.example", Key: "a-early@acme.example", Groups: []string{"staff"}}})
			}
		}
		if len(seen) != n {
			t.Fatalf("limit %d: saw %d recipients, want %d", limit, len(seen), n)
		}
		for k, c := range seen {
			if c != 1 {
				t.Fatalf("limit %d: %s seen %d times", limit, k, c)
			}
		}
		if want := (n + limit - 1) / limit; pages != want {
			t.Fatalf("limit %d: %d pages, want %d", limit, pages, want)
		}
	}
	// Filters: a group, a search, a status.
	page := a.recipients("acme-viewer", "/v1/recipients?group=odd&limit=1000")
	if len(page.Recipients) != 1000 || page.Recipients[0].Key != "p00001@acme.example" || page.Next == "" {
		t.Fatalf("group odd: %d, first %+v", len(page.Recipients), page.Recipients[0])
	}
	if g := page.Recipients[0].Groups; len(g) != 2 || g[0].Source != "hr" {
		t.Fatalf("groups of a recipient: %+v", g)
	}
	page = a.recipients("acme-viewer", "/v1/recipients?search="+url.QueryEscape("P0999"))
	if len(page.Recipients) != 10 || page.Next != "" {
		t.Fatalf("search p0999: %d", len(page.Recipients))
	}
	page = a.recipients("acme-viewer", "/v1/recipients?search=First4242+Person")
	if len(page.Recipients) != 1 || page.Recipients[0].Key != "p04242@acme.example" {
		t.Fatalf("search by name: %+v", page.Recipients)
	}
	page = a.recipients("acme-viewer", "/v1/recipients?status=gone")
	if len(page.Recipients) != 0 {
		t.Fatalf("gone: %d", len(page.Recipients))
	}
}

func TestExportAudience(t *testing.T) {
	a := MustAPI(t)
	recs := []schema.Record{
		{Line: 2, Email: "ann@acme.example", Key: "ann@acme.example", FirstName: "=HYPERLINK(\"http://x\")", LastName: "Lee", Groups: []string{"staff"}},
		{Line: 3, Email: "bob@acme.example", Key: "bob@acme.example", FirstName: "Bob", LastName: "+1 555", Groups: []string{"board"}},
		{Line: 4, Email: "cy@acme.example", Key: "cy@acme.example", FirstName: "Cy", LastName: "@home", Groups: []string{"staff", "board"}},
		{Line: 5, Email: "dee@acme.example", Key: "dee@acme.example", FirstName: "Dee", LastName: "Other", Groups: []string{"other"}},
	}
	a.ingest(acme, csvSource("hr"), "people.csv", recs)
	r := a.mustStatus("GET", "/v1/export?group=staff&group=BOARD", "acme-viewer", "", 200, "")
	if ct := r.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"email", "first_name", "last_name"}, {"ann@acme.example", `'=HYPERLINK("http://x")`, "Lee"},
		{"bob@acme.example", "Bob", "'+1 555"}, {"cy@acme.example", "Cy", "'@home"}}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("csv:\n%q\nwant\n%q", rows, want)
	}
	r = a.mustStatus("GET", "/v1/export?group=board&format=json", "acme-viewer", "", 200, "")
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("content type %q", ct)
	}
	var emails []string
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var p map[string]string
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, p["email"])
		if p["last_name"] == "'+1 555" {
			t.Fatal("JSON values are not for spreadsheets: they are kept as they are")
		}
	}
	if strings.Join(emails, ",") != "bob@acme.example,cy@acme.example" {
		t.Fatalf("json export: %q", emails)
	}
	// An audience only of the given source's group.
	r = a.mustStatus("GET", "/v1/export?group=staff&source=nosuch", "acme-viewer", "", http.StatusNotFound, schema.ENotFound)
	if !strings.Contains(r.errorMessage(), "nosuch") {
		t.Fatalf("%s", r.body)
	}
	var groups struct{ Groups []store.Group }
	a.mustGet("acme-viewer", "/v1/groups", &groups)
	if len(groups.Groups) != 3 || groups.Groups[0].Name != "board" || groups.Groups[0].Members != 2 {
		t.Fatalf("groups: %+v", groups.Groups)
	}
}

// recipientPage is a page of GET /v1/recipients.
type recipientPage struct {
	Recipients []recipientView
	Next       string
}

func (a *testAPI) recipients(token, path string) recipientPage {
	a.t.Helper()
	var p recipientPage
	a.mustGet(token, path, &p)
	return p
}

// The JSON objects of groups are built once for every page (the server
// keeps them by id with their organisation): pages come out the same the
// second time, an object kept for another organisation is not used, and a
// group the store does not know is not kept.
func TestGroupObjectsKeptAcrossPages(t *testing.T) {
	a := MustAPI(t)
	recs := people(30, "p", "acme.example", "staff")
	for i := range recs {
		if i%2 == 1 {
			recs[i].Groups = []string{"staff", "odd <&>"}
		}
	}
	if rep := a.ingest(acme, csvSource("hr"), "g.csv", recs); rep.Decision != ingest.Applied {
		t.Fatalf("ingest: %s", rep.Decision)
	}
	first := a.do("GET", "/v1/recipients?limit=20", "acme-viewer", "")
	if first.status != 200 {
		t.Fatal(first)
	}
	objs := &a.srv.groupObjs
	if len(objs.m) != 2 {
		t.Fatalf("kept %d group objects, want 2: %v", len(objs.m), objs.m)
	}
	want := map[string]bool{`{"source":"hr","name":"staff"}`: true, `{"source":"hr","name":"odd \u003c\u0026\u003e"}`: true}
	var id int64
	for gid, o := range objs.m {
		if !want[string(o.json)] || o.org == 0 {
			t.Fatalf("group %d kept as %s (org %d)", gid, o.json, o.org)
		}
		id = gid
	}
	if again := a.do("GET", "/v1/recipients?limit=20", "acme-viewer", ""); !bytes.Equal(again.body, first.body) {
		t.Fatalf("second page differs:\n%s\n%s", again.body, first.body)
	}
	// An object kept under another organisation is not this one's.
	org := objs.m[id].org
	objs.put(org+1, id, []byte(`{"source":"x","name":"y"}`))
	if again := a.do("GET", "/v1/recipients?limit=20", "acme-viewer", ""); !bytes.Equal(again.body, first.body) {
		t.Fatalf("page with another organisation's object differs:\n%s\n%s", again.body, first.body)
	}
	if objs.m[id].org != org {
		t.Fatalf("group %d kept for org %d, want %d", id, objs.m[id].org, org)
	}
	// A group the store does not know is written with empty names, and
	// not kept.
	p := newPageWriter(context.Background(), a.st, objs, org)
	p.addGroups([]int64{1 << 40}, map[int64]store.Group{})
	if _, ok := objs.get(org, 1<<40); ok {
		t.Fatal("an unknown group was kept")
	}
	if b, _ := p.groups.get(1 << 40); string(b) != `{"source":"","name":""}` {
		t.Fatalf("unknown group written as %s", b)
	}
}
