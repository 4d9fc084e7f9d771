package workos_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
)

func ceilDiv(n, d int) int { return (n + d - 1) / d }

// TestFullPullRequestBudget checks the request count of a full pull of 1,000
// users and 20 groups against the formula: 1 (the directory) + ceil(groups/100)
// + Σ max(1, ceil(members_g/100)) + ceil(users/100), and no per-user request.
func TestFullPullRequestBudget(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 1000, Groups: 20, Inactive: 10})
	c := mustClient(t, srv, newClock(), nil)
	s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs := drain(t, s)
	if len(recs) != 1000 {
		t.Fatalf("%d records, want 1000", len(recs))
	}
	membershipPages := 0
	for _, g := range seed.GroupIDs {
		membershipPages += max(1, ceilDiv(len(srv.Members(g)), 100))
	}
	want := map[string]int{
		workostest.CountDirectory:    1,
		workostest.CountGroups:       1,
		workostest.CountGroupMembers: membershipPages,
		workostest.CountUsers:        10,
	}
	got := srv.Counts()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d requests, want %d", k, got[k], n)
		}
	}
	total := 1 + 1 + membershipPages + 10
	if srv.TotalRequests() != total || s.Stats().Requests != int64(total) {
		t.Errorf("total requests = %d (pull says %d), want %d; counts %v", srv.TotalRequests(), s.Stats().Requests, total, got)
	}
	t.Logf("full pull of 1,000 users / 20 groups: %d requests (%d membership pages)", total, membershipPages)
	st := s.Stats()
	if st.Users != 1000 || st.Records != 1000 || st.Inactive != 10 || st.Invalid != 0 || st.Groups != 20 || st.MembershipPages != membershipPages {
		t.Errorf("stats = %+v", st)
	}
	// Every record carries exactly its fake memberships, by group name.
	names := map[string]string{}
	for _, g := range srv.Groups(seed.Directory.ID) {
		names[g.ID] = g.Name
	}
	bySource := map[string]schema.Record{}
	for _, r := range recs {
		bySource[r.SourceID] = r
	}
	for i, id := range seed.UserIDs {
		r, ok := bySource[id]
		if !ok {
			t.Fatalf("user %s missing", id)
		}
		var want []string
		for _, g := range srv.GroupsOf(id) {
			want = append(want, names[g])
		}
		slices.Sort(want)
		if !slices.Equal(r.Groups, want) && !(len(want) == 0 && len(r.Groups) == 0) {
			t.Fatalf("user %d groups = %v, want %v", i, r.Groups, want)
		}
		if r.Email != workostest.SeedEmail(i, "") || r.Key != r.Email || r.FirstName == "" {
			t.Fatalf("user %d = %+v", i, r)
		}
		if inactive := i >= 990; inactive != (r.Status == schema.StatusInactive) {
			t.Fatalf("user %d status %v", i, r.Status)
		}
	}
}

