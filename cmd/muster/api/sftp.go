package api

import (
	"net/http"

	"muster/schema"
	"muster/sftpserver"
)

// SFTPBans is the SFTP server's bans, as the API lists and lifts them.
type SFTPBans interface {
	Bans() []sftpserver.Ban
	LiftBans(address, account string) ([]sftpserver.Ban, error)
}

// visibleBans are the bans a token may see: every one for an operator
// token; those of its organisation's accounts otherwise (a ban of a whole
// address concerns every organisation: the operator's).
func visibleBans(t *Token, bans []sftpserver.Ban) []sftpserver.Ban {
	out := []sftpserver.Ban{}
	for _, b := range bans {
		if t.Org == AllOrgs || b.Account != "" && b.Org == t.Org {
			out = append(out, b)
		}
	}
	return out
}

func (s *Server) sftpBans() (SFTPBans, error) {
	if s.cfg.SFTP == nil {
		return nil, schema.Errorf(schema.ENotFound, "no SFTP server runs")
	}
	return s.cfg.SFTP, nil
}

// listBans: GET /v1/sftp/bans.
func (s *Server) listBans(w http.ResponseWriter, r *request) error {
	sb, err := s.sftpBans()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"bans": visibleBans(r.token, sb.Bans())})
	return nil
}

// liftBans: DELETE /v1/sftp/bans/{address}[?account=NAME] lifts the bans
// of an address the token may see (of one account when named; an empty
// account= names the ban of the whole address).
func (s *Server) liftBans(w http.ResponseWriter, r *request) error {
	sb, err := s.sftpBans()
	if err != nil {
		return err
	}
	address := r.PathValue("address")
	q := r.URL.Query()
	var lifted []sftpserver.Ban
	for _, b := range visibleBans(r.token, sb.Bans()) {
		if b.Address != address || q.Has("account") && b.Account != q.Get("account") {
			continue
		}
		done, err := sb.LiftBans(b.Address, b.Account)
		if err != nil {
			return err
		}
		lifted = append(lifted, done...)
	}
	if len(lifted) == 0 {
		return schema.Errorf(schema.ENotFound, "no ban of %s to lift", address)
	}
	s.log.Info("sftp bans lifted", "address", address, "count", len(lifted), "by", r.token.By())
	writeJSON(w, http.StatusOK, map[string]any{"lifted": lifted})
	return nil
}
