package console_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// fill makes a store with something on every page: an applied drop of 300
// people, a held drop (a mass removal), a rejected one, a person added by
// hand, another organisation's drop.
func fill(t *testing.T, r *rig) (held, rejected int64) {
	t.Helper()
	r.ingest("default", "hr", people(0, 300, "Sales")...)
	rep := r.ingest("default", "hr", people(0, 100, "Sales")...)
	if rep.Decision != ingest.Held {
		t.Fatalf("second drop %s, want held", rep.Decision)
	}
	held = rep.DropID
	rep = r.ingest("default", "hr", people(0, 10, "Sales")...)
	if _, err := r.in.Reject(context.Background(), "default", rep.DropID, "truncated", ingest.Options{By: "test"}); err != nil {
		t.Fatal(err)
	}
	r.ingest("other", "hr", people(1000, 5, "Ops")...)
	return held, rep.DropID
}

// TestEveryPageRenders: every page answers 200 with its content, for an
// empty store and a full one, as an admin and as a viewer.
func TestEveryPageRenders(t *testing.T) {
	for _, full := range []bool{false, true} {
		r := MustRig(t)
		held := int64(0)
		if full {
			held, _ = fill(t, r)
		}
		for _, who := range []string{"ada", "vic", "ops"} {
			b := r.signIn(who)
			pages := map[string]string{
				"/": "Audience size", "/drops": "Drops, newest first", "/drops?status=held": "Drops",
				"/recipients": "Recipients in address order", "/recipients?status=all&q=first1": "Recipients",
				"/groups": "Groups", "/upload": "Upload a file", "/sources": "Sources", "/sources/hr": "Source hr",
			}
			if full {
				pages["/drops/1"] = "Changes, field by field"
				pages["/drops/"+itoa(int(held))] = "Held for a decision"
				pages["/recipients/p1@example.com"] = "What each source says"
				pages["/sources/hr?to=1"] = "Rolling back to drop 1"
			}
			for path, want := range pages {
				code, body := b.get(path)
				if code != http.StatusOK || !strings.Contains(body, want) {
					t.Fatalf("full=%v %s %s: %d, want 200 with %q:\n%s", full, who, path, code, want, body)
				}
				if strings.Contains(body, "template:") || strings.Contains(body, "<no value>") {
					t.Fatalf("%s %s: a template error shows:\n%s", who, path, body)
				}
			}
		}
	}
}

// TestSignInAndOut: a bad token is refused; pages need a session; sign
// out ends it, and a copy of the cookie is refused afterwards.
func TestSignInAndOut(t *testing.T) {
	r := MustRig(t)
	b := r.browser()
	if code, _ := b.get("/drops"); code != http.StatusSeeOther {
		t.Fatalf("no session: %d, want a redirect to sign in", code)
	}
	if code, body, _ := b.post("/signin", url.Values{"token": {"mst_wrong"}}); code != http.StatusUnauthorized || !strings.Contains(body, "not accepted") {
		t.Fatalf("bad token: %d", code)
	}
	b = r.signIn("ada")
	u, _ := url.Parse(r.url)
	cookies := b.c.Jar.Cookies(u)
	if code, _ := b.get("/drops"); code != http.StatusOK {
		t.Fatalf("signed in: %d", code)
	}
	if code, _, _ := b.post("/signout", nil); code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", code)
	}
	if code, _ := b.get("/drops"); code != http.StatusSeeOther {
		t.Fatalf("after sign out: %d, want a redirect", code)
	}
	copyB := r.browser()
	copyB.c.Jar.SetCookies(u, cookies)
	if code, _ := copyB.get("/drops"); code != http.StatusSeeOther {
		t.Fatalf("the signed-out cookie replayed: %d, want a redirect", code)
	}
}

// A sign-out is kept in the store: a copy of the cookie, which another
// instance sharing the store and the shared folder accepted (the same key
// signs both), is refused there after the sign-out, and by a console
// started again (nothing of it in memory).
func TestSignOutSharedAndKept(t *testing.T) {
	r := MustRig(t)
	other := r.twin()
	b := r.signIn("ada")
	u, _ := url.Parse(r.url)
	cookie := b.c.Jar.Cookies(u) // a copy, kept
	ou, _ := url.Parse(other.url)
	ob := other.browser()
	ob.c.Jar.SetCookies(ou, cookie)
	if code, _ := ob.get("/drops"); code != http.StatusOK {
		t.Fatalf("the session at the other instance: %d, want 200", code)
	}
	if code, _, _ := b.post("/signout", nil); code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", code)
	}
	if code, _ := ob.get("/drops"); code != http.StatusSeeOther {
		t.Fatalf("the signed-out session at the other instance: %d, want a redirect to sign in", code)
	}
	again := r.twin()
	au, _ := url.Parse(again.url)
	ab := again.browser()
	ab.c.Jar.SetCookies(au, cookie)
	if code, _ := ab.get("/drops"); code != http.StatusSeeOther {
		t.Fatalf("the signed-out session after a restart: %d, want a redirect", code)
	}
	// Another session of the same token goes on.
	if code, _ := again.signIn("ada").get("/drops"); code != http.StatusOK {
		t.Fatalf("a new session: %d", code)
	}
}

