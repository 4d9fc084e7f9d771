package scimsource

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"muster/ingest"
	"muster/store"
)

// TestRandomConcurrentHistories has 8 clients send random writes (creates,
// path-less and by-path deactivations and reactivations, renames of the
// address, memberships in every shape, group renames and deletions, user
// deletions) at once, in rounds, and checks after each round that the
// audience is exactly what the SCIM resources say: every user active and in
// its groups, or offboarded; and that deriving the audience again from the
// sources' snapshots (the nightly rebuild) changes nothing.
func TestRandomConcurrentHistories(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomHistory(t, seed) })
	}
}

func randomHistory(t *testing.T, seed uint64) {
	r := MustRig(t)
	const users, groups = 24, 4
	uid := make([]string, users)
	for i := range users {
		_, _, m := r.do("POST", "/Users", fmt.Sprintf(`{"userName":"u%d@example.org","emails":[{"value":"u%d@example.org","primary":true}]}`, i, i))
		uid[i] = m["id"].(string)
	}
	gid := make([]string, groups)
	for i := range groups {
		_, _, m := r.do("POST", "/Groups", fmt.Sprintf(`{"displayName":"G%d"}`, i))
		gid[i] = m["id"].(string)
	}
	deleted := make([]bool, users)
	var mu sync.Mutex
	for round := range 4 {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, uint64(round*100+w)))
				for range 25 {
					u, g := rng.IntN(users), rng.IntN(groups)
					mu.Lock()
					gone := deleted[u]
					if !gone && rng.IntN(40) == 0 {
						deleted[u] = true
					}
					del := deleted[u] && !gone
					mu.Unlock()
					var method, path, body string
					k := rng.IntN(9)
					k7 := k == 7 // names a second user
					switch {
					case del:
						method, path = "DELETE", "/Users/"+uid[u]
					case gone:
						continue
					case k == 0:
						method, path, body = "PATCH", "/Users/"+uid[u], fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"active":%v}}]}`, rng.IntN(2) == 0)
					case k == 1:
						method, path, body = "PATCH", "/Users/"+uid[u], fmt.Sprintf(`{"Operations":[{"op":"Replace","path":"active","value":"%v"}]}`, []string{"True", "False"}[rng.IntN(2)])
					case k == 2:
						method, path, body = "PATCH", "/Users/"+uid[u], fmt.Sprintf(`{"Operations":[{"op":"replace","path":"emails[type eq \"work\"].value","value":"u%d.%d@example.org"}]}`, u, rng.IntN(3))
					case k == 3:
						method, path, body = "PATCH", "/Groups/"+gid[g], fmt.Sprintf(`{"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid[u])
					case k == 4:
						method, path, body = "PATCH", "/Groups/"+gid[g], fmt.Sprintf(`{"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, uid[u])
					case k == 5:
						method, path, body = "PATCH", "/Groups/"+gid[g], fmt.Sprintf(`{"Operations":[{"op":"Remove","path":"members","value":[{"value":%q}]}]}`, uid[u])
					case k == 6:
						method, path, body = "PATCH", "/Groups/"+gid[g], fmt.Sprintf(`{"Operations":[{"op":"replace","value":{"id":%q,"displayName":"G%d-%d"}}]}`, gid[g], g, rng.IntN(2))
					case k == 7:
						method, path, body = "PATCH", "/Groups/"+gid[g], fmt.Sprintf(`{"Operations":[{"op":"replace","path":"members","value":[{"value":%q},{"value":%q}]}]}`, uid[u], uid[(u+1)%users])
					default:
						method, path = "GET", "/Users/"+uid[u]
					}
					status, _, m := r.do(method, path, body)
					mu.Lock()
					gone = deleted[u] || (k7 && deleted[(u+1)%users])
					mu.Unlock()
					// A user another client deleted meanwhile is 404, or
					// refused as a member (400): anything else must succeed.
					if status >= 300 && !(gone && (status == 404 || status == 400)) {
						t.Errorf("%s %s %s: %d %v", method, path, body, status, m)
					}
				}
			}()
		}
		wg.Wait()
		r.checkAudienceMatchesResources(deleted, uid)
	}
}

// checkAudienceMatchesResources compares every SCIM user with its
// recipient, then rebuilds the organisation and checks nothing differed.
func (r *rig) checkAudienceMatchesResources(deleted []bool, uid []string) {
	r.t.Helper()
	for i, id := range uid {
		status, _, m := r.do("GET", "/Users/"+id, "")
		if deleted[i] {
			if status != 404 {
				r.t.Fatalf("deleted user %s: %d", id, status)
			}
			continue
		}
		email := m["emails"].([]any)[0].(map[string]any)["value"].(string)
		var groups []string
		gs, _ := m["groups"].([]any)
		for _, g := range gs {
			groups = append(groups, g.(map[string]any)["display"].(string))
		}
		slices.Sort(groups)
		rec, ok := r.recipient(email)
		if !ok {
			r.t.Fatalf("%s: no recipient", email)
		}
		want := store.StatusActive
		if m["active"] == false {
			want, groups = store.StatusOffboarded, nil
		}
		if rec.Status != want || !slices.Equal(r.groupsOf(rec), groups) && len(groups)+len(r.groupsOf(rec)) > 0 {
			r.t.Fatalf("%s: recipient %s in %v, SCIM says active=%v in %v", email, rec.Status, r.groupsOf(rec), m["active"], groups)
		}
	}
	rep, err := r.in.Rebuild(context.Background(), r.org, ingest.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	if rep.Differed != 0 {
		r.t.Fatalf("the rebuild repaired %d recipients: %+v", rep.Differed, rep)
	}
}
