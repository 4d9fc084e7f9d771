package sftpserver

// Listening reports whether the server is open and accepting connections:
// Open has bound its port and Close has not been called. Readiness probes
// ask it rather than dialling the port, which would count as a client.
func (s *Server) Listening() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln != nil && !s.closed
}