// TestRefusals: a viewer can neither see nor post an admin action; a post
// from another origin is refused; another organisation's drop is 404.
func TestRefusals(t *testing.T) {
	r := MustRig(t)
	held, _ := fill(t, r)
	heldPath := "/drops/" + itoa(int(held))
	v := r.signIn("vic")
	_, body := v.get(heldPath)
	if strings.Contains(body, "Approve and apply") || !strings.Contains(body, "an admin decides") {
		t.Fatalf("the viewer sees an Approve button:\n%s", body)
	}
	if code, _, _ := v.post(heldPath+"/approve", nil); code != http.StatusForbidden {
		t.Fatalf("viewer's approve: %d, want 403", code)
	}
	a := r.signIn("ada")
	a.origin = "http://evil.example"
	if code, _, _ := a.post(heldPath+"/approve", nil); code != http.StatusForbidden {
		t.Fatalf("cross-origin approve: %d, want 403", code)
	}
	d, err := r.st.Drop(context.Background(), mustOrg(t, r, "default"), held)
	if err != nil || d.Status != store.DropHeld {
		t.Fatalf("drop after refused posts: %s %v", d.Status, err)
	}
	o := r.signIn("oscar")
	code, body := o.get(heldPath)
	_, none := o.get("/drops/999999")
	if code != http.StatusNotFound || !strings.Contains(body, "no drop") || strings.ReplaceAll(body, itoa(int(held)), "X") != strings.ReplaceAll(none, "999999", "X") {
		t.Fatalf("another organisation's drop: %d, want the same 404 as a drop that does not exist", code)
	}
}

func mustOrg(t *testing.T, r *rig, name string) int64 {
	t.Helper()
	o, err := r.st.LookupOrg(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// TestApproveRejectUpload drives the admin flows over HTTP.
func TestApproveRejectUpload(t *testing.T) {
	r := MustRig(t)
	held, _ := fill(t, r)
	a := r.signIn("ada")
	if code, _, loc := a.post("/drops/"+itoa(int(held))+"/approve", nil); code != http.StatusSeeOther || !strings.Contains(loc, "done=approved") {
		t.Fatalf("approve: %d %s", code, loc)
	}
	d, _ := r.st.Drop(context.Background(), mustOrg(t, r, "default"), held)
	if d.Status != store.DropApplied || d.DecidedBy != "console:ada" {
		t.Fatalf("approved drop: %s by %s", d.Status, d.DecidedBy)
	}
	// Upload a file with a bad row, preview, apply.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("source", "hr")
	fw, _ := mw.CreateFormFile("file", "people.csv")
	csv := "email,first_name,last_name,groups\np1@example.com,Uno,Last,Sales\nnot-an-address,Bad,Row,Sales\nnew@example.com,New,Person,Sales\n"
	for i := 0; i < 300; i++ {
		if i == 1 {
			continue
		}
		csv += "p" + itoa(i) + "@example.com,First" + itoa(i) + ",Last,Sales\n"
	}
	fw.Write([]byte(csv))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, r.url+"/upload", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := a.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/upload/") {
		t.Fatalf("upload: %d %s", res.StatusCode, loc)
	}
	_, body := a.get(loc)
	for _, want := range []string{`<td class="n">3</td><td>email</td><td>error</td>`, "would be <strong>applied", "new@example.com",
		`<td class="old"></td><td class="new">New</td>`} {
		if !strings.Contains(strings.ToLower(body), strings.ToLower(want)) {
			t.Fatalf("preview lacks %q:\n%s", want, body)
		}
	}
	code, _, loc := a.post(loc+"/apply", nil)
	if code != http.StatusSeeOther || !strings.Contains(loc, "done=applied") {
		t.Fatalf("apply: %d %s", code, loc)
	}
	_, body = a.get(loc)
	if !strings.Contains(body, "status-applied") || !strings.Contains(body, "console:ada") {
		t.Fatalf("the upload's drop:\n%s", body)
	}
	// Add a person by hand, then remove them.
	code, _, loc = a.post("/people", url.Values{"email": {"Grace@Example.com"}, "first": {"Grace"}, "last": {"Hopper"}, "groups": {"Board; Sales"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "done=added") {
		t.Fatalf("add: %d %s", code, loc)
	}
	rec, err := r.st.Recipient(context.Background(), mustOrg(t, r, "default"), "grace@example.com")
	if err != nil || rec.Status != store.StatusActive || rec.FirstName != "Grace" || len(rec.GroupIDs) != 2 {
		t.Fatalf("added person: %+v %v", rec, err)
	}
	_, body = a.get("/recipients/grace@example.com")
	if !strings.Contains(body, "Remove from manual") {
		t.Fatalf("no removal on the recipient page")
	}
	if code, _, _ := a.post("/people/remove", url.Values{"email": {"grace@example.com"}, "source": {"manual"}}); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	rec, _ = r.st.Recipient(context.Background(), mustOrg(t, r, "default"), "grace@example.com")
	if rec.Status == store.StatusActive {
		t.Fatalf("removed person still active")
	}
	_ = schema.Record{}
}
