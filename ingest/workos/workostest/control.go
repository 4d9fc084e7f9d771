package workostest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// controlRoutes adds the control API: not part of WorkOS, for tests that run
// the fake as a process (cmd/workos-fake). It needs the same bearer key.
//
//	POST   /_fake/seed                         SeedSpec -> SeedResult
//	POST   /_fake/directories                  DirectorySpec -> Directory
//	PUT    /_fake/directories/{id}/state       {"state"}
//	POST   /_fake/directories/{id}/users       UserSpec -> User
//	POST   /_fake/directories/{id}/groups      {"name"} -> Group
//	PATCH  /_fake/users/{id}                   UserPatch -> User
//	POST   /_fake/users/{id}/deactivate
//	DELETE /_fake/users/{id}
//	PATCH  /_fake/groups/{id}                  {"name"}
//	DELETE /_fake/groups/{id}
//	PUT    /_fake/groups/{id}/members/{user}
//	DELETE /_fake/groups/{id}/members/{user}
//	GET    /_fake/counts                       {"GET /directory_users?group": n, ...}
//	DELETE /_fake/counts
//	POST   /_fake/faults                       Fault (latency in nanoseconds)
//	DELETE /_fake/faults
//	POST   /_fake/webhooks                     {"url","secret"}: subscribe
//	POST   /_fake/webhooks/deliver             {"url","secret","event_id","forge"} -> {"status"}
func (s *Server) controlRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /_fake/seed", func(w http.ResponseWriter, r *http.Request) {
		var spec SeedSpec
		if decodeBody(w, r, &spec) {
			res, err := s.Seed(spec)
			reply(w, res, err)
		}
	})
	m.HandleFunc("POST /_fake/directories", func(w http.ResponseWriter, r *http.Request) {
		var spec DirectorySpec
		if decodeBody(w, r, &spec) {
			reply(w, s.CreateDirectory(spec), nil)
		}
	})
	m.HandleFunc("PUT /_fake/directories/{id}/state", func(w http.ResponseWriter, r *http.Request) {
		var v struct{ State string }
		if decodeBody(w, r, &v) {
			reply(w, nil, s.SetDirectoryState(r.PathValue("id"), v.State))
		}
	})
	m.HandleFunc("POST /_fake/directories/{id}/users", func(w http.ResponseWriter, r *http.Request) {
		var spec UserSpec
		if decodeBody(w, r, &spec) {
			u, err := s.CreateUser(r.PathValue("id"), spec)
			reply(w, u, err)
		}
	})
	m.HandleFunc("POST /_fake/directories/{id}/groups", func(w http.ResponseWriter, r *http.Request) {
		var v struct{ Name string }
		if decodeBody(w, r, &v) {
			g, err := s.CreateGroup(r.PathValue("id"), v.Name)
			reply(w, g, err)
		}
	})
	m.HandleFunc("PATCH /_fake/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		var p UserPatch
		if decodeBody(w, r, &p) {
			u, err := s.UpdateUser(r.PathValue("id"), p.apply)
			reply(w, u, err)
		}
	})
	m.HandleFunc("POST /_fake/users/{id}/deactivate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, s.DeactivateUser(r.PathValue("id")))
	})
	m.HandleFunc("DELETE /_fake/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, s.DeleteUser(r.PathValue("id")))
	})
	m.HandleFunc("PATCH /_fake/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		var v struct{ Name string }
		if decodeBody(w, r, &v) {
			reply(w, nil, s.RenameGroup(r.PathValue("id"), v.Name))
		}
	})
	m.HandleFunc("DELETE /_fake/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, s.DeleteGroup(r.PathValue("id")))
	})
	m.HandleFunc("PUT /_fake/groups/{id}/members/{user}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, s.AddMember(r.PathValue("id"), r.PathValue("user")))
	})
	m.HandleFunc("DELETE /_fake/groups/{id}/members/{user}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, nil, s.RemoveMember(r.PathValue("id"), r.PathValue("user")))
	})
	m.HandleFunc("GET /_fake/counts", func(w http.ResponseWriter, r *http.Request) { reply(w, s.Counts(), nil) })
	m.HandleFunc("DELETE /_fake/counts", func(w http.ResponseWriter, r *http.Request) { s.ResetCounts(); reply(w, nil, nil) })
	m.HandleFunc("POST /_fake/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if decodeBody(w, r, &f) {
			s.AddFault(f)
			reply(w, nil, nil)
		}
	})
	m.HandleFunc("DELETE /_fake/faults", func(w http.ResponseWriter, r *http.Request) { s.ClearFaults(); reply(w, nil, nil) })
	m.HandleFunc("POST /_fake/webhooks", func(w http.ResponseWriter, r *http.Request) {
		var v struct{ URL, Secret string }
		if decodeBody(w, r, &v) {
			s.Subscribe(v.URL, v.Secret)
			reply(w, nil, nil)
		}
	})
	m.HandleFunc("POST /_fake/webhooks/deliver", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			URL     string  `json:"url"`
			Secret  string  `json:"secret"`
			EventID string  `json:"event_id"`
			Forge   Forgery `json:"forge"`
		}
		if decodeBody(w, r, &v) {
			status, err := s.Deliver(r.Context(), Delivery{URL: v.URL, Secret: v.Secret, EventID: v.EventID, Forge: v.Forge, At: time.Now()})
			reply(w, map[string]int{"status": status}, err)
		}
	})
}

// UserPatch changes some fields of a user through the control API. In
// CustomAttributes a null value removes the attribute.
type UserPatch struct {
	Email            *string        `json:"email"`
	FirstName        *string        `json:"first_name"`
	LastName         *string        `json:"last_name"`
	Name             *string        `json:"name"`
	State            *string        `json:"state"`
	CustomAttributes map[string]any `json:"custom_attributes"`
}

func (p UserPatch) apply(u *User) {
	for _, f := range []struct {
		v   *string
		dst *string
	}{{p.Email, &u.Email}, {p.FirstName, &u.FirstName}, {p.LastName, &u.LastName}, {p.Name, &u.Name}, {p.State, &u.State}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	for k, v := range p.CustomAttributes {
		if v == nil {
			delete(u.CustomAttributes, k)
		} else {
			u.CustomAttributes[k] = v
		}
	}
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(b) > 0 {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "bad control request: " + err.Error()})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	var nf ErrNotFound
	switch {
	case errors.As(err, &nf):
		writeJSON(w, http.StatusNotFound, map[string]string{"message": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
	case v == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}