func TestPullMapsUsers(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	d := srv.CreateDirectory(workostest.DirectorySpec{Name: "Acme"})
	eng, _ := srv.CreateGroup(d.ID, "Engineering")
	ops, _ := srv.CreateGroup(d.ID, " Operations ")
	mk := func(spec workostest.UserSpec, groups ...workostest.Group) workostest.User {
		u, err := srv.CreateUser(d.ID, spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if err := srv.AddMember(g.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		return u
	}
	ada := mk(workostest.UserSpec{Email: " Ada.Lovelace@ACME.example ", FirstName: "Ada", LastName: "Lovelace",
		CustomAttributes: map[string]any{"job_title": "Staff Engineer", "department_name": "Engineering",
			"manager_email": "grace@acme.example", "cost_center": 4711, "division_name": nil,
			"addresses": []any{map[string]any{"primary": true, "locality": "London", "country": "GB"}}}}, eng, ops)
	charles := mk(workostest.UserSpec{Email: "charles@acme.example", Name: "Charles Babbage", State: "inactive"}, eng)
	fallback := mk(workostest.UserSpec{FirstName: "Fall", CustomAttributes: map[string]any{
		"emails": []any{map[string]any{"value": "other@acme.example"}, map[string]any{"primary": true, "value": "fall@acme.example"}}}})
	noEmail := mk(workostest.UserSpec{FirstName: "Nobody"})
	bad := mk(workostest.UserSpec{Email: "not-an-email"})

	c := mustClient(t, srv, newClock(), nil)
	attrs := schema.AttrSet(0).With(schema.AttrJobTitle).With(schema.AttrCity).With(schema.AttrCostCenterName)
	s, err := c.Pull(context.Background(), d.ID, workos.PullOptions{Attrs: attrs})
	if err != nil {
		t.Fatal(err)
	}
	if s.Directory.OrganizationID != d.OrganizationID || len(s.Groups) != 2 {
		t.Errorf("directory %+v, %d groups", s.Directory, len(s.Groups))
	}
	got := map[string]schema.Record{}
	for _, r := range drain(t, s) {
		got[r.SourceID] = r
	}
	r := got[ada.ID]
	if r.Email != "Ada.Lovelace@ACME.example" || r.Key != "ada.lovelace@acme.example" || r.FirstName != "Ada" ||
		r.LastName != "Lovelace" || !slices.Equal(r.Groups, []string{"Engineering", "Operations"}) || !r.Valid() {
		t.Errorf("ada = %+v", r)
	}
	var wantAttrs schema.Attrs
	wantAttrs[schema.AttrJobTitle], wantAttrs[schema.AttrCity], wantAttrs[schema.AttrCostCenterName] = "Staff Engineer", "London", "4711"
	if r.Attrs != wantAttrs {
		t.Errorf("ada attrs = %q, want only the allowed ones %q", r.Attrs, wantAttrs)
	}
	if r := got[charles.ID]; r.Status != schema.StatusInactive || r.FirstName != "Charles" || r.LastName != "Babbage" || !slices.Equal(r.Groups, []string{"Engineering"}) {
		t.Errorf("charles = %+v", r)
	}
	if r := got[fallback.ID]; r.Email != "fall@acme.example" || r.Groups == nil || len(r.Groups) != 0 {
		t.Errorf("fallback = %+v (want the primary of custom_attributes.emails, no groups)", r)
	}
	if r := got[noEmail.ID]; r.Valid() || r.Problems[0].Code != schema.CodeMissingEmail {
		t.Errorf("no email = %+v", r)
	}
	if r := got[bad.ID]; r.Valid() || r.Problems[0].Code != schema.CodeInvalidEmail || r.Email != "not-an-email" {
		t.Errorf("bad email = %+v", r)
	}
	if st := s.Stats(); st.Invalid != 2 || st.Inactive != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// TestPullSerializationVariants reads the same directory through every
// serialization switch of the fake and expects the same records.
func TestPullSerializationVariants(t *testing.T) {
	var base []schema.Record
	for _, opts := range []workostest.Options{
		{},
		{OmitOptional: true},
		{DeprecatedFields: true, UserGroups: workostest.GroupsFull},
		{UserGroups: workostest.GroupsSlim, TimeStyle: workostest.TimeOffset},
		{TimeStyle: workostest.TimeSpace, ListMetadata: workostest.MetadataLegacy},
	} {
		clk := newClock()
		opts.Seed, opts.Now = 7, clk.Now // the same ids in every variant
		srv := workostest.Start(t, opts)
		seed := srv.MustSeed(t, workostest.SeedSpec{Users: 120, Groups: 4, Inactive: 3})
		c := mustClient(t, srv, clk, nil)
		s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{Attrs: schema.AttrSet(0).With(schema.AttrJobTitle)})
		if err != nil {
			t.Fatal(err)
		}
		recs := drain(t, s)
		if base == nil {
			base = recs
			continue
		}
		if len(recs) != len(base) {
			t.Fatalf("%+v: %d records, want %d", opts, len(recs), len(base))
		}
		for i := range recs {
			if recs[i].SourceID != base[i].SourceID || recs[i].Email != base[i].Email || !slices.Equal(recs[i].Groups, base[i].Groups) ||
				recs[i].Status != base[i].Status || recs[i].Attrs != base[i].Attrs || recs[i].FirstName != base[i].FirstName {
				t.Fatalf("%+v: record %d = %+v, want %+v", opts, i, recs[i], base[i])
			}
		}
	}
}

func TestPullLimitedToGroups(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 300, Groups: 5})
	c := mustClient(t, srv, newClock(), nil)
	// Sales by id, Marketing by name in another case.
	s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{Groups: []string{seed.GroupIDs[1], "marketing"}})
	if err != nil {
		t.Fatal(err)
	}
	recs := drain(t, s)
	want := map[string]bool{}
	for _, g := range seed.GroupIDs[1:3] {
		for _, u := range srv.Members(g) {
			want[u] = true
		}
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want the %d members of Sales and Marketing", len(recs), len(want))
	}
	for _, r := range recs {
		if !want[r.SourceID] || len(r.Groups) == 0 {
			t.Fatalf("record %+v is not a member", r)
		}
		for _, g := range r.Groups {
			if g != "Sales" && g != "Marketing" {
				t.Fatalf("record %s carries unselected group %q", r.SourceID, g)
			}
		}
	}
	_, err = c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{Groups: []string{"Sales", "Nope"}})
	if schema.ErrorCodeOf(err) != schema.EInvalid {
		t.Fatalf("unknown group: err = %v, want invalid", err)
	}
}

// TestIncompletePullYieldsNoSnapshot: a failure mid-pagination ends the
// stream with the error, never io.EOF, so nothing partial can be applied.
func TestIncompletePullYieldsNoSnapshot(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 350, Groups: 2})
	srv.AddFault(workostest.Fault{Path: "/directory_users", Query: "directory=", Skip: 2, Status: 500})
	c := mustClient(t, srv, newClock(), nil)
	s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err = s.Next()
		if err != nil {
			break
		}
		n++
	}
	if err == io.EOF || schema.ErrorCodeOf(err) != schema.EUnavailable {
		t.Fatalf("after %d records: err = %v, want the 500", n, err)
	}
	if _, again := s.Next(); !errors.Is(again, err) {
		t.Errorf("Next after the failure = %v, want the same error", again)
	}
	// A failure while reading memberships fails Pull itself.
	srv.ClearFaults()
	srv.AddFault(workostest.Fault{Path: "/directory_users", Query: "group=", Status: 503})
	if _, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{}); schema.ErrorCodeOf(err) != schema.EUnavailable {
		t.Errorf("pull with failing memberships: err = %v", err)
	}
}

func TestPullDeletingDirectory(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	d := srv.CreateDirectory(workostest.DirectorySpec{})
	if err := srv.SetDirectoryState(d.ID, "deleting"); err != nil {
		t.Fatal(err)
	}
	c := mustClient(t, srv, newClock(), nil)
	if _, err := c.Pull(context.Background(), d.ID, workos.PullOptions{}); schema.ErrorCodeOf(err) != schema.EConflict {
		t.Fatalf("err = %v, want conflict", err)
	}
	if _, err := c.Pull(context.Background(), "directory_unknown", workos.PullOptions{}); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("err = %v, want not found", err)
	}
}
