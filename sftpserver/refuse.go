package sftpserver

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// SSH disconnect reason codes (RFC 4253, 11.1) used when refusing.
const (
	disconnectHostNotAllowed     = 1
	disconnectTooManyConnections = 12
)

// maxRefusing bounds the refused connections being told why at once: each
// holds a goroutine for up to refuseTimeout. Past it, a refused connection
// is just closed.
const (
	maxRefusing   = 64
	refuseTimeout = 2 * time.Second
)

// refuse turns a connection away before any key exchange, telling the
// client why as OpenSSH's client shows it ("Received disconnect from ...:
// 12: too many connections from your address"): the server's version line,
// then an SSH_MSG_DISCONNECT in the clear, which is what the protocol
// allows before keys are agreed. It never blocks the accept loop.
func (s *Server) refuse(nc net.Conn, ip netip.Addr, code uint32, reason string) {
	s.stats.refused.Add(1)
	s.logRefusal(ip, reason)
	select {
	case s.refusing <- struct{}{}:
	default:
		nc.Close()
		return
	}
	go func() {
		defer func() { <-s.refusing }()
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(refuseTimeout))
		w := bufio.NewWriter(nc)
		w.WriteString(serverVersion + "\r\n")
		w.Write(disconnectPacket(code, "muster: "+reason))
		if w.Flush() != nil {
			return
		}
		// Read what the client sends (its version line and key exchange
		// offer) until it hangs up: closing with unread data would reset
		// the connection and could lose the message on the way.
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 64<<10))
	}()
}

// disconnectPacket is an unencrypted SSH binary packet holding
// SSH_MSG_DISCONNECT with code and message.
func disconnectPacket(code uint32, msg string) []byte {
	payload := []byte{1} // SSH_MSG_DISCONNECT
	payload = binary.BigEndian.AppendUint32(payload, code)
	payload = binary.BigEndian.AppendUint32(payload, uint32(len(msg)))
	payload = append(payload, msg...)
	payload = binary.BigEndian.AppendUint32(payload, 0) // language tag
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	pkt := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	pkt = append(pkt, byte(pad))
	pkt = append(pkt, payload...)
	return append(pkt, make([]byte, pad)...)
}

// refusalLog remembers when a refusal of an address for a reason was last
// logged, so a burst is logged once (then once a minute, with a count)
// rather than once per connection.
type refusalLog struct {
	mu   sync.Mutex
	last map[refusalKey]*refusalSeen
}

type refusalKey struct {
	ip     netip.Addr
	reason string
}

type refusalSeen struct {
	at     time.Time
	missed int
}

// refusalLogEvery is how often refusals of one address for one reason are
// logged.
const refusalLogEvery = time.Minute

func (s *Server) logRefusal(ip netip.Addr, reason string) {
	r := &s.refusals
	now := time.Now()
	r.mu.Lock()
	if r.last == nil {
		r.last = make(map[refusalKey]*refusalSeen)
	}
	k := refusalKey{ip, reason}
	seen := r.last[k]
	if seen != nil && now.Sub(seen.at) < refusalLogEvery {
		seen.missed++
		r.mu.Unlock()
		return
	}
	missed := 0
	if seen != nil {
		missed = seen.missed
	}
	r.last[k] = &refusalSeen{at: now}
	if len(r.last) > 10_000 { // a scan from many addresses: start afresh
		clear(r.last)
	}
	r.mu.Unlock()
	attrs := []any{logAddr, ip.String(), logReason, reason}
	if missed > 0 {
		attrs = append(attrs, "refused_since_last_logged", missed)
	}
	s.log.Warn("connection refused", attrs...)
}
