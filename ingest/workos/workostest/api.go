package workostest

import (
	"net/http"
	"strings"
	"time"
)

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /directories", s.listDirectories)
	m.HandleFunc("GET /directories/{id}", s.getDirectory)
	m.HandleFunc("DELETE /directories/{id}", s.deleteDirectory)
	m.HandleFunc("GET /directory_users", s.listUsers)
	m.HandleFunc("GET /directory_users/{id}", s.getUser)
	m.HandleFunc("GET /directory_groups", s.listGroups)
	m.HandleFunc("GET /directory_groups/{id}", s.getGroup)
	m.HandleFunc("GET /events", s.listEvents)
	s.controlRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, messageJSON{Message: "Not Found"})
	})
	s.mux = m
}

func (s *Server) listDirectories(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	org, search, domain := q.Get("organization_id"), strings.ToLower(q.Get("search")), q.Get("domain")
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, id := range s.dirIDs {
		d := s.dirs[id].d
		if (org == "" || d.OrganizationID == org) && (search == "" || strings.Contains(strings.ToLower(d.Name), search)) &&
			(domain == "" || strings.EqualFold(d.Domain, domain)) {
			ids = append(ids, id)
		}
	}
	page, before, after := paginate(ids, p, s.opts.LegacyCursors)
	data := make([]directoryJSON, len(page))
	for i, id := range page {
		data[i] = s.renderDirectory(s.dirs[id].d)
	}
	s.writeList(w, data, before, after)
}

func (s *Server) getDirectory(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, ok := s.dirs[id]
	if !ok {
		entityNotFound(w, "Directory", id)
		return
	}
	writeJSON(w, http.StatusOK, s.renderDirectory(ds.d))
}

func entityNotFound(w http.ResponseWriter, kind, id string) {
	writeJSON(w, http.StatusNotFound, messageJSON{Message: kind + " not found: '" + id + "'.", Code: "entity_not_found", EntityID: id})
}

// deleteDirectory answers as production did in 2021: 202, text/plain,
// "Accepted" (§3.3).
func (s *Server) deleteDirectory(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.DeleteDirectory(id); err != nil {
		entityNotFound(w, "Directory", id)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write([]byte("Accepted"))
}

const (
	needDirectoryOrGroup = `Please provide either "directory" or "group" parameters.`
	needDirectoryOrUser  = `Please provide either "directory" or "user" parameters.`
)

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dir, group, idp, email := q.Get("directory"), q.Get("group"), q.Get("idp_id"), q.Get("email")
	if dir == "" && group == "" {
		validationFailed(w, [2]string{"directory", needDirectoryOrGroup}, [2]string{"group", needDirectoryOrGroup})
		return
	}
	if dir == "" && (idp != "" || email != "") {
		validationFailed(w, [2]string{"directory", `Please provide the "directory" parameter when filtering by "idp_id" or "email".`})
		return
	}
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	limitKey := dir
	if limitKey == "" {
		if g, ok := s.groups[group]; ok {
			limitKey = g.DirectoryID
		} else {
			limitKey = group
		}
	}
	if s.opts.RateLimit && !s.allow(limitKey) {
		s.ratelimited(w)
		return
	}
	var ids []string
	switch {
	case group != "":
		ids = s.members[group]
	case s.dirs[dir] != nil:
		ids = s.dirs[dir].users
	}
	if (dir != "" && group != "") || idp != "" || email != "" {
		var kept []string
		for _, id := range ids {
			u := s.users[id]
			if (dir == "" || u.DirectoryID == dir) && (idp == "" || u.IdpID == idp) && (email == "" || strings.EqualFold(u.Email, email)) {
				kept = append(kept, id)
			}
		}
		ids = kept
	}
	page, before, after := paginate(ids, p, s.opts.LegacyCursors)
	data := make([]userJSON, len(page))
	for i, id := range page {
		data[i] = s.renderUser(s.users[id], true, nil)
	}
	s.writeList(w, data, before, after)
}

// allow implements 4 requests per rolling second per directory. The caller
// holds s.mu.
func (s *Server) allow(key string) bool {
	now := s.now()
	recent := s.limiter[key][:0]
	for _, t := range s.limiter[key] {
		if now.Sub(t) < time.Second {
			recent = append(recent, t)
		}
	}
	if len(recent) >= 4 {
		s.limiter[key] = recent
		return false
	}
	s.limiter[key] = append(recent, now)
	return true
}

// ratelimited writes the /directory_users 429: the body is the word
// Ratelimited, declared as JSON (§3.4).
func (s *Server) ratelimited(w http.ResponseWriter) {
	if s.opts.RetryAfter != "" {
		w.Header().Set("Retry-After", s.opts.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	if s.opts.RatelimitedJSON {
		w.Write([]byte(`"Ratelimited"`))
	} else {
		w.Write([]byte("Ratelimited"))
	}
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[r.PathValue("id")]
	if !ok {
		writeJSON(w, http.StatusNotFound, messageJSON{Message: "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, s.renderUser(u, true, nil))
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dir, user := q.Get("directory"), q.Get("user")
	if dir == "" && user == "" {
		validationFailed(w, [2]string{"directory", needDirectoryOrUser}, [2]string{"user", needDirectoryOrUser})
		return
	}
	p, ok := parseList(w, q)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	switch {
	case user != "":
		for gid := range s.ofUser[user] {
			if dir == "" || s.groups[gid].DirectoryID == dir {
				ids = insertSorted(ids, gid)
			}
		}
	case s.dirs[dir] != nil:
		ids = s.dirs[dir].groups
	}
	page, before, after := paginate(ids, p, s.opts.LegacyCursors)
	data := make([]groupJSON, len(page))
	for i, id := range page {
		data[i] = s.renderGroup(s.groups[id])
	}
	s.writeList(w, data, before, after)
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[r.PathValue("id")]
	if !ok {
		writeJSON(w, http.StatusNotFound, messageJSON{Message: "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, s.renderGroup(g))
}
