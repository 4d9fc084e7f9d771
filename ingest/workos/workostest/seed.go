package workostest

import (
	"fmt"
	"testing"
)

// SeedSpec describes a directory to fill at once.
type SeedSpec struct {
	Directory DirectorySpec `json:"directory"`
	Users     int           `json:"users"`
	Groups    int           `json:"groups"`
	// Inactive makes the last Inactive users inactive.
	Inactive int `json:"inactive"`
	// Domain of the users' emails; default example.com.
	Domain string `json:"domain"`
	// Events emits the events of a first sync (one per user, group and
	// membership); off by default so a large seed stays fast.
	Events bool `json:"events"`
}

// SeedResult names what Seed created.
type SeedResult struct {
	Directory   Directory `json:"directory"`
	UserIDs     []string  `json:"user_ids"`
	GroupIDs    []string  `json:"group_ids"`
	Memberships int       `json:"memberships"`
}

var departments = []string{"Engineering", "Sales", "Marketing", "Finance", "People", "Legal", "Support",
	"Design", "Product", "Operations", "Research", "Security", "Data", "Facilities", "Procurement",
	"Communications", "Partnerships", "Quality", "Training", "Strategy"}

// GroupName is the name Seed gives group i: a department name, numbered
// past the twentieth.
func GroupName(i int) string {
	n := departments[i%len(departments)]
	if i >= len(departments) {
		n = fmt.Sprintf("%s %d", n, i/len(departments)+1)
	}
	return n
}

// SeedEmail is the email Seed gives user i.
func SeedEmail(i int, domain string) string {
	if domain == "" {
		domain = "example.com"
	}
	return fmt.Sprintf("user%06d@%s", i, domain)
}

// Seed creates a directory with spec.Users users and spec.Groups groups.
// User i is in group i%Groups; every tenth user is also in group
// (i/10)%Groups; every fiftieth (i%50 == 49) is in no group. Users carry
// department_name, job_title, manager_email, employee_type and
// employment_start_date custom attributes.
func (s *Server) Seed(spec SeedSpec) (SeedResult, error) {
	d := s.CreateDirectory(spec.Directory)
	s.mu.Lock()
	defer s.mu.Unlock()
	res := SeedResult{Directory: d}
	for i := range spec.Groups {
		g, err := s.createGroup(d.ID, GroupName(i), spec.Events)
		if err != nil {
			return res, err
		}
		res.GroupIDs = append(res.GroupIDs, g.ID)
	}
	for i := range spec.Users {
		state := "active"
		if i >= spec.Users-spec.Inactive {
			state = "inactive"
		}
		attrs := map[string]any{
			"job_title":             "Specialist",
			"employee_type":         "Full Time",
			"employment_start_date": "2024-03-04T00:00:00.000Z",
			"manager_email":         SeedEmail(0, spec.Domain),
		}
		if spec.Groups > 0 {
			attrs["department_name"] = GroupName(i % spec.Groups)
		}
		u, err := s.createUser(d.ID, UserSpec{Email: SeedEmail(i, spec.Domain), FirstName: fmt.Sprintf("First%d", i),
			LastName: fmt.Sprintf("Last%d", i), State: state, CustomAttributes: attrs}, spec.Events)
		if err != nil {
			return res, err
		}
		res.UserIDs = append(res.UserIDs, u.ID)
		if spec.Groups == 0 || i%50 == 49 {
			continue
		}
		gs := []int{i % spec.Groups}
		if i%10 == 0 && (i/10)%spec.Groups != i%spec.Groups {
			gs = append(gs, (i/10)%spec.Groups)
		}
		for _, gi := range gs {
			if err := s.addMember(res.GroupIDs[gi], u.ID, spec.Events); err != nil {
				return res, err
			}
			res.Memberships++
		}
	}
	return res, nil
}

// MustSeed is Seed for tests.
func (s *Server) MustSeed(tb testing.TB, spec SeedSpec) SeedResult {
	tb.Helper()
	res, err := s.Seed(spec)
	if err != nil {
		tb.Fatalf("seed: %v", err)
	}
	return res
}
