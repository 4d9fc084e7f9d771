package workos_test

import (
	"context"
	"encoding/json"
	"testing"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
)

// BenchmarkPull100k fetches and maps a directory of 100,000 users in 20
// groups from the in-process fake (pacing off: against WorkOS the 300 ms
// per-directory pacing alone makes such a pull last about 6 minutes). It
// reports the requests of one pull.
func BenchmarkPull100k(b *testing.B) {
	srv := workostest.Start(b, workostest.Options{})
	seed := srv.MustSeed(b, workostest.SeedSpec{Users: 100_000, Groups: 20, Inactive: 1000})
	c := mustClient(b, srv, newClock(), nil)
	attrs := schema.AttrSet(0).With(schema.AttrJobTitle).With(schema.AttrDepartmentName)
	var st workos.PullStats
	b.ReportAllocs()
	for b.Loop() {
		s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{Attrs: attrs})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(drain(b, s)); n != 100_000 {
			b.Fatalf("%d records", n)
		}
		st = s.Stats()
	}
	b.ReportMetric(float64(st.Requests), "requests/pull")
	b.ReportMetric(float64(st.MembershipPages), "membership-pages/pull")
}

// BenchmarkMapUsers maps 100,000 already-decoded directory users to records:
// the cost once the pages are fetched.
func BenchmarkMapUsers(b *testing.B) {
	raw := []byte(`{"object":"directory_user","id":"directory_user_01J2AC0ME0VSER00000000000B","directory_id":"directory_01J2AC0ME0DRCT0RY0000000AA",
	"organization_id":"org_01J2AC0ME00RG0000000000000","idp_id":"00u1e8mutl6wlH3lL4x7","email":"Ada.Lovelace@Acme.example","first_name":"Ada",
	"last_name":"Lovelace","state":"active","raw_attributes":{},"custom_attributes":{"department_name":"Engineering","job_title":"Staff Engineer",
	"manager_email":"grace.hopper@acme.example","employment_start_date":"2024-03-04T00:00:00.000Z","employee_number":"E-1001"},
	"groups":[],"created_at":"2026-03-01T09:00:00.000Z","updated_at":"2026-05-10T14:22:31.417Z"}`)
	var u workos.User
	if err := json.Unmarshal(raw, &u); err != nil {
		b.Fatal(err)
	}
	users := make([]workos.User, 100_000)
	for i := range users {
		users[i] = u
	}
	groups := []string{"Engineering", "London"}
	attrs := schema.AttrSet(0).With(schema.AttrJobTitle).With(schema.AttrDepartmentName).With(schema.AttrManagerEmail)
	b.ReportAllocs()
	for b.Loop() {
		for i := range users {
			if r := workos.MapUser(&users[i], groups, attrs); !r.Valid() {
				b.Fatal(r.Problems)
			}
		}
	}
}
