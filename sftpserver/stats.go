package sftpserver

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// Upload is a file committed into an account's inbox, as announced to
// Config.OnUpload.
type Upload struct {
	Org     string // the account's organisation
	Account string // the account's name
	Source  string // the source the account feeds
	// Name is the file's name in the inbox, as the client sees it at "/".
	Name string
	// Path is the file's host path in the inbox. A later upload of the same
	// name replaces the file there, so a consumer should compare SHA256 or
	// link the file away before using it.
	Path   string
	Size   int64
	SHA256 string // hex, of exactly the committed bytes
	// Started is when the client opened the file (for a rename from a
	// temporary name, when the temporary file was opened, if this server
	// saw it); Duration runs from Started to the commit.
	Started    time.Time
	Duration   time.Duration
	RemoteAddr string
	// Superseded is set for an upload its client replaced (another upload
	// of the same name, or a rename onto it), removed, or renamed to a
	// temporary name before it was handed over: announced for the record,
	// with Reason saying which; Path is empty (the file is gone) and the
	// pipeline must not read it.
	Superseded bool
	Reason     string

	log *slog.Logger // the session's, for Taken
}

// Stats are the server's counters since Open, for metrics. All are totals
// except ActiveConnections.
type Stats struct {
	Connections       int64 // TCP connections accepted
	ActiveConnections int64 // connections open now
	Refused           int64 // connections turned away (ban, limits)
	AuthSuccesses     int64
	AuthFailures      int64 // failed password or public key attempts
	Bans              int64 // addresses banned
	BytesReceived     int64 // file bytes written by clients
	Uploads           int64 // uploads committed and handed over
	SupersededUploads int64 // uploads committed, then replaced or removed by their client before they were handed over
	TempUploads       int64 // uploads committed under a temporary name (not announced)
	AbortedUploads    int64 // uploads interrupted and discarded
	RefusedUploads    int64 // uploads refused (size limit, bad name, permission)
}

type counters struct {
	connections, active, refused               atomic.Int64
	authOK, authFail, bans                     atomic.Int64
	bytes, uploads, tempUploads, aborted, nope atomic.Int64
	superseded                                 atomic.Int64
}

// Stats returns a snapshot of the counters, for a metrics exporter to read
// (this package depends on no metrics library).
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Connections:       c.connections.Load(),
		ActiveConnections: c.active.Load(),
		Refused:           c.refused.Load(),
		AuthSuccesses:     c.authOK.Load(),
		AuthFailures:      c.authFail.Load(),
		Bans:              c.bans.Load(),
		BytesReceived:     c.bytes.Load(),
		Uploads:           c.uploads.Load(),
		SupersededUploads: c.superseded.Load(),
		TempUploads:       c.tempUploads.Load(),
		AbortedUploads:    c.aborted.Load(),
		RefusedUploads:    c.nope.Load(),
	}
}
